"""Surface normals of an organised point cloud (one point per pixel, as a depth image back-projects)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from semcorr_core.errors import InputError

__all__ = ["normals_at_pixels", "organised_normals"]


def organised_normals(points: np.ndarray, step: int = 2) -> np.ndarray:
    """Unit normals ``(H, W, 3)`` of an organised cloud ``points`` ``(H, W, 3)`` (camera frame, the
    camera at the origin; a missing pixel is NaN or has z <= 0), facing the camera; see
    :func:`normals_at_pixels`, which this runs at every pixel."""
    p = _checked(points, step)
    h, w = p.shape[:2]
    rows, cols = (g.ravel() for g in np.meshgrid(np.arange(h), np.arange(w), indexing="ij"))
    return normals_at_pixels(p, rows, cols, step).reshape(h, w, 3)


def normals_at_pixels(points: np.ndarray, rows: np.ndarray, cols: np.ndarray, step: int = 2,
                      valid: Optional[np.ndarray] = None) -> np.ndarray:
    """Unit normals ``(M, 3)`` at the pixels ``(rows, cols)`` of the organised cloud ``points``
    ``(H, W, 3)`` (as :func:`organised_normals`), facing the camera. ``valid`` ``(H, W)`` bool:
    the pixels whose points may be used (an object's mask: a normal across its outline would join
    it to the background); default all.

    Each normal is the cross product of the differences ``step`` pixels either side along the row
    and along the column: at 1-2 m a pixel spans 2-3 mm, about the depth noise, so one-pixel
    differences give noise, not the surface. Where one side is missing (an outline, a pixel the
    sensor dropped, the image border) the difference to the other side is taken. NaN where both
    sides of a direction are missing, the differences are parallel, and at missing pixels. Only
    the pixels asked for and their neighbours are read."""
    p = _checked(points, step)
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    h, w = p.shape[:2]
    if rows.shape != cols.shape or rows.ndim != 1 or (len(rows) and (rows.min() < 0 or rows.max() >= h
                                                                     or cols.min() < 0 or cols.max() >= w)):
        raise InputError(f"normals_at_pixels: rows and cols must be equal-length 1-D pixel indices inside "
                         f"{h}x{w}, got shapes {rows.shape} and {cols.shape}")
    if valid is not None:
        valid = np.asarray(valid)
        if valid.shape != (h, w) or valid.dtype != bool:
            raise InputError(f"normals_at_pixels: valid must be a ({h}, {w}) bool mask, got {valid.dtype} {valid.shape}")

    def at(r, c):
        inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        out = np.full((len(r), 3), np.nan)
        got = p[r[inside], c[inside]].astype(np.float64)
        ok = np.isfinite(got).all(axis=1) & (got[:, 2] > 0)
        if valid is not None:
            ok &= valid[r[inside], c[inside]]
        out[np.flatnonzero(inside)[ok]] = got[ok]
        return out

    centre = at(rows, cols)
    du = _difference(at(rows, cols + step), at(rows, cols - step), centre)
    dv = _difference(at(rows + step, cols), at(rows - step, cols), centre)
    n = np.cross(du, dv)
    length = np.linalg.norm(n, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        n = np.where((length > 1e-12) & np.isfinite(centre[:, 2:3]), n / length, np.nan)
        # towards the camera: against the ray to the point
        away = np.sum(n * centre, axis=1, keepdims=True) > 0
    return np.where(away, -n, n)


def _checked(points: np.ndarray, step: int) -> np.ndarray:
    p = np.asarray(points)
    if p.ndim != 3 or p.shape[2] != 3:
        raise InputError(f"normals: points must be (H, W, 3), got {p.shape}")
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
        raise InputError(f"normals: step must be an int >= 1 (pixels), got {step!r}")
    return p


def _difference(after: np.ndarray, before: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """``after - before``; the one-sided difference (doubled, the same span) where one of them is
    missing; NaN where both are."""
    out = after - before
    out = np.where(np.isfinite(out), out, 2.0 * (after - centre))
    return np.where(np.isfinite(out), out, 2.0 * (centre - before))
