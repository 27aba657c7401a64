"""Bad RGB-D input gets typed errors with messages that say what to fix (MISSION §7)."""

from __future__ import annotations

import numpy as np
import pytest

from semcorr_core.data.rgbd import depth_to_metres, make_rgbd, read_color, read_image
from semcorr_core.errors import (
    DepthEncodingError,
    DepthScaleError,
    EmptyMaskError,
    ImageSizeMismatchError,
    InputError,
    IntrinsicsError,
    InvalidDepthError,
)
from semcorr_core.geometry.camera import PinholeCamera

CAM = PinholeCamera(100.0, 100.0, 31.5, 23.5, 64, 48)


def _color():
    return np.zeros((48, 64, 3), np.uint8)


def test_uint16_millimetres_and_float_metres_agree():
    mm = np.full((48, 64), 750, np.uint16)
    mm[0, 0] = 0
    m = depth_to_metres(mm)
    assert m.dtype == np.float32 and m[1, 1] == pytest.approx(0.75) and m[0, 0] == 0
    np.testing.assert_allclose(depth_to_metres(mm.astype(np.float32) / 1000.0), m, atol=1e-7)
    # A 16-bit sensor in 0.1 mm units (depth_scale = 1e-4 m per unit).
    assert depth_to_metres(np.full((4, 4), 7500, np.uint16), 1e-4)[0, 0] == pytest.approx(0.75)


def test_nan_and_inf_become_no_reading():
    d = np.full((48, 64), 0.8, np.float32)
    d[0, :3] = [np.nan, np.inf, -1.0]
    out = depth_to_metres(d)
    assert (out[0, :3] == 0).all() and out[1, 1] == pytest.approx(0.8)


@pytest.mark.parametrize(
    "depth, scale, err, words",
    [
        (np.full((48, 64), 0.8, np.float64).astype(np.int32), None, DepthEncodingError, "uint16"),
        (np.full((48, 64, 3), 800, np.uint16), None, DepthEncodingError, "single-channel"),
        (np.full((48, 64), np.nan, np.float32), None, InvalidDepthError, "no valid reading"),
        (np.zeros((48, 64), np.uint16), None, InvalidDepthError, "no valid reading"),
        (np.full((48, 64), 800.0, np.float32), None, DepthScaleError, "millimetres stored as float"),
        (np.full((48, 64), 800, np.uint16), 1.0, DepthScaleError, "depth_scale looks wrong"),
        (np.full((48, 64), 800, np.uint16), 1e-6, DepthScaleError, "depth_scale looks wrong"),
        (np.full((48, 64), 800, np.uint16), -1.0, DepthScaleError, "positive"),
    ],
)
def test_bad_depth(depth, scale, err, words):
    with pytest.raises(err, match=words):
        depth_to_metres(depth, scale)


def test_make_rgbd_checks_sizes_and_mask():
    depth = np.full((48, 64), 800, np.uint16)
    f = make_rgbd(_color(), depth, CAM)
    assert f.depth.shape == (48, 64) and f.mask is None
    with pytest.raises(ImageSizeMismatchError, match="aligned"):
        make_rgbd(_color(), np.full((24, 32), 800, np.uint16), CAM)
    with pytest.raises(ImageSizeMismatchError, match="intrinsics"):
        make_rgbd(np.zeros((24, 32, 3), np.uint8), depth, CAM)
    with pytest.raises(EmptyMaskError, match="selects no pixel"):
        make_rgbd(_color(), depth, CAM, mask=np.zeros((48, 64), np.uint8))
    with pytest.raises(ImageSizeMismatchError):
        make_rgbd(_color(), depth, CAM, mask=np.ones((4, 4), np.uint8))
    with pytest.raises(InputError, match="uint8"):
        make_rgbd(np.zeros((48, 64, 3), np.float32), depth, CAM)


def test_zero_intrinsics_rejected_with_cause():
    with pytest.raises(IntrinsicsError, match="camera_info"):
        PinholeCamera.from_camera_info({"width": 64, "height": 48, "k": [0.0] * 9})


def test_unreadable_images(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_image(tmp_path / "missing.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(InputError, match="cannot decode"):
        read_color(bad)
