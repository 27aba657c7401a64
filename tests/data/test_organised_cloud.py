"""Organised clouds as RGB-D: fitted intrinsics, depth, bad input; the real PCL stereo mug cloud."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from semcorr_core.data.organised_cloud import fit_pinhole_intrinsics, organised_cloud_to_rgbd
from semcorr_core.errors import InputError, IntrinsicsError
from semcorr_core.geometry.camera import PinholeCamera

PCL_MUG = Path(__file__).resolve().parents[2].parent / "shared/data/pcl_test_rgbd/table_scene_mug_stereo_textured.pcd"


def _organised(cam: PinholeCamera, seed=0, holes=0.3):
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.4, 2.0, (cam.height, cam.width))
    depth[rng.random(depth.shape) < holes] = 0.0
    pts = cam.backproject(depth.astype(np.float32))  # NaN where no reading
    return pts, depth


def test_fit_recovers_the_camera_exactly():
    cam = PinholeCamera(525.0, 520.0, 319.5, 239.5, 64, 48)
    pts, depth = _organised(cam)
    fit, rms = fit_pinhole_intrinsics(pts, min_points=10)
    assert (fit.width, fit.height) == (64, 48)
    for a, b in ((fit.fx, 525.0), (fit.fy, 520.0), (fit.cx, 319.5), (fit.cy, 239.5)):
        assert a == pytest.approx(b, rel=1e-5)
    assert rms < 1e-3
    out = organised_cloud_to_rgbd(pts)
    np.testing.assert_allclose(out.depth, depth, atol=1e-6)  # 0 where the cloud had NaN
    assert out.color.shape == (48, 64, 3) and out.color.dtype == np.uint8


def test_bad_clouds_are_refused():
    with pytest.raises(InputError, match=r"\(H, W, 3\)"):
        fit_pinhole_intrinsics(np.zeros((10, 3)))
    with pytest.raises(InputError, match="valid points"):
        fit_pinhole_intrinsics(np.full((8, 8, 3), np.nan))
    cam = PinholeCamera(100.0, 100.0, 15.5, 11.5, 32, 24)
    pts, _ = _organised(cam, holes=0.0)
    mirrored = pts * np.array([-1.0, -1.0, 1.0])  # x left, y up: not an optical frame
    with pytest.raises(IntrinsicsError, match="optical frame"):
        fit_pinhole_intrinsics(mirrored, min_points=10)


def test_real_pcl_stereo_mug_is_a_pinhole_projection():
    from semcorr_core.data.keypointnet import read_pcd

    assert PCL_MUG.is_file(), f"real data missing at {PCL_MUG} (../shared/data beside the repository)"
    pc = read_pcd(PCL_MUG)
    out = organised_cloud_to_rgbd(pc.points.reshape(pc.height, pc.width, 3), pc.rgb)
    assert (out.camera.width, out.camera.height) == (640, 480)
    assert out.reprojection_rms_px < 0.01  # measured 0.0026 px: the cloud is an exact pinhole back-projection
    assert out.camera.fx == pytest.approx(out.camera.fy, rel=1e-3) and 900 < out.camera.fx < 1000
    assert 0.6 < (out.depth > 0).mean() < 0.75 and 0.8 < np.median(out.depth[out.depth > 0]) < 1.1
