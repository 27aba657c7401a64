"""The shipped default embedding bundles: present, small, loadable, and still transferring keypoints.

The acceptance figures live in BENCHMARKS.md (``semcorr bench embed3d`` on 12 held-out instances);
this is a quick guard that a shipped file was not replaced by a broken or foreign one.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semcorr_core.bench.embed3d import TEST_SEED_OFFSET, keypoint_place_symmetry
from semcorr_core.data.categories import get_category
from semcorr_core.data.point_clouds import complete_cloud, prepare_shape
from semcorr_core.data.shapes import generate_shapes
from semcorr_core.errors import ModelFileError, UnknownCategoryError
from semcorr_core.keypoints import nearest_embedding_transfer
from semcorr_core.metrics import canonical_point_distance
from semcorr_core.models.bundle import default_bundle_path, load_bundle
from semcorr_core.training.embed3d import embed_points

CATEGORIES = ("mug", "bottle", "bowl", "can", "chair")


@pytest.mark.parametrize("category", CATEGORIES)
def test_shipped_bundle_transfers_keypoints_on_unseen_instances(category):
    path = default_bundle_path(category)
    assert path.stat().st_size <= 10 * 2**20
    bundle = load_bundle(path, category=category)
    assert bundle.metadata["input_frame"] == "gravity" and len(bundle.metadata["config_hash"]) == 12
    model = bundle.build_model("cpu")
    sym = get_category(category).symmetry
    hits = total = 0
    # instances the bench does not use either (seed offset + 7), random heading about z
    for i, shape in enumerate(generate_shapes(category, 6, TEST_SEED_OFFSET + 7)):
        s = complete_cloud(prepare_shape(shape), 1024, np.random.default_rng([7, i]), rotation="z")
        e = torch.as_tensor(embed_points(model, s.points))
        pred = nearest_embedding_transfer(bundle.prototype.keypoint_embeddings, torch.as_tensor(s.points)[None],
                                          e[None]).index[0].numpy()
        diag = np.linalg.norm(s.canonical.max(0) - s.canonical.min(0))
        for k in np.flatnonzero(s.keypoint_index >= 0):
            total += 1
            place = keypoint_place_symmetry(s.keypoints[k], s.anchors[k], sym)  # as the bench compares
            hits += canonical_point_distance(s.canonical[pred[k]], s.anchors[k], place) <= 0.05 * diag
    assert hits / total >= 0.75, f"{category}: {hits}/{total} keypoints transferred"


def test_missing_or_unknown_default_is_a_clear_error(monkeypatch, tmp_path):
    import semcorr_core.models.bundle as bundle_module

    with pytest.raises(UnknownCategoryError):
        default_bundle_path("teapot")
    monkeypatch.setattr(bundle_module, "DEFAULT_BUNDLE_DIR", tmp_path)
    with pytest.raises(ModelFileError, match="make models"):
        default_bundle_path("mug")


@pytest.mark.parametrize("category", CATEGORIES)
def test_shipped_2d_model_pairs_with_the_shipped_bundle(category):
    """A 2D model made for another prototype would make the detector fall back to 3D silently."""
    from semcorr_core.models.dense2d_bundle import default_dense2d_path, load_dense2d_bundle, prototype_fingerprint
    from semcorr_core.pipeline import Detector

    path = default_dense2d_path(category)
    assert path.stat().st_size <= 5 * 2**20
    d2 = load_dense2d_bundle(path, category=category)
    assert d2.prototype_fingerprint == prototype_fingerprint(load_bundle(default_bundle_path(category)).prototype)
    assert d2.metadata["validation"]["pixels"] > 0
    assert Detector.for_category(category).descriptors == "fused"
