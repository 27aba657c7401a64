"""Per-keypoint deformation: where this instance departs from the category-level fit near a keypoint.

One similarity transform carries the prototype onto the observation, but an instance is not the
prototype scaled: a chair's seat is wider, its legs splay. The dense correspondences say by how
much, locally: an observed point ``p_i`` matched to canonical ``c_i`` sits at ``p_i - T(c_i)``
from where the fit puts its match. A keypoint whose canonical neighbourhood (matches within
``radius`` of it, canonical metres) is observed moves by the median of those residuals (robust to
the few wrong matches among them); a keypoint with fewer than ``min_points`` matched neighbours (out
of sight) keeps the fitted position.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.spatial import cKDTree

from semcorr_core.errors import InputError
from semcorr_core.geometry.similarity import SimilarityTransform

__all__ = ["DeformedKeypoints", "deform_keypoints"]


class DeformedKeypoints(NamedTuple):
    """xyz ``(K, 3)`` (the frame of ``points``); moved ``(K,)`` bool; support ``(K,)`` matched
    neighbours of each keypoint."""

    xyz: np.ndarray
    moved: np.ndarray
    support: np.ndarray


def deform_keypoints(keypoints: np.ndarray, transform: SimilarityTransform, points: np.ndarray,
                     canonical: np.ndarray, *, radius: float, min_points: int = 8) -> DeformedKeypoints:
    """Move each of the canonical ``(K, 3)`` ``keypoints``, carried by ``transform`` (canonical ->
    the frame of ``points``), by the median residual ``points - transform(canonical)`` of the
    ``(N, 3)`` observed points whose matched ``canonical`` coordinates lie within ``radius`` of it
    (module docstring)."""
    kp = np.asarray(keypoints, dtype=np.float64)
    pts = np.asarray(points, dtype=np.float64)
    can = np.asarray(canonical, dtype=np.float64)
    if kp.ndim != 2 or kp.shape[1] != 3:
        raise InputError(f"deform_keypoints: keypoints must be (K, 3), got {kp.shape}")
    if pts.ndim != 2 or pts.shape[1] != 3 or can.shape != pts.shape:
        raise InputError(f"deform_keypoints: points and canonical must both be (N, 3), got {pts.shape} and {can.shape}")
    if not (np.isfinite(kp).all() and np.isfinite(pts).all() and np.isfinite(can).all()):
        raise InputError("deform_keypoints: keypoints, points and canonical must be finite")
    if not (np.isfinite(radius) and radius > 0):
        raise InputError(f"deform_keypoints: radius must be a positive distance, got {radius}")
    if int(min_points) < 1:
        raise InputError(f"deform_keypoints: min_points must be >= 1, got {min_points}")
    fitted = transform.apply(kp)
    support = np.zeros(len(kp), dtype=np.int64)
    moved = np.zeros(len(kp), dtype=bool)
    if len(pts) == 0:
        return DeformedKeypoints(fitted, moved, support)
    residual = pts - transform.apply(can)
    near = cKDTree(can).query_ball_point(kp, r=float(radius))
    out = fitted.copy()
    for k, idx in enumerate(near):
        support[k] = len(idx)
        if len(idx) >= int(min_points):
            out[k] = fitted[k] + np.median(residual[idx], axis=0)
            moved[k] = True
    return DeformedKeypoints(out, moved, support)
