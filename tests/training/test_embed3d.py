"""`semcorr train embed3d` end to end on tiny data, then `semcorr bench embed3d` on its bundle."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from semcorr_core.bench.embed3d import cloud_geodesics
from semcorr_core.models.bundle import load_bundle

REPO = Path(__file__).resolve().parents[2]
SEMCORR = shutil.which("semcorr") or str(Path(sys.executable).with_name("semcorr"))


def test_cloud_geodesics_follow_the_surface():
    # an L-shaped strip of points 1 cm apart: going round the corner is longer than the chord
    a = np.stack([np.arange(11) * 0.01, np.zeros(11), np.zeros(11)], 1)
    b = np.stack([np.full(10, 0.10), np.arange(1, 11) * 0.01, np.zeros(10)], 1)
    pts = np.concatenate([a, b])
    d = cloud_geodesics(pts, np.array([0]), k=2)
    assert d[0, 10] == pytest.approx(0.10)  # along the first leg
    assert d[0, 20] == pytest.approx(0.20)  # 0.10 + 0.10 round the corner (chord: 0.141)
    far = np.concatenate([pts, [[5.0, 5.0, 5.0], [5.01, 5.0, 5.0], [5.02, 5.0, 5.0]]])
    d2 = cloud_geodesics(far, np.array([0]), k=2)  # unreachable piece: straight-line fallback
    assert d2[0, -1] == pytest.approx(np.linalg.norm(far[-1]))


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("embed3d") / "run"
    r = subprocess.run(
        [SEMCORR, "train", "embed3d", "--config", str(REPO / "training/configs/embed3d/can.yaml"),
         "train.epochs=2", "data.length=16", "data.n_instances=2", "data.n_points=256",
         "prototype.reference_instances=2", "prototype.dense_points=256", f"train.out_dir={out}",
         "train.progress=false", "data.holdout_keypoints=[top_center]"],
        capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "bundle:" in r.stdout
    return out / "bundle.pt"


def test_train_writes_a_bundle_with_provenance(tiny_bundle):
    b = load_bundle(tiny_bundle, category="can")
    assert b.prototype.keypoint_names == ("top_center", "bottom_center")
    assert b.metadata["holdout_keypoints"] == ["top_center"] and len(b.metadata["config_hash"]) == 12
    assert len(b.metadata["train_losses"]) == 2
    assert (tiny_bundle.parent / "metrics.jsonl").is_file() and (tiny_bundle.parent / "checkpoints").is_dir()


def test_bench_embed3d_reports_every_figure(tiny_bundle, tmp_path):
    report = tmp_path / "r.json"
    subprocess.run([SEMCORR, "bench", "embed3d", "--bundle", str(tiny_bundle), "--category", "can",
                    "--instances", "3", "--report", str(report)], check=True, capture_output=True, timeout=300)
    d = json.loads(report.read_text())
    for key in ("mge_trained", "mge_random", "mge_fpfh"):
        assert d[key] > 0 and np.isfinite(d[key])
    for key in ("pck3d_full", "pck3d_partial", "pck3d_unseen"):
        # None only when no keypoint of that kind was observed (a can's bottom is never in view)
        assert (d[key] is None and d[f"{key}_n"] == 0) or 0.0 <= d[key] <= 1.0
    assert d["pck3d_full_n"] == 3 and d["pck3d_unseen_n"] == 3  # one seen, one unseen keypoint x 3 clouds
    assert d["holdout_keypoints"] == ["top_center"]
    # a can has no part whose sight breaks its symmetry: partial and partial_strict agree
    assert d["partial_views_symmetric"] == 0 and d["pck3d_partial_strict"] == d["pck3d_partial"]
    # per keypoint: the seen one counted in full (and partial where observed), the held-out one as unseen
    assert set(d["per_keypoint"]) == {"top_center", "bottom_center"}
    assert d["per_keypoint"]["top_center"]["unseen"][1] == 3 and "full" not in d["per_keypoint"]["top_center"]
    hits, n = d["per_keypoint"]["bottom_center"]["full"]
    assert n == 3 and hits / n == pytest.approx(d["pck3d_full"])


def test_bench_refuses_bundle_of_other_category(tiny_bundle):
    r = subprocess.run([SEMCORR, "bench", "embed3d", "--bundle", str(tiny_bundle), "--category", "mug"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "not 'mug'" in r.stderr


def test_typo_in_override_is_refused(tmp_path):
    r = subprocess.run([SEMCORR, "train", "embed3d", "--config", str(REPO / "training/configs/embed3d/mug.yaml"),
                        "train.epoch=3", f"train.out_dir={tmp_path}"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "train.epoch" in r.stderr and "epochs" in r.stderr


def test_random_upright_rotations_keep_up_within_the_tilt():
    import torch

    from semcorr_core.training.embed3d import random_upright_rotations

    torch.manual_seed(0)
    R = random_upright_rotations(500, 5.0)
    torch.testing.assert_close(R @ R.transpose(1, 2), torch.eye(3).expand(500, 3, 3), atol=1e-5, rtol=0)
    assert torch.allclose(torch.linalg.det(R), torch.ones(500), atol=1e-5)
    tilt = torch.rad2deg(torch.arccos(R[:, 2, 2].clamp(-1, 1)))  # angle between new and old up
    assert tilt.max() <= 5.0 + 1e-3 and tilt.max() > 4.0
    heading = torch.atan2(R[:, 1, 0], R[:, 0, 0])
    assert heading.min() < -2.5 and heading.max() > 2.5  # headings cover the circle
    flat = random_upright_rotations(10, 0.0)
    torch.testing.assert_close(flat[:, 2], torch.tensor([0.0, 0.0, 1.0]).expand(10, 3), atol=1e-6, rtol=0)


def test_keypoint_geodesic_rows_treat_a_ring_as_one_place():
    from types import SimpleNamespace

    from semcorr_core.bench.embed3d import keypoint_geodesic_rows
    from semcorr_core.data.shape import Symmetry

    # a ring of 36 points of radius 5 cm at z = 0: the keypoint's place under rotation symmetry
    a = np.linspace(0, 2 * np.pi, 36, endpoint=False)
    ring = np.stack([0.05 * np.cos(a), 0.05 * np.sin(a), np.zeros(36)], 1)
    sample = SimpleNamespace(points=ring, canonical=ring, keypoint_index=np.array([0]), anchors=ring[:1],
                             keypoints=ring[:1])
    sym = keypoint_geodesic_rows(sample, Symmetry(kind="rotation_z"), orbit_tol=1e-3)[0]
    plain = keypoint_geodesic_rows(sample, Symmetry(), orbit_tol=1e-3)[0]
    assert np.allclose(sym, 0.0)  # every ring point is the place itself
    step = 2 * 0.05 * np.sin(np.pi / 36)  # chord between neighbours
    # half way round: along the ring (kNN chords cut it slightly short), never across (0.10 m)
    assert 0.15 < plain[18] <= 18 * step + 1e-9


def test_canonical_ce_training_lowers_the_loss(tmp_path):
    from semcorr_core.training.config import load_config
    from semcorr_core.training.embed3d import train_embed3d

    cfg = load_config([REPO / "training/configs/embed3d/mug.yaml"],
                      ["train.epochs=6", "data.length=8", "data.n_instances=2", "data.n_points=128",
                       "data.mode=complete", "train.batch_size=4", "train.lr=0.005", "loss.canonical_anchors=16",
                       "model.out_dim=16", "prototype.reference_instances=1", "prototype.dense_points=128",
                       f"train.out_dir={tmp_path}", "train.progress=false", "train.warmup_steps=0"])
    losses = train_embed3d(cfg)["losses"]
    assert len(losses) == 6 and losses[-1] < 0.8 * losses[0], losses


def test_axis_keypoint_off_the_surface_is_a_ring_place():
    from semcorr_core.bench.embed3d import keypoint_place_symmetry
    from semcorr_core.data.shape import Symmetry

    mirror = Symmetry(kind="reflection", plane_normal=(0.0, 1.0, 0.0))
    rim_center, rim_anchor = np.array([0.0, 0.0, 0.1]), np.array([0.04, 0.0, 0.1])
    assert keypoint_place_symmetry(rim_center, rim_anchor, mirror).kind == "rotation_z"
    bottom = np.array([0.0, 0.0, 0.0])  # on the axis but on the surface: its own anchor
    assert keypoint_place_symmetry(bottom, bottom, mirror) is mirror
    handle = np.array([0.07, 0.0, 0.05])  # off the axis
    assert keypoint_place_symmetry(handle, handle + [0.001, 0, 0], mirror) is mirror


def test_keypoint_retrieval_training_logs_the_loss_and_ships_the_descriptors(tmp_path):
    import torch

    from semcorr_core.training.config import load_config
    from semcorr_core.training.embed3d import train_embed3d

    cfg = load_config([REPO / "training/configs/embed3d/mug.yaml"],
                      ["train.epochs=4", "data.length=8", "data.n_instances=2", "data.n_points=128",
                       "data.mode=complete", "train.batch_size=4", "train.lr=0.005", "loss.canonical_anchors=16",
                       "model.out_dim=16", "prototype.reference_instances=1", "prototype.dense_points=128",
                       "loss.keypoint_retrieval_weight=1.0", "model.kwargs.fourier_bands=2",
                       f"train.out_dir={tmp_path}", "train.progress=false", "train.warmup_steps=0"])
    out = train_embed3d(cfg)
    assert out["losses"][-1] < out["losses"][0]
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any("keypoint_retrieval" in r for r in rows)
    bundle = load_bundle(out["bundle"], category="mug")
    assert bundle.model_kwargs["fourier_bands"] == 2
    # the prototype's keypoint embeddings are the head's learned keypoint descriptors
    ckpt = torch.load(sorted((tmp_path / "checkpoints").glob("*.pt"))[-1], map_location="cpu", weights_only=False)
    desc = torch.nn.functional.normalize(ckpt["model"]["canonical_ce.descriptors"][-6:], dim=-1)
    torch.testing.assert_close(bundle.prototype.keypoint_embeddings, desc)


def test_keypoint_retrieval_needs_the_canonical_head(tmp_path):
    from semcorr_core.training.config import ConfigError, load_config
    from semcorr_core.training.embed3d import train_embed3d

    cfg = load_config([REPO / "training/configs/embed3d/mug.yaml"],
                      ["loss.keypoint_retrieval_weight=1.0", "loss.canonical_ce_weight=0", "loss.cpnet_weight=1",
                       "data.n_instances=2", "data.length=4", f"train.out_dir={tmp_path}"])
    with pytest.raises(ConfigError, match="canonical_ce_weight"):
        train_embed3d(cfg)


def test_upright_rotations_without_heading_tilt_only():
    import torch

    from semcorr_core.training.embed3d import random_upright_rotations

    torch.manual_seed(1)
    turn = torch.tensor([True, False] * 100)
    R = random_upright_rotations(200, 3.0, random_heading=turn)
    # a tilt about a horizontal axis moves x by at most the tilt: no heading change where turn is False
    x_heading = torch.rad2deg(torch.atan2(R[:, 1, 0], R[:, 0, 0])).abs()
    assert x_heading[~turn].max() < 3.1 and x_heading[turn].max() > 90


def test_stretch_to_keypoints_by_hand():
    from semcorr_core.training.embed3d import stretch_to_keypoints

    # reference keypoints: base (0,0,0), top (0,0,0.2), side (0.04,0,0.1); the mean: top 0.1, side 0.02 at 0.08
    ref = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.2], [0.04, 0.0, 0.1]])
    mean = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.1], [0.02, 0.0, 0.08]])
    pts = np.array([[0.04, 0.0, 0.1], [0.0, 0.01, 0.15], [0.0, 0.0, 0.3]])
    out = stretch_to_keypoints(pts, ref, mean, rotation_symmetric=True)
    # heights piecewise linear: 0.1 -> 0.08, 0.15 -> halfway 0.09, above the top 0.3 -> 0.3 * 0.1/0.2
    np.testing.assert_allclose(out[:, 2], [0.08, 0.09, 0.15])
    # one xy scale 0.02/0.04 = 0.5 (rotation-symmetric: x and y alike)
    np.testing.assert_allclose(out[:, :2], [[0.02, 0.0], [0.0, 0.005], [0.0, 0.0]])
    # no keypoint off the axis: xy take the top's height ratio
    out = stretch_to_keypoints(pts, ref[:2], mean[:2])
    np.testing.assert_allclose(out[0, 0], 0.04 * 0.5)


def test_prototype_rebuild_keeps_descriptors_and_meets_the_mean_keypoints(tiny_bundle, tmp_path):
    out = tmp_path / "rebuilt.pt"
    subprocess.run([SEMCORR, "prototype", "rebuild", "--bundle", str(tiny_bundle), "--out", str(out)],
                   check=True, capture_output=True, timeout=300)
    a, b = load_bundle(tiny_bundle, category="can"), load_bundle(out, category="can")
    assert torch.equal(a.prototype.keypoint_embeddings, b.prototype.keypoint_embeddings)
    assert torch.equal(a.prototype.dense_embeddings, b.prototype.dense_embeddings)
    # the dense cloud reaches exactly as high as the highest mean keypoint (the can's top centre)
    top = float(b.prototype.keypoints[:, 2].max())
    assert float(b.prototype.dense_points[:, 2].max()) == pytest.approx(top, abs=2e-3)
