"""Canonical-coordinate error of dense correspondences (one object instance per call).

Conventions
-----------
* ``pred``, ``gt``: ``(H, W, 3)`` per-pixel canonical coordinates in metres (the category's canonical
  frame: +z up the category axis, origin at the bottom centre). ``mask``: ``(H, W)`` pixels of *this*
  object that have ground truth. Call once per object; aggregate over objects yourself (the symmetry
  handling below is decided per object, so objects must not be mixed in one call).
* ``confidence`` (optional, ``(H, W)``, >= 0): with ``min_confidence`` pixels below it are dropped
  (``coverage`` reports the kept fraction of the mask); ``weighted_mean`` is the confidence-weighted
  mean error over the evaluated pixels. Unweighted statistics never use the confidence.
* Per-pixel error: Euclidean distance (m). Reported: mean, median, fraction with error ``<= t`` for
  each threshold (default 0.01, 0.02, 0.05 m).
* Prediction and ground truth must be finite on the evaluated pixels (a NaN there is a bug upstream;
  exclude such pixels through the mask).

Symmetry (``semcorr_core.data.shape.Symmetry``)
-----------------------------------------------
* ``"rotation_z"``: the azimuth about canonical z is arbitrary. Two modes:

  - ``"global"`` (default): the prediction is rotated about z by the single angle ``theta`` that
    minimises the sum of squared errors (closed form: ``theta = atan2(sum(p x g)_z, sum(p_xy . g_xy))``),
    then errors are measured. One angle per object, so predictions whose azimuth is inconsistent across
    the object are still penalised. ``rotation_z_deg`` reports ``theta``.
  - ``"cylindrical"``: compare in cylindrical coordinates, ``sqrt((r_p - r_g)^2 + (z_p - z_g)^2)``
    with ``r = sqrt(x^2 + y^2)``, i.e. an independent best rotation per pixel. Always <= the global
    error; it only checks radius and height.
* ``"reflection"``: errors are computed as is and after mirroring the prediction through the symmetry
  plane (``p -> M p``); the alternative with the lower mean error is kept for the whole object
  (``mirrored`` says which).
* ``"none"`` / ``symmetry=None``: plain error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from semcorr_core.data.shape import Symmetry
from semcorr_core.errors import EmptyMaskError, ImageSizeMismatchError, InputError
from semcorr_core.metrics._arrays import as_array

__all__ = ["CanonicalResult", "canonical_error", "canonical_point_distance"]


@dataclass(frozen=True)
class CanonicalResult:
    """errors: (M,) metres for the evaluated pixels, row-major order of the mask."""

    errors: np.ndarray
    mean: float
    median: float
    weighted_mean: float  # NaN without confidence
    fraction_under: dict[float, float]
    n_pixels: int
    coverage: float  # evaluated pixels / mask pixels (1.0 without min_confidence)
    mirrored: bool | None  # reflection symmetry only
    rotation_z_deg: float | None  # rotation_z "global" mode only


def canonical_error(
    pred: npt.ArrayLike,
    gt: npt.ArrayLike,
    mask: npt.ArrayLike,
    confidence: npt.ArrayLike | None = None,
    *,
    thresholds: Sequence[float] = (0.01, 0.02, 0.05),
    symmetry: Symmetry | None = None,
    min_confidence: float | None = None,
    rotation_z_mode: Literal["global", "cylindrical"] = "global",
) -> CanonicalResult:
    """Dense canonical-coordinate error of one object; see the module docstring."""
    p = as_array(pred, "pred")
    g = as_array(gt, "gt")
    if g.ndim != 3 or g.shape[2] != 3:
        raise InputError(f"gt must be (H, W, 3) canonical xyz per pixel, got {g.shape}")
    if p.shape != g.shape:
        raise ImageSizeMismatchError(f"pred {p.shape} and gt {g.shape} must have the same (H, W, 3) shape")
    m = as_array(mask, "mask")
    if m.shape != g.shape[:2]:
        raise ImageSizeMismatchError(f"mask must be (H, W) = {g.shape[:2]}, got {m.shape}")
    if not np.all((m == 0) | (m == 1)):
        raise InputError("mask must be boolean (0/1 or True/False)")
    m = m.astype(bool)
    n_mask = int(m.sum())
    if n_mask == 0:
        raise EmptyMaskError("mask selects no pixel; pass the object's instance mask")
    sym = symmetry if symmetry is not None else Symmetry()
    if not isinstance(sym, Symmetry):
        raise InputError(f"symmetry must be a semcorr_core.data.shape.Symmetry or None, got {type(sym).__name__}")
    if rotation_z_mode not in ("global", "cylindrical"):
        raise InputError(f"rotation_z_mode must be 'global' or 'cylindrical', got {rotation_z_mode!r}")
    thr = tuple(float(t) for t in thresholds)
    if not thr or not all(np.isfinite(t) and t > 0 for t in thr):
        raise InputError(f"thresholds must be a non-empty sequence of finite values > 0 metres, got {thresholds}")

    conf = None
    if confidence is not None:
        conf = as_array(confidence, "confidence")
        if conf.shape != g.shape[:2]:
            raise ImageSizeMismatchError(f"confidence must be (H, W) = {g.shape[:2]}, got {conf.shape}")
        if not np.all(np.isfinite(conf[m])) or np.any(conf[m] < 0):
            raise InputError("confidence must be finite and >= 0 inside the mask")
    if min_confidence is not None:
        if conf is None:
            raise InputError("min_confidence needs a confidence map")
        m = m & (conf >= float(min_confidence))
        if not m.any():
            raise EmptyMaskError(f"no mask pixel has confidence >= {min_confidence}; lower min_confidence")

    P, G = p[m], g[m]
    if not np.all(np.isfinite(P)) or not np.all(np.isfinite(G)):
        raise InputError("pred and gt must be finite on the evaluated pixels; exclude invalid pixels via the mask")

    mirrored: bool | None = None
    rot_deg: float | None = None
    if sym.kind == "rotation_z" and rotation_z_mode == "cylindrical":
        rp, rg = np.hypot(P[:, 0], P[:, 1]), np.hypot(G[:, 0], G[:, 1])
        err = np.hypot(rp - rg, P[:, 2] - G[:, 2])
    elif sym.kind == "rotation_z":
        cross = float(np.sum(P[:, 0] * G[:, 1] - P[:, 1] * G[:, 0]))
        dot = float(np.sum(P[:, 0] * G[:, 0] + P[:, 1] * G[:, 1]))
        th = np.arctan2(cross, dot)
        c, s = np.cos(th), np.sin(th)
        Pr = np.stack([c * P[:, 0] - s * P[:, 1], s * P[:, 0] + c * P[:, 1], P[:, 2]], axis=1)
        err = np.linalg.norm(Pr - G, axis=1)
        rot_deg = float(np.degrees(th))
    elif sym.kind == "reflection":
        e0 = np.linalg.norm(P - G, axis=1)
        e1 = np.linalg.norm(P @ sym.reflection_matrix().T - G, axis=1)
        mirrored = bool(e1.mean() < e0.mean())
        err = e1 if mirrored else e0
    else:
        err = np.linalg.norm(P - G, axis=1)

    if conf is not None:
        w = conf[m]
        wmean = float((w * err).sum() / w.sum()) if w.sum() > 0 else float("nan")
    else:
        wmean = float("nan")
    return CanonicalResult(
        errors=err,
        mean=float(err.mean()),
        median=float(np.median(err)),
        weighted_mean=wmean,
        fraction_under={t: float(np.mean(err <= t)) for t in thr},
        n_pixels=int(err.size),
        coverage=float(err.size / n_mask),
        mirrored=mirrored,
        rotation_z_deg=rot_deg,
    )


def canonical_point_distance(a: npt.ArrayLike, b: npt.ArrayLike, symmetry: Symmetry | None = None) -> np.ndarray:
    """Distance between canonical points ``a`` and ``b`` (``(..., 3)``, broadcast), per point.

    Under a ``"rotation_z"`` symmetry two points are the same place when they differ only in
    azimuth: the distance is the cylindrical one, ``sqrt((r_a - r_b)^2 + (z_a - z_b)^2)``.
    Otherwise (``"none"``, and ``"reflection"``: a mirror swaps *named* places such as a chair's
    left and right, which a transfer must get right; flips are measured by
    :func:`~semcorr_core.metrics.pose.left_right_flip`) it is the Euclidean distance.
    """
    A, B = as_array(a, "a"), as_array(b, "b")
    if A.shape[-1:] != (3,) or B.shape[-1:] != (3,):
        raise InputError(f"a and b must be (..., 3) canonical points, got {A.shape} and {B.shape}")
    sym = symmetry if symmetry is not None else Symmetry()
    if not isinstance(sym, Symmetry):
        raise InputError(f"symmetry must be a semcorr_core.data.shape.Symmetry or None, got {type(sym).__name__}")
    if sym.kind == "rotation_z":
        return np.hypot(np.hypot(A[..., 0], A[..., 1]) - np.hypot(B[..., 0], B[..., 1]), A[..., 2] - B[..., 2])
    return np.linalg.norm(A - B, axis=-1)
