"""Keypoint Average Precision (KAP), as used in Jamais Vu (seed 004, appendix C.1).

Our reading of the paper
------------------------
Seed 004 (App. C.1, Table A2) reports KAP at alpha in {0.01, 0.05, 0.10} with per-image averaging and
describes it (citing Mariotti et al. 2024) as follows: PCK only scores matches whose keypoint is
visible in both images and never penalises a system that predicts strong similarity for points that
do not correspond; KAP "reformulates the correspondence evaluation as a binary classification problem
between the pixels that are close to the target and those that are not. Crucially, it penalizes
high predictions when a source keypoint is invisible in the target."

We implement exactly that (:func:`kap`):

* For a source->target image pair and every *queried* source keypoint ``k`` (annotated/visible in
  the source), the method gives a similarity score for every target pixel (``similarity[k]``,
  higher = more likely the match).
* Each (keypoint, pixel) is one binary sample. Label positive iff ``k`` is visible in the target
  **and** the pixel centre lies within ``alpha * max(h, w)`` of the target keypoint (inclusive;
  ``(h, w)`` is the target object's bounding box, as for PCK@alpha_bbox). If ``k`` is invisible in
  the target, **all** its pixels are negatives: any high score for it is a false positive
  (our issue's rule).
* The scores of all samples of the pair (all queried keypoints pooled, so the invisible ones
  compete with the visible ones) are ranked and the average precision of that ranking is the
  pair's KAP. ``per_image`` is the mean over pairs (Table A2 uses per-image averaging). A pair
  without any positive sample (every queried keypoint invisible in the target) has undefined AP; it is
  **excluded** from the mean and reported in ``n_images_without_positive``.
* ``pooled`` (optional, memory heavy) ranks all samples of all pairs together.

Pixel convention: the centre of pixel (row ``i``, column ``j``) is ``(u, v) = (j, i)``, keypoints are
``(u, v)`` (as in ``semcorr_core.geometry.camera``). ``pixel_mask`` may restrict the candidate pixels
(e.g. to the image area that is not padding); by default every pixel is a candidate.

:func:`kap_keypoints` is the sparse form for pipelines that output one location + score per keypoint
(our ROS node does): each queried keypoint is one prediction, a true positive iff the keypoint is
visible in the target and the prediction lies within the threshold; a prediction for an invisible
keypoint is always a false positive. Recall is taken w.r.t. the number of queried keypoints visible in
the target, so misplaced predictions also cost recall. A NaN score means "no prediction": it is not
ranked (a miss when the keypoint is visible, harmless when it is not).

Average precision (:func:`average_precision`) is the step-wise area under the precision-recall
curve: ``AP = sum_i (R_i - R_{i-1}) P_i`` over the distinct score thresholds in decreasing order
(tied scores enter together), ``R_0 = 0``, no interpolation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from semcorr_core.errors import InputError
from semcorr_core.metrics._arrays import as_array, as_mask
from semcorr_core.metrics.pck import bbox_normaliser

__all__ = ["KAPResult", "average_precision", "kap", "kap_keypoints"]


@dataclass(frozen=True)
class KAPResult:
    """per_image: mean over pairs with >= 1 positive of the pair's AP; per_image_values: (N,) AP per
    pair, NaN where excluded; pooled: AP over all samples of all pairs (NaN if not computed)."""

    alpha: float
    per_image: float
    per_image_values: np.ndarray
    pooled: float
    n_images_used: int
    n_images_without_positive: int


def average_precision(scores: npt.ArrayLike, labels: npt.ArrayLike, n_positives: int | None = None) -> float:
    """Non-interpolated AP of a ranking (see module docstring).

    scores: (M,) finite, higher = more confident. labels: (M,) bool. n_positives: recall denominator,
    default ``labels.sum()``; pass a larger number when some positives were never predicted.
    Returns NaN when there is no positive at all.
    """
    s = as_array(scores, "scores").reshape(-1)
    lab = as_array(labels, "labels").reshape(-1)
    if s.shape != lab.shape:
        raise InputError(f"scores and labels must have the same length, got {s.shape} and {lab.shape}")
    if not np.all((lab == 0) | (lab == 1)):
        raise InputError("labels must be boolean (0/1)")
    if not np.all(np.isfinite(s)):
        raise InputError("scores must be finite; drop unranked samples (NaN) before computing AP")
    lab = lab.astype(bool)
    npos = int(lab.sum()) if n_positives is None else int(n_positives)
    if npos < lab.sum():
        raise InputError(f"n_positives={npos} is smaller than the number of positive labels {int(lab.sum())}")
    if npos == 0:
        return float("nan")
    if s.size == 0:
        return 0.0
    order = np.argsort(-s, kind="stable")
    s = s[order]
    lab = lab[order]
    tp = np.cumsum(lab)
    fp = np.cumsum(~lab)
    last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]  # last index of each run of tied scores
    tp, fp = tp[last], fp[last]
    precision = tp / (tp + fp)
    recall = tp / npos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _check_alpha(alpha: float) -> float:
    if not (np.isfinite(alpha) and alpha > 0):
        raise InputError(f"alpha must be a finite number > 0 (e.g. 0.1), got {alpha}")
    return float(alpha)


def _common(gt_kps: object, gt_visible: object, query_mask: object | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g = as_array(gt_kps, "gt_kps")
    if g.ndim != 3 or g.shape[2] != 2 or g.shape[0] == 0 or g.shape[1] == 0:
        raise InputError(f"gt_kps must be (N_pairs, K, 2) target pixel (u, v) with N, K >= 1, got {g.shape}")
    vis = as_mask(gt_visible, "gt_visible", g.shape[:2])
    q = np.ones(g.shape[:2], dtype=bool) if query_mask is None else as_mask(query_mask, "query_mask", g.shape[:2])
    if not q.any():
        raise InputError("query_mask selects no source keypoint: nothing to evaluate")
    if not np.all(np.isfinite(g[vis & q])):
        raise InputError("gt_kps must be finite where gt_visible; mark invisible keypoints False instead of NaN")
    return g, vis, q


def kap(
    similarity: npt.ArrayLike,
    gt_kps: npt.ArrayLike,
    gt_visible: npt.ArrayLike,
    query_mask: npt.ArrayLike | None = None,
    *,
    alpha: float = 0.1,
    bbox_size: npt.ArrayLike | None = None,
    bboxes: npt.ArrayLike | None = None,
    pixel_mask: npt.ArrayLike | None = None,
    pooled: bool = False,
) -> KAPResult:
    """Dense KAP (see module docstring).

    similarity: (N, K, H, W) score of every target pixel for every source keypoint.
    gt_kps: (N, K, 2) target keypoints (u, v). gt_visible: (N, K) keypoint visible in the target.
    query_mask: (N, K) source keypoint visible/annotated in the source (default all).
    bbox_size (N,) = max(h, w) of the target bbox, or bboxes (N, 4) (x_min, y_min, x_max, y_max).
    pixel_mask: (N, H, W) or (H, W) candidate pixels (default all).
    """
    a = _check_alpha(alpha)
    g, vis, q = _common(gt_kps, gt_visible, query_mask)
    n, k = g.shape[:2]
    sim = as_array(similarity, "similarity")
    if sim.ndim != 4 or sim.shape[:2] != (n, k) or sim.shape[2] == 0 or sim.shape[3] == 0:
        raise InputError(f"similarity must be (N, K, H, W) = ({n}, {k}, H, W) to match gt_kps, got {sim.shape}")
    h, w = sim.shape[2:]
    if pixel_mask is None:
        pm = np.ones((n, h, w), dtype=bool)
    else:
        pm_raw = as_array(pixel_mask, "pixel_mask")
        if pm_raw.shape == (h, w):
            pm_raw = np.broadcast_to(pm_raw, (n, h, w))
        pm = as_mask(pm_raw, "pixel_mask", (n, h, w))
    if not np.all(np.isfinite(sim[q[:, :, None, None] & pm[:, None]])):
        raise InputError("similarity contains NaN/inf at queried keypoints and candidate pixels")
    L = bbox_normaliser(n, normaliser="bbox", bbox_size=bbox_size, bboxes=bboxes)
    vv, uu = np.mgrid[0:h, 0:w].astype(np.float64)

    per_img = np.full(n, np.nan)
    all_s: list[np.ndarray] = []
    all_l: list[np.ndarray] = []
    for i in range(n):
        ks = np.nonzero(q[i])[0]
        if ks.size == 0:
            continue
        cand = pm[i]
        scores = sim[i, ks][:, cand]  # (Kq, M)
        u, v = uu[cand], vv[cand]
        labels = np.zeros(scores.shape, dtype=bool)
        for r, kk in enumerate(ks):
            if vis[i, kk]:
                du = u - g[i, kk, 0]
                dv = v - g[i, kk, 1]
                labels[r] = du * du + dv * dv <= (a * L[i]) ** 2
        if labels.any():
            per_img[i] = average_precision(scores.ravel(), labels.ravel())
        if pooled:
            all_s.append(scores.ravel())
            all_l.append(labels.ravel())
    return _result(a, per_img, q, all_s, all_l, None)


def kap_keypoints(
    pred_kps: npt.ArrayLike,
    scores: npt.ArrayLike,
    gt_kps: npt.ArrayLike,
    gt_visible: npt.ArrayLike,
    query_mask: npt.ArrayLike | None = None,
    *,
    alpha: float = 0.1,
    bbox_size: npt.ArrayLike | None = None,
    bboxes: npt.ArrayLike | None = None,
) -> KAPResult:
    """Sparse KAP: one predicted location (N, K, 2) and score (N, K) per queried keypoint.

    Pooled AP is always computed here (it is cheap); per-pair APs are averaged for ``per_image``.
    """
    a = _check_alpha(alpha)
    g, vis, q = _common(gt_kps, gt_visible, query_mask)
    n, k = g.shape[:2]
    p = as_array(pred_kps, "pred_kps")
    if p.shape != g.shape:
        raise InputError(f"pred_kps must have the same shape as gt_kps {g.shape}, got {p.shape}")
    s = as_array(scores, "scores")
    if s.shape != (n, k):
        raise InputError(f"scores must be (N, K) = ({n}, {k}), one score per predicted keypoint, got {s.shape}")
    if np.any(np.isinf(s[q])):
        raise InputError("scores must be finite (NaN = no prediction is allowed); got inf")
    L = bbox_normaliser(n, normaliser="bbox", bbox_size=bbox_size, bboxes=bboxes)
    with np.errstate(invalid="ignore"):
        d = np.linalg.norm(p - g, axis=-1)
    d = np.where(np.isfinite(d), d, np.inf)
    tp = vis & (d <= a * L[:, None])
    ranked = q & ~np.isnan(s)
    npos_img = (q & vis).sum(axis=1)
    per_img = np.full(n, np.nan)
    for i in range(n):
        if npos_img[i] > 0:
            r = ranked[i]
            per_img[i] = average_precision(s[i][r], tp[i][r], n_positives=int(npos_img[i]))
    pooled = (
        average_precision(s[ranked], tp[ranked], n_positives=int(npos_img.sum())) if npos_img.sum() else float("nan")
    )
    return _result(a, per_img, q, [], [], pooled)


def _result(a: float, per_img: np.ndarray, q: np.ndarray, all_s: list, all_l: list, pooled: float | None) -> KAPResult:
    used = ~np.isnan(per_img)
    n_queried_img = int((q.sum(axis=1) > 0).sum())
    if not used.any():
        raise InputError(
            "no image pair has a positive (no queried keypoint is visible in any target): AP is undefined; "
            "check gt_visible / query_mask"
        )
    if pooled is None:
        if all_s:
            pooled = average_precision(np.concatenate(all_s), np.concatenate(all_l))
        else:
            pooled = float("nan")
    return KAPResult(
        alpha=a,
        per_image=float(per_img[used].mean()),
        per_image_values=per_img,
        pooled=float(pooled),
        n_images_used=int(used.sum()),
        n_images_without_positive=n_queried_img - int(used.sum()),
    )
