"""Prototype keypoints -> camera frame: pose, visibility by z-test, 2D projection, surface snap.

A keypoint is a point of the canonical frame (the prototype's mean keypoint, or any point a user
adds to the category file), so the aligned canonical -> camera transform places it. It is
*visible* when it projects inside the image and the measured depth at that pixel is not in front
of it by more than ``visibility_tol`` (the renderer's ground truth uses the same ray test). A
visible keypoint that lies on the object's surface is snapped to the nearest observed object point
when one is within ``snap_distance``: the measurement is better than the category-level fit there.
Keypoints already found on the observation (:mod:`semcorr_core.keypoints.observed`) come in as
``observed_xyz`` and take the place of the fitted position before the z-test.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np
from scipy.spatial import cKDTree

from semcorr_core.errors import InputError
from semcorr_core.geometry.camera import PinholeCamera
from semcorr_core.geometry.similarity import SimilarityTransform

__all__ = ["CameraKeypoints", "place_keypoints"]


class CameraKeypoints(NamedTuple):
    """xyz ``(K, 3)`` camera frame metres; uv ``(K, 2)`` pixels; in_image, visible, snapped ``(K,)`` bool."""

    xyz: np.ndarray
    uv: np.ndarray
    in_image: np.ndarray
    visible: np.ndarray
    snapped: np.ndarray


def place_keypoints(canonical_keypoints: np.ndarray, canonical_to_camera: SimilarityTransform, camera: PinholeCamera,
                    depth: np.ndarray, *, visibility_tol: float = 0.01, on_surface: Optional[np.ndarray] = None,
                    object_points: Optional[np.ndarray] = None, snap_distance: float = 0.01,
                    observed_xyz: Optional[np.ndarray] = None) -> CameraKeypoints:
    """Place ``(K, 3)`` canonical keypoints in the camera frame (see the module docstring).

    depth: ``(H, W)`` metres, 0 = no reading (a pixel without a reading cannot confirm visibility).
    on_surface: ``(K,)`` bool, keypoints that may be snapped; object_points: ``(N, 3)`` observed
    points of this object (camera frame) to snap to. observed_xyz: ``(K, 3)`` camera-frame positions
    found on the observation, NaN rows where none (those keep the fitted position).
    """
    kp = np.asarray(canonical_keypoints, dtype=np.float64)
    if kp.ndim != 2 or kp.shape[1] != 3:
        raise InputError(f"canonical_keypoints must be (K, 3), got {kp.shape}")
    camera.check_image(np.asarray(depth), "depth")
    if not (np.isfinite(visibility_tol) and visibility_tol >= 0):
        raise InputError(f"visibility_tol must be >= 0 metres, got {visibility_tol}")
    xyz = canonical_to_camera.apply(kp)
    if observed_xyz is not None:
        obs = np.asarray(observed_xyz, dtype=np.float64)
        if obs.shape != kp.shape:
            raise InputError(f"observed_xyz must be {kp.shape} like canonical_keypoints, got {obs.shape}")
        have = np.isfinite(obs).all(axis=1)
        xyz[have] = obs[have]
    uv = camera.project(xyz)
    in_front = xyz[:, 2] > 0
    in_image = in_front & camera.in_image(np.where(in_front[:, None], uv, -1.0))
    visible = np.zeros(len(kp), bool)
    px = np.round(uv[in_image]).astype(int)
    d = np.asarray(depth, dtype=np.float64)[px[:, 1], px[:, 0]]
    visible[in_image] = (d > 0) & (d >= xyz[in_image, 2] - visibility_tol)
    snapped = np.zeros(len(kp), bool)
    if on_surface is not None and object_points is not None and len(object_points):
        on_surface = np.asarray(on_surface, bool)
        if on_surface.shape != (len(kp),):
            raise InputError(f"on_surface must be ({len(kp)},) bool, got {on_surface.shape}")
        want = visible & on_surface
        if want.any():
            dist, j = cKDTree(np.asarray(object_points, dtype=np.float64)).query(xyz[want])
            close = dist <= snap_distance
            idx = np.flatnonzero(want)[close]
            xyz[idx] = np.asarray(object_points, dtype=np.float64)[j[close]]
            uv[idx] = camera.project(xyz[idx])
            snapped[idx] = True
    return CameraKeypoints(xyz, uv, in_image, visible, snapped)
