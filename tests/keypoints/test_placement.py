"""Prototype keypoints placed in the camera: projection, z-test visibility, surface snap."""

from __future__ import annotations

import numpy as np
import pytest

from semcorr_core.errors import ImageSizeMismatchError, InputError
from semcorr_core.geometry.camera import PinholeCamera
from semcorr_core.geometry.similarity import SimilarityTransform
from semcorr_core.keypoints import place_keypoints

CAM = PinholeCamera(100.0, 100.0, 32.0, 24.0, 64, 48)


def test_projection_visibility_and_snap_by_hand():
    depth = np.full((48, 48 + 16), 1.0, np.float32)  # a wall 1 m away
    depth[24, 42] = 0.0  # no reading under keypoint 2
    pose = SimilarityTransform(np.eye(3), np.array([0.0, 0.0, 1.0]), 1.0)
    kps = np.array([[0.0, 0.0, -0.005],  # 5 mm in front of the wall: visible
                    [0.0, 0.0, 0.05],    # 5 cm behind the wall: occluded
                    [0.1, 0.0, 0.0],     # projects on the pixel without reading: not visible
                    [1.0, 0.0, 0.0]])    # u = 132: outside the image
    out = place_keypoints(kps, pose, CAM, depth, visibility_tol=0.01)
    np.testing.assert_allclose(out.uv[0], [32.0, 24.0])
    np.testing.assert_allclose(out.uv[2], [42.0, 24.0])
    assert out.visible.tolist() == [True, False, False, False]
    assert out.in_image.tolist() == [True, True, True, False]
    # snapping: an observed point 4 mm away replaces a visible surface keypoint, not an occluded one
    obs = np.array([[0.004, 0.0, 0.995], [0.0, 0.0, 1.05]])
    out = place_keypoints(kps, pose, CAM, depth, on_surface=np.array([True, True, False, False]),
                          object_points=obs, snap_distance=0.01)
    np.testing.assert_allclose(out.xyz[0], obs[0])
    assert out.snapped.tolist() == [True, False, False, False]
    np.testing.assert_allclose(out.xyz[1], [0.0, 0.0, 1.05])  # by the pose alone
    # a position found on the observation replaces the fitted one before the z-test: keypoint 1,
    # occluded by the pose, comes onto the wall and is visible; NaN rows keep the fit
    found = np.full((4, 3), np.nan)
    found[1] = [0.0, 0.0, 1.0]
    out = place_keypoints(kps, pose, CAM, depth, observed_xyz=found)
    np.testing.assert_allclose(out.xyz[1], found[1])
    assert out.visible.tolist() == [True, True, False, False]
    with pytest.raises(InputError, match="observed_xyz"):
        place_keypoints(kps, pose, CAM, depth, observed_xyz=found[:2])


def test_bad_input():
    pose = SimilarityTransform(np.eye(3), np.zeros(3), 1.0)
    with pytest.raises(InputError, match="canonical_keypoints"):
        place_keypoints(np.zeros(3), pose, CAM, np.ones((48, 64)))
    with pytest.raises(ImageSizeMismatchError):
        place_keypoints(np.zeros((1, 3)), pose, CAM, np.ones((10, 10)))
