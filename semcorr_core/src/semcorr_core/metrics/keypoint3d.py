"""Metric 3D keypoint error and PCK-3D.

Conventions
-----------
* Keypoints are metric 3D points (metres) in one common frame (normally the camera optical frame),
  shape ``(N, K, 3)`` for ``N`` objects/frames and ``K`` keypoint types, or ``(K, 3)`` for one.
* The error of a keypoint is the Euclidean distance ``||pred - gt||_2`` in metres.
* ``valid`` ``(N, K)`` (default: all) selects the keypoints that have ground truth; only those are
  scored. ``visible`` ``(N, K)`` (optional) splits the valid keypoints into *visible* and *occluded*
  (``valid & ~visible``) so both can be reported separately; ``all`` always covers every valid one.
* A valid keypoint whose prediction is missing (NaN/inf) gets error ``inf``: it fails every
  threshold, makes the group mean ``inf`` and is counted in ``n_missing``. Nothing is dropped silently.
* PCK-3D at threshold ``t``: fraction of the group's keypoints with error ``<= t`` (inclusive).
  Default thresholds: 0.01, 0.02, 0.05 m.
* An empty group (e.g. no occluded keypoint) has ``count == 0`` and NaN statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from semcorr_core.errors import InputError
from semcorr_core.metrics._arrays import as_array, as_mask

__all__ = ["Keypoint3DSummary", "Keypoint3DResult", "keypoint3d_errors", "DEFAULT_THRESHOLDS_M"]

DEFAULT_THRESHOLDS_M: tuple[float, ...] = (0.01, 0.02, 0.05)


@dataclass(frozen=True)
class Keypoint3DSummary:
    """Statistics of one group of keypoint errors (metres)."""

    count: int
    n_missing: int
    mean: float
    median: float
    pck: dict[float, float]  # threshold (m) -> fraction with error <= threshold


@dataclass(frozen=True)
class Keypoint3DResult:
    """errors: (N, K) metres, NaN where not valid, inf where the prediction is missing.
    visible/occluded are None when no ``visible`` mask was given."""

    errors: np.ndarray
    all: Keypoint3DSummary
    visible: Keypoint3DSummary | None
    occluded: Keypoint3DSummary | None
    per_keypoint_type: dict[str, Keypoint3DSummary]
    thresholds: tuple[float, ...]


def _summary(e: np.ndarray, thresholds: tuple[float, ...]) -> Keypoint3DSummary:
    n = int(e.size)
    if n == 0:
        return Keypoint3DSummary(0, 0, float("nan"), float("nan"), {t: float("nan") for t in thresholds})
    return Keypoint3DSummary(
        count=n,
        n_missing=int(np.isinf(e).sum()),
        mean=float(np.mean(e)),
        median=float(np.median(e)),
        pck={t: float(np.mean(e <= t)) for t in thresholds},
    )


def keypoint3d_errors(
    pred: npt.ArrayLike,
    gt: npt.ArrayLike,
    valid: npt.ArrayLike | None = None,
    visible: npt.ArrayLike | None = None,
    *,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS_M,
    keypoint_names: Sequence[str] | None = None,
) -> Keypoint3DResult:
    """Per-keypoint 3D error plus mean / median / PCK-3D for all, visible and occluded keypoints."""
    p = as_array(pred, "pred")
    g = as_array(gt, "gt")
    if g.ndim == 2:
        g = g[None]
        p = p[None] if p.ndim == 2 else p
        valid = None if valid is None else np.asarray(as_array(valid, "valid"))[None]
        visible = None if visible is None else np.asarray(as_array(visible, "visible"))[None]
    if g.ndim != 3 or g.shape[2] != 3:
        raise InputError(f"gt keypoints must be (N, K, 3) or (K, 3) metric xyz, got {np.shape(gt)}")
    if p.shape != g.shape:
        raise InputError(f"pred keypoints must have the same shape as gt {g.shape}, got {p.shape}")
    if g.shape[0] == 0 or g.shape[1] == 0:
        raise InputError(f"need at least one object and one keypoint, got shape {g.shape}")
    shape = g.shape[:2]
    v = np.ones(shape, dtype=bool) if valid is None else as_mask(valid, "valid", shape, rows="object")
    if not v.any():
        raise InputError("valid selects no keypoint: nothing to evaluate")
    if not np.all(np.isfinite(g[v])):
        raise InputError("gt keypoints flagged valid must be finite; mark keypoints without ground truth invalid")
    vis = None if visible is None else as_mask(visible, "visible", shape, rows="object")
    thr = tuple(float(t) for t in thresholds)
    if not thr or not all(np.isfinite(t) and t > 0 for t in thr):
        raise InputError(f"thresholds must be a non-empty sequence of finite values > 0 metres, got {thresholds}")
    if max(thr) > 10.0:
        raise InputError(f"thresholds are in metres; {max(thr)} looks like millimetres - divide by 1000")
    k = shape[1]
    if keypoint_names is None:
        names = tuple(str(i) for i in range(k))
    else:
        names = tuple(str(s) for s in keypoint_names)
        if len(names) != k or len(set(names)) != k:
            raise InputError(f"keypoint_names must be {k} unique names, got {len(names)} ({len(set(names))} unique)")

    with np.errstate(invalid="ignore"):
        e = np.linalg.norm(p - g, axis=-1)
    e = np.where(np.isfinite(e), e, np.inf)
    e = np.where(v, e, np.nan)
    return Keypoint3DResult(
        errors=e,
        all=_summary(e[v], thr),
        visible=None if vis is None else _summary(e[v & vis], thr),
        occluded=None if vis is None else _summary(e[v & ~vis], thr),
        per_keypoint_type={name: _summary(e[v[:, j], j], thr) for j, name in enumerate(names)},
        thresholds=thr,
    )
