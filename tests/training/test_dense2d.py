"""`semcorr train dense2d` end to end on tiny data; the detector with its file (2D only and fused)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from semcorr_core.data.render import DepthNoiseConfig, RaycastRenderer, SceneConfig, sample_scene
from semcorr_core.data.rgbd import make_rgbd
from semcorr_core.data.shapes import generate_shapes
from semcorr_core.errors import InputError, ModelFileError
from semcorr_core.models.bundle import default_bundle_path, load_bundle
from semcorr_core.models.dense2d_bundle import load_dense2d_bundle
from semcorr_core.pipeline import Detector, DetectorConfig
from semcorr_core.training.dense2d import RenderedCropPairs, dense_descriptors, prototype_positions

REPO = Path(__file__).resolve().parents[2]
SEMCORR = shutil.which("semcorr") or str(Path(sys.executable).with_name("semcorr"))
TINY = ["data.frames=12", "data.crop_size=16", "data.n_instances=3", "data.val_frames=3", "data.val_instances=2",
        "loss.classes=32", "model.width=8", "model.out_dim=8", "train.epochs=3", "train.batch_size=4",
        "train.progress=false", "train.checkpoint_every=0", "train.warmup_steps=0"]


@pytest.fixture(scope="module")
def tiny_dense2d(tmp_path_factory):
    out = tmp_path_factory.mktemp("dense2d") / "run"
    r = subprocess.run([SEMCORR, "train", "dense2d", "--config", str(REPO / "training/configs/dense2d/mug.yaml"),
                        f"train.out_dir={out}", *TINY], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return out / "dense2d.pt", r.stdout


def test_training_writes_a_file_that_loads_and_lowers_its_loss(tiny_dense2d):
    path, stdout = tiny_dense2d
    b = load_dense2d_bundle(path, category="mug")
    losses = b.metadata["train_losses"]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert b.dense_descriptors.shape == (2048, 8) and b.class_points.shape == (32 + 6, 3)
    # the last classes are the prototype's keypoints; their descriptors are the 2D keypoint descriptors
    proto = load_bundle(default_bundle_path("mug")).prototype
    assert torch.allclose(b.class_points[-6:], proto.keypoints)
    assert torch.allclose(b.keypoint_descriptors, torch.nn.functional.normalize(b.class_descriptors[-6:], dim=-1))
    v = b.metadata["validation"]
    assert v["pixels"] > 0 and 0 <= v["nearest_descriptor_median_m"] < 1 and 0 <= v["attention_eq5_median_m"] < 1
    assert "validation (held-out instances)" in stdout


def test_detector_matches_with_2d_and_fused_descriptors(tiny_dense2d):
    path, _ = tiny_dense2d
    cfg = SceneConfig(width=320, height=240, distractors_per_scene=(0, 0))
    rng = np.random.default_rng(3)
    frame = RaycastRenderer(cfg.camera()).render(sample_scene([], rng, cfg, primary=generate_shapes("mug", 1, 5)[0]),
                                                 rng, DepthNoiseConfig(enabled=False))
    rgbd = make_rgbd(frame.color, frame.depth, frame.camera)
    for mode in ("2d", "fused"):
        det = Detector.for_category("mug", dense2d_path=str(path), config=DetectorConfig(descriptors=mode))
        out = det.detect(rgbd)
        assert out.timings_ms["embed2d"] > 0  # the crop went through the 2D network
        assert det._match_keys.shape[1] == (8 if mode == "2d" else 8 + 128)


def test_detector_refuses_a_missing_or_foreign_2d_model(tiny_dense2d, tmp_path):
    path, _ = tiny_dense2d
    with pytest.raises(InputError, match="2D descriptor model"):
        Detector.for_category("mug", config=DetectorConfig(descriptors="2d"), dense2d=None)
    b = load_dense2d_bundle(path)
    b.prototype_fingerprint = "000000000000"
    with pytest.raises(ModelFileError, match="another mug prototype"):
        Detector.for_category("mug", config=DetectorConfig(descriptors="fused"), dense2d=b)
    with pytest.raises(InputError, match="descriptors must be"):
        DetectorConfig(descriptors="rgb")
    with pytest.raises(InputError, match="fusion_weight_2d"):
        DetectorConfig(fusion_weight_2d=1.5)


def test_pairs_are_two_instances_and_dense_descriptors_follow_the_classes():
    crops = {"inputs": np.zeros((4, 5, 16, 16), np.float32), "canonical": np.zeros((4, 16, 16, 3), np.float32),
             "shape_index": np.array([0, 0, 1, 2])}
    pairs = RenderedCropPairs(crops, seed=0)
    assert all(crops["shape_index"][i] != crops["shape_index"][j] for i, j in enumerate(pairs.partners))
    assert set(pairs[0]) == {"inputs_a", "canonical_a", "inputs_b", "canonical_b"}

    from semcorr_core.losses import DenseCanonicalCrossEntropy

    head = DenseCanonicalCrossEntropy(torch.tensor([[0.0, 0.0], [1.0, 0.0]]), 2, sigma=0.01)
    with torch.no_grad():
        head.descriptors.copy_(torch.tensor([[2.0, 0.0], [0.0, 1.0]]))
    d = dense_descriptors(head, torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.5, 0.0]]))
    assert torch.allclose(d[0], torch.tensor([1.0, 0.0]), atol=1e-6)  # at a class: its descriptor
    assert torch.allclose(d[2], torch.tensor([2 ** -0.5, 2 ** -0.5]), atol=1e-6)  # half-way: the mean direction
    # (r, z) over the diagonal for a rotation-symmetric category
    p = prototype_positions(torch.tensor([[3.0, 4.0, 1.0]]), True, 5.0)
    assert p[0].tolist() == pytest.approx([1.0, 0.2])
