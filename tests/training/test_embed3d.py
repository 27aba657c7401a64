"""`semcorr train embed3d` end to end on tiny data, then `semcorr bench embed3d` on its bundle."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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


def test_bench_refuses_bundle_of_other_category(tiny_bundle):
    r = subprocess.run([SEMCORR, "bench", "embed3d", "--bundle", str(tiny_bundle), "--category", "mug"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "not 'mug'" in r.stderr


def test_typo_in_override_is_refused(tmp_path):
    r = subprocess.run([SEMCORR, "train", "embed3d", "--config", str(REPO / "training/configs/embed3d/mug.yaml"),
                        "train.epoch=3", f"train.out_dir={tmp_path}"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "train.epoch" in r.stderr and "epochs" in r.stderr
