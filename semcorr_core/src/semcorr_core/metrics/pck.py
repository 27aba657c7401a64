"""2D PCK@alpha (Percentage of Correct Keypoints) for semantic keypoints in images.

Conventions
-----------
* Keypoints are pixel coordinates ``(u, v) = (column, row)``, shape ``(N, K, 2)`` for ``N`` images
  and ``K`` keypoint types (same order in every image). The pixel-centre convention does not matter
  here: only distances between predicted and ground-truth points are used.
* ``valid`` ``(N, K)`` marks the ground-truth keypoints that are annotated (and visible) in the image.
  Only valid keypoints are scored. A *valid* keypoint whose prediction is missing (NaN/inf) counts as
  **incorrect**, never silently dropped.
* A prediction is correct when ``||pred - gt||_2 <= alpha * L`` (inclusive), where ``L`` is the
  per-image normaliser:

  - ``"bbox"``  (SPair-71k / PCK@alpha_bbox): ``max(h, w)`` of the object bounding box in that image,
    given directly as ``bbox_size`` ``(N,)`` or computed from ``bboxes`` ``(N, 4)`` in
    ``(x_min, y_min, x_max, y_max)`` pixels;
  - ``"image"``: ``max(H, W)`` of the image, ``image_size`` given as ``(H, W)`` (shared) or ``(N, 2)``.

* Two averages are reported, **never mixed**:

  - ``per_image``: the mean over images of the per-image fraction of correct valid keypoints.
    Images with no valid keypoint are **excluded** from this mean (their per-image value is NaN and
    ``n_images_used`` counts the others). Supervised semantic-correspondence papers report this.
  - ``per_keypoint``: all valid keypoints of all images pooled; fraction correct. Unsupervised
    papers usually report this one. ``per_keypoint_type`` breaks the pooled figure down by keypoint
    name (NaN for a name that is never valid).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from semcorr_core.errors import InputError
from semcorr_core.metrics._arrays import as_array, as_mask

Normaliser = Literal["bbox", "image"]

__all__ = ["PCKResult", "pck", "pck_at_thresholds", "bbox_normaliser"]


def bbox_normaliser(
    n_images: int,
    *,
    normaliser: Normaliser = "bbox",
    bbox_size: npt.ArrayLike | None = None,
    bboxes: npt.ArrayLike | None = None,
    image_size: npt.ArrayLike | None = None,
) -> np.ndarray:
    """Per-image PCK normaliser ``L`` (pixels), shape ``(n_images,)``. See the module docstring."""
    if normaliser == "bbox":
        if (bbox_size is None) == (bboxes is None):
            raise InputError(
                "normaliser='bbox' needs exactly one of bbox_size (N,) = max(h, w) per image or "
                "bboxes (N, 4) = (x_min, y_min, x_max, y_max); pass one, not both"
            )
        if bbox_size is not None:
            L = as_array(bbox_size, "bbox_size")
            if L.shape != (n_images,):
                raise InputError(
                    f"bbox_size must have shape ({n_images},) (one max(h, w) per image), got {np.shape(bbox_size)}"
                )
        else:
            b = as_array(bboxes, "bboxes")
            if b.shape != (n_images, 4):
                raise InputError(
                    f"bboxes must have shape ({n_images}, 4) as (x_min, y_min, x_max, y_max), got {b.shape}"
                )
            w = b[:, 2] - b[:, 0]
            h = b[:, 3] - b[:, 1]
            if np.any(w < 0) or np.any(h < 0):
                raise InputError(
                    "bboxes must be (x_min, y_min, x_max, y_max) with max >= min; check the box format (not x, y, w, h)"
                )
            L = np.maximum(w, h)
    elif normaliser == "image":
        if image_size is None:
            raise InputError("normaliser='image' needs image_size as (H, W) or (N, 2)")
        s = as_array(image_size, "image_size")
        if s.shape == (2,):
            s = np.broadcast_to(s, (n_images, 2))
        if s.shape != (n_images, 2):
            raise InputError(f"image_size must be (H, W) or ({n_images}, 2), got {s.shape}")
        L = s.max(axis=1)
    else:
        raise InputError(f"unknown normaliser {normaliser!r}; use 'bbox' or 'image'")
    if not np.all(np.isfinite(L)) or np.any(L <= 0):
        raise InputError(f"PCK normaliser must be finite and > 0 pixels for every image, got {L}")
    return np.asarray(L, dtype=np.float64)


@dataclass(frozen=True)
class PCKResult:
    """PCK at one ``alpha``. Fractions are in [0, 1].

    per_image: mean over images (with >= 1 valid keypoint) of the per-image fraction correct.
    per_keypoint: fraction correct over all valid keypoints pooled.
    per_keypoint_type: pooled fraction per keypoint name (NaN when the name is never valid).
    per_image_values: (N,) per-image fraction, NaN for images excluded (no valid keypoint).
    correct: (N, K) bool, False where not valid.
    distances: (N, K) pixel distances (NaN where not valid, inf where the prediction is missing).
    thresholds: (N,) ``alpha * L`` in pixels.
    """

    alpha: float
    per_image: float
    per_keypoint: float
    per_keypoint_type: dict[str, float]
    per_image_values: np.ndarray
    correct: np.ndarray
    distances: np.ndarray
    thresholds: np.ndarray
    n_images_used: int
    n_keypoints_used: int


def _prepare(pred: object, gt: object, valid: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = as_array(pred, "pred")
    g = as_array(gt, "gt")
    if g.ndim != 3 or g.shape[2] != 2:
        raise InputError(f"gt keypoints must be (N_images, K, 2) pixel (u, v), got {g.shape}")
    if p.shape != g.shape:
        raise InputError(f"pred keypoints must have the same shape as gt {g.shape}, got {p.shape}")
    if g.shape[0] == 0 or g.shape[1] == 0:
        raise InputError(f"need at least one image and one keypoint, got shape {g.shape}")
    v = as_mask(valid, "valid", g.shape[:2])
    if not v.any():
        raise InputError("valid selects no keypoint: nothing to evaluate (check the visibility mask)")
    if not np.all(np.isfinite(g[v])):
        raise InputError("gt keypoints flagged valid must be finite; mark unannotated keypoints invalid instead of NaN")
    return p, g, v


def pck(
    pred: npt.ArrayLike,
    gt: npt.ArrayLike,
    valid: npt.ArrayLike,
    *,
    alpha: float = 0.1,
    normaliser: Normaliser = "bbox",
    bbox_size: npt.ArrayLike | None = None,
    bboxes: npt.ArrayLike | None = None,
    image_size: npt.ArrayLike | None = None,
    keypoint_names: Sequence[str] | None = None,
) -> PCKResult:
    """PCK@alpha with per-image and per-keypoint averaging (see the module docstring)."""
    p, g, v = _prepare(pred, gt, valid)
    n, k = v.shape
    if not (np.isfinite(alpha) and alpha > 0):
        raise InputError(f"alpha must be a finite number > 0 (e.g. 0.1), got {alpha}")
    names = _names(keypoint_names, k)
    L = bbox_normaliser(n, normaliser=normaliser, bbox_size=bbox_size, bboxes=bboxes, image_size=image_size)
    return _pck_from(p, g, v, float(alpha), L, names)


def pck_at_thresholds(
    pred: npt.ArrayLike,
    gt: npt.ArrayLike,
    valid: npt.ArrayLike,
    *,
    alphas: Sequence[float] = (0.01, 0.05, 0.1),
    normaliser: Normaliser = "bbox",
    bbox_size: npt.ArrayLike | None = None,
    bboxes: npt.ArrayLike | None = None,
    image_size: npt.ArrayLike | None = None,
    keypoint_names: Sequence[str] | None = None,
) -> dict[float, PCKResult]:
    """:func:`pck` at several ``alphas``; returns ``{alpha: PCKResult}``."""
    p, g, v = _prepare(pred, gt, valid)
    n, k = v.shape
    names = _names(keypoint_names, k)
    L = bbox_normaliser(n, normaliser=normaliser, bbox_size=bbox_size, bboxes=bboxes, image_size=image_size)
    if len(alphas) == 0:
        raise InputError("alphas is empty; pass e.g. (0.05, 0.1)")
    out: dict[float, PCKResult] = {}
    for a in alphas:
        if not (np.isfinite(a) and a > 0):
            raise InputError(f"every alpha must be a finite number > 0, got {a}")
        out[float(a)] = _pck_from(p, g, v, float(a), L, names)
    return out


def _names(keypoint_names: Sequence[str] | None, k: int) -> tuple[str, ...]:
    if keypoint_names is None:
        return tuple(str(i) for i in range(k))
    names = tuple(str(s) for s in keypoint_names)
    if len(names) != k:
        raise InputError(f"keypoint_names has {len(names)} names but keypoints have K={k}")
    if len(set(names)) != k:
        raise InputError("keypoint_names must be unique")
    return names


def _pck_from(
    p: np.ndarray, g: np.ndarray, v: np.ndarray, alpha: float, L: np.ndarray, names: tuple[str, ...]
) -> PCKResult:
    with np.errstate(invalid="ignore"):
        d = np.linalg.norm(p - g, axis=-1)
    d = np.where(np.isfinite(d), d, np.inf)  # missing prediction -> infinitely far -> incorrect
    d = np.where(v, d, np.nan)
    thr = alpha * L
    correct = v & (np.nan_to_num(d, nan=np.inf) <= thr[:, None])
    n_valid_img = v.sum(axis=1)
    used = n_valid_img > 0
    per_img = np.full(v.shape[0], np.nan)
    per_img[used] = correct[used].sum(axis=1) / n_valid_img[used]
    per_type = {}
    for j, name in enumerate(names):
        nv = int(v[:, j].sum())
        per_type[name] = float(correct[:, j].sum() / nv) if nv else float("nan")
    return PCKResult(
        alpha=alpha,
        per_image=float(per_img[used].mean()),
        per_keypoint=float(correct.sum() / v.sum()),
        per_keypoint_type=per_type,
        per_image_values=per_img,
        correct=correct,
        distances=d,
        thresholds=thr,
        n_images_used=int(used.sum()),
        n_keypoints_used=int(v.sum()),
    )
