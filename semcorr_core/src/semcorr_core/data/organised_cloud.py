"""Organised point clouds (one 3D point per pixel, e.g. PCL's stereo/Kinect .pcd) as RGB-D frames.

An organised cloud stores, for pixel ``(u, v)`` (column, row), the camera-frame point
``(x, y, z)`` or NaN. Its intrinsics are not in the file, but a pinhole camera satisfies
``u = fx x / z + cx`` and ``v = fy y / z + cy`` at every valid pixel, so ``fx, cx`` and ``fy, cy``
are two independent linear least-squares fits. The depth image is ``z`` (metres, 0 where NaN).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from semcorr_core.errors import InputError, IntrinsicsError
from semcorr_core.geometry.camera import PinholeCamera

__all__ = ["OrganisedRGBD", "fit_pinhole_intrinsics", "organised_cloud_to_rgbd"]


class OrganisedRGBD(NamedTuple):
    """color: ``(H, W, 3)`` uint8 RGB (grey 128 where the cloud had no colour); depth: ``(H, W)``
    float32 metres, 0 = no point; camera: the fitted pinhole model; reprojection_rms_px: RMS of
    the fit's pixel residuals (a large value means the cloud is not a pinhole projection)."""

    color: np.ndarray
    depth: np.ndarray
    camera: PinholeCamera
    reprojection_rms_px: float


def fit_pinhole_intrinsics(points: np.ndarray, min_points: int = 100) -> tuple[PinholeCamera, float]:
    """``(H, W, 3)`` organised camera-frame points (NaN = no point) -> (camera, RMS residual in px)."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 3 or p.shape[2] != 3:
        raise InputError(f"organised points must be (H, W, 3), got shape {p.shape}")
    H, W = p.shape[:2]
    vs, us = np.mgrid[0:H, 0:W]
    ok = np.isfinite(p).all(-1) & (p[..., 2] > 1e-6)
    if int(ok.sum()) < min_points:
        raise InputError(f"organised cloud has {int(ok.sum())} valid points in front of the camera; "
                         f"need at least {min_points} to fit intrinsics")
    x, y, z = p[ok, 0], p[ok, 1], p[ok, 2]
    u, v = us[ok].astype(np.float64), vs[ok].astype(np.float64)
    ax = np.stack([x / z, np.ones_like(z)], 1)
    ay = np.stack([y / z, np.ones_like(z)], 1)
    (fx, cx), *_ = np.linalg.lstsq(ax, u, rcond=None)
    (fy, cy), *_ = np.linalg.lstsq(ay, v, rcond=None)
    if not (fx > 0 and fy > 0):
        raise IntrinsicsError(f"fitted focal lengths are not positive (fx={fx:.3g}, fy={fy:.3g}): the cloud is "
                              "not in a camera optical frame (x right, y down, z forward)")
    residual = np.concatenate([ax @ [fx, cx] - u, ay @ [fy, cy] - v])
    return PinholeCamera(float(fx), float(fy), float(cx), float(cy), W, H), float(np.sqrt(np.mean(residual ** 2)))


def organised_cloud_to_rgbd(points: np.ndarray, rgb: np.ndarray | None = None) -> OrganisedRGBD:
    """Colour, depth and fitted intrinsics of an organised cloud.

    points: ``(H, W, 3)`` (reshape a PCD's ``WIDTH x HEIGHT`` list row by row first);
    rgb: ``(H, W, 3)`` or ``(H * W, 3)`` uint8, optional.
    """
    p = np.asarray(points, dtype=np.float64)
    cam, rms = fit_pinhole_intrinsics(p)
    H, W = p.shape[:2]
    depth = np.where(np.isfinite(p).all(-1) & (p[..., 2] > 0), p[..., 2], 0.0).astype(np.float32)
    if rgb is None:
        color = np.full((H, W, 3), 128, np.uint8)
    else:
        color = np.asarray(rgb, dtype=np.uint8).reshape(H, W, 3)
    return OrganisedRGBD(color, depth, cam, rms)
