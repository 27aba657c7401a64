"""Upright similarity: ``dst = s Rz(theta) src + t`` with the rotation about +z only (4 DoF + scale).

Objects of our categories stand on a support plane whose normal the segmenter measures, so in the
gravity-aligned frame (:func:`semcorr_core.geometry.gravity_frame`) the canonical -> observed
transform of an upright object is a heading, a scale and a translation. Fitting 5 parameters
instead of 7 needs two correspondences per RANSAC hypothesis instead of three and cannot tip an
object over.

Closed form (weighted least squares of ``sum w_i |dst_i - (s Rz src_i + t)|^2``): with weighted
centroids removed, ``theta = atan2(sum w (p_x q_y - p_y q_x), sum w (p_x q_x + p_y q_y))`` (2D
Kabsch on xy), then ``s = sum w q . (Rz p) / sum w |p|^2`` (clamped to ``[s_min, s_max]``, exact
because the objective is a convex quadratic in ``s`` for fixed ``theta``), ``t = mu_d - s Rz mu_s``.

With ``floor_z`` (the support plane's height in the gravity frame) the canonical origin, the bottom
centre of an object standing on the plane, is held at that height: ``t_z = floor_z``. The height
of every match then speaks for the scale directly, ``s = (sum w q'_xy . Rz p'_xy + sum w p_z (q_z -
floor_z)) / (sum w |p'_xy|^2 + sum w p_z^2)`` (primes: xy minus the weighted centroids), which
stops a wrong scale trading against a vertical shift.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import numpy as np

from semcorr_core.errors import InputError
from semcorr_core.geometry.similarity import SimilarityTransform
from semcorr_core.geometry.transforms import rotation_z

__all__ = ["fit_upright_similarity", "ransac_upright_similarity", "UprightRansacResult"]


def fit_upright_similarity(src: np.ndarray, dst: np.ndarray, weights: Optional[np.ndarray] = None, *,
                           s_min: Optional[float] = None, s_max: Optional[float] = None,
                           floor_z: Optional[float] = None) -> SimilarityTransform:
    """Weighted least-squares ``(Rz(theta), t, s)`` mapping ``src`` onto ``dst`` (both ``(N, 3)``,
    ``N >= 2``, gravity-aligned frames); ``floor_z``: hold ``t_z`` there (module docstring). Raises
    :class:`InputError` for bad input or a degenerate set (all points on one vertical line: the
    heading is undefined)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.ndim != 2 or src.shape[1] != 3 or dst.shape != src.shape:
        raise InputError(f"fit_upright_similarity: src and dst must both be (N, 3), got {src.shape} and {dst.shape}")
    if len(src) < 2:
        raise InputError(f"fit_upright_similarity needs at least 2 correspondences, got {len(src)}")
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise InputError("fit_upright_similarity: src/dst contain NaN or inf")
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(src),) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise InputError("fit_upright_similarity: weights must be (N,) finite, >= 0, not all zero")
    w = w / w.sum()
    mu_s, mu_d = w @ src, w @ dst
    p, q = src - mu_s, dst - mu_d
    cross = float(w @ (p[:, 0] * q[:, 1] - p[:, 1] * q[:, 0]))
    dot = float(w @ (p[:, 0] * q[:, 0] + p[:, 1] * q[:, 1]))
    spread = float(w @ (p[:, 0] ** 2 + p[:, 1] ** 2))
    if spread <= 1e-12 * max(float(w @ (p**2).sum(1)), 1e-30) or math.hypot(cross, dot) < 1e-15:
        raise InputError("fit_upright_similarity: the source points lie on one vertical line; the heading is undefined")
    R = rotation_z(math.atan2(cross, dot))
    if floor_z is None:
        var = float(w @ (p**2).sum(1))
        s = float(w @ (q * (p @ R.T)).sum(1)) / var
    else:
        if not math.isfinite(floor_z):
            raise InputError(f"fit_upright_similarity: floor_z must be finite, got {floor_z}")
        pz, qz = src[:, 2], dst[:, 2] - float(floor_z)
        num = float(w @ (q[:, :2] * (p @ R.T)[:, :2]).sum(1)) + float(w @ (pz * qz))
        s = num / (spread + float(w @ pz**2))
    if s_min is not None:
        s = max(s, float(s_min))
    if s_max is not None:
        s = min(s, float(s_max))
    if s <= 0:
        raise InputError("fit_upright_similarity: the fitted scale is not positive (correspondences point the wrong way)")
    t = mu_d - s * R @ mu_s
    if floor_z is not None:
        t[2] = float(floor_z)
    return SimilarityTransform(R, t, s)


