import math

import numpy as np
import pytest

from semcorr_core.errors import ImageSizeMismatchError, InputError, IntrinsicsError
from semcorr_core.geometry import PinholeCamera


@pytest.fixture
def cam():
    return PinholeCamera(fx=500.0, fy=480.0, cx=319.5, cy=239.5, width=640, height=480)


def test_project_backproject_round_trip(cam):
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.3, 3.0, size=cam.shape)
    pts = cam.backproject(depth)
    assert pts.shape == (480, 640, 3)
    np.testing.assert_allclose(pts[..., 2], depth)
    uv = cam.project(pts)
    v, u = np.mgrid[0:480, 0:640]
    np.testing.assert_allclose(uv[..., 0], u, atol=1e-9)
    np.testing.assert_allclose(uv[..., 1], v, atol=1e-9)


def test_principal_point_projects_to_cx_cy(cam):
    uv = cam.project(np.array([0.0, 0.0, 2.0]))
    np.testing.assert_allclose(uv, [cam.cx, cam.cy])


def test_backproject_invalid_depth_is_nan(cam):
    depth = np.ones(cam.shape)
    depth[0, 0] = 0.0
    depth[1, 1] = np.nan
    pts = cam.backproject(depth)
    assert np.isnan(pts[0, 0]).all() and np.isnan(pts[1, 1]).all()
    assert np.isfinite(pts[2, 2]).all()


def test_camera_info_round_trip(cam):
    info = cam.to_camera_info()
    assert info["width"] == 640 and info["height"] == 480 and len(info["k"]) == 9 and len(info["p"]) == 12
    assert PinholeCamera.from_camera_info(info) == cam
    legacy = {"width": 640, "height": 480, "K": cam.K.tolist()}
    assert PinholeCamera.from_camera_info(legacy) == cam
    np.testing.assert_allclose(PinholeCamera.from_K(cam.K, 640, 480).K, cam.K)


def test_from_fov_centre_convention():
    c = PinholeCamera.from_fov(640, 480, 90.0)
    assert c.cx == pytest.approx(319.5) and c.cy == pytest.approx(239.5)
    assert c.fx == pytest.approx(320.0)
    assert c.in_image(np.array([[-0.5, -0.5], [639.49, 479.49]])).all()
    assert not c.in_image(np.array([[639.5, 0.0]])).any()


@pytest.mark.parametrize(
    "kw",
    [
        dict(fx=0.0, fy=500.0, cx=1.0, cy=1.0, width=4, height=4),
        dict(fx=500.0, fy=0.0, cx=1.0, cy=1.0, width=4, height=4),
        dict(fx=math.nan, fy=500.0, cx=1.0, cy=1.0, width=4, height=4),
        dict(fx=500.0, fy=500.0, cx=math.inf, cy=1.0, width=4, height=4),
        dict(fx=500.0, fy=500.0, cx=1.0, cy=1.0, width=0, height=4),
    ],
)
def test_bad_intrinsics_raise(kw):
    with pytest.raises(IntrinsicsError):
        PinholeCamera(**kw)


def test_zero_K_from_camera_info_raises_with_hint():
    with pytest.raises(IntrinsicsError, match="camera_info"):
        PinholeCamera.from_camera_info({"width": 640, "height": 480, "k": [0.0] * 9})
    with pytest.raises(IntrinsicsError):
        PinholeCamera.from_camera_info({"width": 640, "height": 480})
    with pytest.raises(IntrinsicsError):
        PinholeCamera.from_camera_info({"k": [1.0] * 9})
    with pytest.raises(IntrinsicsError):
        PinholeCamera.from_K(np.eye(2), 4, 4)
    assert issubclass(IntrinsicsError, InputError)


def test_size_mismatch_raises(cam):
    with pytest.raises(ImageSizeMismatchError, match="640x480"):
        cam.backproject(np.ones((240, 320)))
    with pytest.raises(ImageSizeMismatchError):
        cam.check_image(np.zeros((480, 641, 3)), "colour")
    cam.check_image(np.zeros((480, 640, 3)), "colour")
