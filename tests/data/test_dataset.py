"""Dataset on disk: write, read back, reproducibility, format checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from semcorr_core.data.dataset import SynthDataset, load_instance, save_instance, write_dataset
from semcorr_core.data.render import DepthNoiseConfig, SceneConfig
from semcorr_core.data.shapes import generate_shapes
from semcorr_core.errors import DatasetFormatError

CFG = SceneConfig(width=96, height=72, distractors_per_scene=(1, 2))


def test_round_trip(tmp_path):
    shapes = generate_shapes("bottle", 2, seed=3)
    ds = write_dataset(tmp_path / "d", "bottle", shapes, 2, seed=3, scene_config=CFG)
    again = SynthDataset.open(tmp_path / "d")
    assert len(again) == 4 and again.meta["keypoint_names"] == ["cap_top", "neck", "shoulder", "bottom_center"]
    f = again.frame(1)
    assert f.color.shape == (72, 96, 3) and f.depth.dtype == np.float32
    # depth.png stores millimetres: within half a millimetre of the float depth, zero stays zero.
    obj = f.objects[0]
    assert obj.category == "bottle" and obj.keypoints_cam.shape == (4, 3)
    shape = again.instance(obj.shape_id)
    np.testing.assert_array_equal(shape.vertices, shapes[[s.instance_id for s in shapes].index(obj.shape_id)].vertices)
    sel = f.instance_mask == obj.instance_index
    np.testing.assert_allclose(shape.surface_points(f.face_id[sel], f.barycentric[sel]), f.canonical[sel], atol=1e-5)
    assert ds.meta == again.meta


def test_same_seed_same_bytes_for_any_worker_count(tmp_path):
    shapes = generate_shapes("can", 2, seed=0)
    for name, workers in (("a", 1), ("b", 2)):
        write_dataset(tmp_path / name, "can", shapes, 2, seed=11, scene_config=CFG, noise=DepthNoiseConfig(),
                      workers=workers)
    for k in range(4):
        for rel in ("color.png", "depth.png", "mask.png"):
            path = f"frames/{k:06d}/{rel}"
            assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes(), path
    a = json.loads((tmp_path / "a" / "dataset.json").read_text())
    b = json.loads((tmp_path / "b" / "dataset.json").read_text())
    assert a == b


def test_instance_round_trip(tmp_path):
    s = generate_shapes("chair", 1, seed=5)[0]
    save_instance(tmp_path / "c.npz", s)
    t = load_instance(tmp_path / "c.npz")
    assert t.keypoint_names == s.keypoint_names and t.symmetry == s.symmetry and t.params == s.params
    np.testing.assert_array_equal(t.faces, s.faces)


def test_bad_dataset_dirs(tmp_path):
    with pytest.raises(DatasetFormatError, match="semcorr synth"):
        SynthDataset.open(tmp_path)
    (tmp_path / "dataset.json").write_text(json.dumps({"format": "semcorr-synth", "version": 99}))
    with pytest.raises(DatasetFormatError, match="version 99"):
        SynthDataset.open(tmp_path)
    with pytest.raises(DatasetFormatError):
        load_instance(tmp_path / "missing.npz")