def _fit_pairs(a_src: np.ndarray, b_src: np.ndarray, a_dst: np.ndarray, b_dst: np.ndarray, s_min, s_max,
               floor_z) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`fit_upright_similarity` of many 2-point sets at once: ``(H, 3)`` arrays of the first
    and second points -> ``R (M, 3, 3)``, ``t (M, 3)``, ``s (M,)`` for the ``M <= H`` sets that are
    not degenerate (heading defined, scale positive)."""
    p, q = 0.5 * (b_src - a_src), 0.5 * (b_dst - a_dst)  # minus the pair centroids (the other point is -p, -q)
    mu_s, mu_d = 0.5 * (a_src + b_src), 0.5 * (a_dst + b_dst)
    cross = p[:, 0] * q[:, 1] - p[:, 1] * q[:, 0]
    dot = p[:, 0] * q[:, 0] + p[:, 1] * q[:, 1]
    spread = p[:, 0] ** 2 + p[:, 1] ** 2
    theta = np.arctan2(cross, dot)
    c, sn = np.cos(theta), np.sin(theta)
    rp = np.stack([c * p[:, 0] - sn * p[:, 1], sn * p[:, 0] + c * p[:, 1], p[:, 2]], axis=1)
    if floor_z is None:
        with np.errstate(divide="ignore", invalid="ignore"):
            s = (q * rp).sum(1) / (p**2).sum(1)
    else:
        # both points count: sum over the pair of p_z q_z with the heights measured from the floor
        za, zb = a_src[:, 2], b_src[:, 2]
        num = 2.0 * (q[:, :2] * rp[:, :2]).sum(1) + za * (a_dst[:, 2] - floor_z) + zb * (b_dst[:, 2] - floor_z)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = num / (2.0 * spread + za**2 + zb**2)
    if s_min is not None:
        s = np.maximum(s, float(s_min))
    if s_max is not None:
        s = np.minimum(s, float(s_max))
    ok = (spread > 1e-12 * np.maximum((p**2).sum(1), 1e-30)) & (np.hypot(cross, dot) >= 1e-15) & (s > 0) & np.isfinite(s)
    c, sn, s = c[ok], sn[ok], s[ok]
    zero, one = np.zeros_like(c), np.ones_like(c)
    R = np.stack([np.stack([c, -sn, zero], 1), np.stack([sn, c, zero], 1), np.stack([zero, zero, one], 1)], 1)
    t = mu_d[ok] - s[:, None] * np.einsum("hij,hj->hi", R, mu_s[ok])
    if floor_z is not None:
        t[:, 2] = float(floor_z)
    return R, t, s


def _score_on_device(src, dst, w, R, t, scale, threshold, device):
    """Inlier weight and truncated residual sum of every hypothesis, computed with torch on
    ``device``; returns them as numpy plus a function giving one hypothesis' inlier mask."""
    import torch

    dev = torch.device(device)
    f64 = dict(dtype=torch.float64, device=dev)
    S, D, W = torch.as_tensor(src, **f64), torch.as_tensor(dst, **f64), torch.as_tensor(w, **f64)
    Rt, tt, st = torch.as_tensor(R, **f64), torch.as_tensor(t, **f64), torch.as_tensor(scale, **f64)
    diff = st[:, None, None] * (S @ Rt.transpose(1, 2)) + tt[:, None, :] - D[None]
    res = torch.sqrt((diff * diff).sum(2))
    inl = res < threshold
    support = (inl.to(torch.float64) @ W).cpu().numpy()
    truncated = torch.clamp(res, max=threshold).sum(1).cpu().numpy()
    return support, truncated, lambda h: inl[h].cpu().numpy()


class UprightRansacResult(NamedTuple):
    """model: refitted transform; inliers: ``(N,)`` bool; n_iterations: hypotheses drawn."""

    model: SimilarityTransform
    inliers: np.ndarray
    n_iterations: int


def ransac_upright_similarity(src: np.ndarray, dst: np.ndarray, *, threshold: float, weights: Optional[np.ndarray] = None,
                              max_iterations: int = 300, s_min: Optional[float] = None,
                              s_max: Optional[float] = None, min_inliers: int = 3, floor_z: Optional[float] = None,
                              seed: int | np.random.Generator = 0, device=None) -> UprightRansacResult:
    """RANSAC over ``max_iterations`` 2-point hypotheses of :func:`fit_upright_similarity`, fitted
    and scored as one batch (seeded; ``floor_z`` holds every hypothesis and the refit on the
    support plane). Score: inlier
    weight (``weights``, default 1 each), ties broken by the truncated residual sum; the winner is
    refitted on its inliers twice. ``device`` (a torch device, e.g. ``"cuda"``): score the ``(I, N)``
    hypothesis-by-point residuals there in float64 as one batch (the same numbers as the numpy
    default; what a GPU does fastest). Raises :class:`InputError` when no hypothesis reaches
    ``min_inliers``."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.ndim != 2 or src.shape[1] != 3 or dst.shape != src.shape:
        raise InputError(f"ransac_upright_similarity: src and dst must both be (N, 3), got {src.shape} and {dst.shape}")
    if not (math.isfinite(threshold) and threshold > 0):
        raise InputError(f"threshold must be a finite positive distance, got {threshold}")
    n = len(src)
    if n < 2:
        raise InputError(f"ransac_upright_similarity needs at least 2 correspondences, got {n}")
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any():
        raise InputError("ransac_upright_similarity: weights must be (N,) finite and >= 0")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    pairs = rng.integers(0, n, size=(int(max_iterations), 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    R, t, scale = _fit_pairs(src[pairs[:, 0]], src[pairs[:, 1]], dst[pairs[:, 0]], dst[pairs[:, 1]],
                             s_min, s_max, floor_z)
    it = len(pairs)
    if len(R) == 0:
        raise InputError(f"ransac_upright_similarity: every one of {it} samples was degenerate")
    # every hypothesis scored at once: (I, N) residuals
    if device is None:
        diff = src @ R.transpose(0, 2, 1)  # (I, N, 3), the largest array: the rest in place
        diff *= scale[:, None, None]
        diff += t[:, None, :]
        diff -= dst[None]
        res = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
        inl = res < threshold
        support = inl.astype(np.float64) @ w
        truncated = np.minimum(res, threshold).sum(1)
        inl_best = None
    else:
        support, truncated, inl_best = _score_on_device(src, dst, w, R, t, scale, threshold, device)
    h = int(np.lexsort((truncated, -support))[0])  # most inlier weight, then the smallest truncated residual
    best = SimilarityTransform(R[h], t[h], float(scale[h]))
    inliers = inl[h] if inl_best is None else inl_best(h)
    for _ in range(2):
        if inliers.sum() < max(min_inliers, 2):
            break
        try:
            best = fit_upright_similarity(src[inliers], dst[inliers], w[inliers] + 1e-12, s_min=s_min, s_max=s_max,
                                          floor_z=floor_z)
        except InputError:
            break
        inliers = np.linalg.norm(best.apply(src) - dst, axis=1) < threshold
    if int(inliers.sum()) < min_inliers:
        raise InputError(f"ransac_upright_similarity: best hypothesis has {int(inliers.sum())} inliers (< {min_inliers}); "
                         f"increase threshold ({threshold}) or check the correspondences")
    return UprightRansacResult(best, inliers, it)
