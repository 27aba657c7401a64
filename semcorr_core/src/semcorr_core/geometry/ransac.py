"""RANSAC around the Umeyama similarity fit (robust to wrong correspondences).

Hypotheses are fitted on minimal samples of 3 correspondences; a correspondence is an inlier of
a hypothesis when its residual ``|| dst - (s R src + t) ||`` is ``< threshold`` (same units as
``dst``). The hypothesis with most inliers wins (ties: smaller summed truncated residual, i.e.
MSAC score). The number of iterations adapts to the best inlier ratio ``w`` seen so far:
``n = log(1 - confidence) / log(1 - w^3)``, capped by ``max_iterations``. The winner is refitted on
all its inliers, inliers are recomputed with the refit, and the refit repeated once more if the
set changed.

* :func:`ransac_similarity` -- numpy, sequential, seeded ``numpy.random.Generator``.
* :func:`ransac_similarity_torch` -- torch, batched over problems ``(B, N, 3)`` and evaluating a
  fixed number of hypotheses per problem as one batch (GPU-ready, no Python loop over hypotheses).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Optional

import numpy as np
import torch

from semcorr_core.errors import InputError
from semcorr_core.geometry.similarity import (
    SimilarityTransform,
    fit_similarity,
    fit_similarity_torch,
)

__all__ = ["RansacResult", "ransac_similarity", "ransac_similarity_torch", "ransac_iterations_needed"]

MIN_SAMPLE = 3


class RansacResult(NamedTuple):
    """``model``: the refitted :class:`SimilarityTransform`; ``inliers``: boolean mask ``(N,)``
    (torch: ``(B, N)``); ``n_iterations``: hypotheses drawn (torch: the fixed count)."""

    model: SimilarityTransform
    inliers: Any
    n_iterations: int


def ransac_iterations_needed(inlier_ratio: float, confidence: float, sample_size: int = MIN_SAMPLE) -> float:
    """Iterations needed to draw one all-inlier sample with probability ``confidence``."""
    if inlier_ratio <= 0.0:
        return math.inf
    p_good = inlier_ratio**sample_size
    if p_good >= 1.0:
        return 1.0
    return math.log(1.0 - confidence) / math.log(1.0 - p_good)


def _check_common(threshold: float, confidence: float, max_iterations: int) -> None:
    if not (np.isfinite(threshold) and threshold > 0):
        raise InputError(f"threshold must be a finite positive distance (units of dst), got {threshold}")
    if not (0.0 < confidence < 1.0):
        raise InputError(f"confidence must be in (0, 1), e.g. 0.999, got {confidence}")
    if int(max_iterations) < 1:
        raise InputError(f"max_iterations must be >= 1, got {max_iterations}")


def _non_collinear(p: np.ndarray, tol: float) -> bool:
    return float(np.linalg.norm(np.cross(p[1] - p[0], p[2] - p[0]))) > tol


def ransac_similarity(
    src: np.ndarray,
    dst: np.ndarray,
    *,
    threshold: float,
    max_iterations: int = 1000,
    confidence: float = 0.999,
    with_scale: bool = True,
    s_min: Optional[float] = None,
    s_max: Optional[float] = None,
    min_inliers: int = MIN_SAMPLE,
    seed: int | np.random.Generator = 0,
) -> RansacResult:
    """Robust similarity fit ``dst ~ s R src + t`` (numpy).

    Args:
        src, dst: ``(N, 3)`` corresponding points, ``N >= 3``, finite.
        threshold: inlier residual bound, in units of ``dst``.
        max_iterations: hard cap on drawn minimal samples.
        confidence: desired probability of drawing at least one all-inlier sample (adaptive stop).
        with_scale, s_min, s_max: as in :func:`fit_similarity` (also applied to the hypotheses).
        min_inliers: fewer inliers than this for the best hypothesis -> :class:`InputError`.
        seed: int seed or a ``numpy.random.Generator`` (deterministic for a given seed).

    Returns:
        :class:`RansacResult` ``(model, inliers (N,) bool, n_iterations)``.

    Raises:
        InputError: bad shapes/values, or no hypothesis reaches ``min_inliers`` (all samples
            degenerate or the threshold too small for the noise level).
    """
    _check_common(threshold, confidence, max_iterations)
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.ndim != 2 or src.shape[1] != 3 or dst.shape != src.shape:
        raise InputError(f"ransac_similarity: src and dst must both be (N, 3), got {src.shape} and {dst.shape}")
    n = src.shape[0]
    if n < MIN_SAMPLE:
        raise InputError(f"ransac_similarity needs at least {MIN_SAMPLE} correspondences, got {n}")
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise InputError("ransac_similarity: src/dst contain NaN or inf; drop invalid points first")
    min_inliers = max(int(min_inliers), MIN_SAMPLE)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    scale_ref = float(np.ptp(src, axis=0).max()) or 1.0
    area_tol = 1e-9 * scale_ref**2
    kw = dict(with_scale=with_scale, s_min=s_min, s_max=s_max)

    best_count, best_score, best_model = -1, math.inf, None
    needed = float(max_iterations)
    it = 0
    while it < min(needed, max_iterations):
        it += 1
        idx = rng.choice(n, size=MIN_SAMPLE, replace=False)
        if not (_non_collinear(src[idx], area_tol) and _non_collinear(dst[idx], area_tol)):
            continue
        try:
            model = fit_similarity(src[idx], dst[idx], **kw)
        except InputError:
            continue
        res = np.linalg.norm(model.apply(src) - dst, axis=1)
        inl = res < threshold
        count = int(inl.sum())
        score = float(np.minimum(res, threshold).sum())
        if count > best_count or (count == best_count and score < best_score):
            best_count, best_score, best_model = count, score, model
            needed = ransac_iterations_needed(count / n, confidence)
    if best_model is None or best_count < min_inliers:
        raise InputError(
            f"ransac_similarity: no hypothesis with >= {min_inliers} inliers after {it} iterations "
            f"(best {max(best_count, 0)}); increase threshold ({threshold}) or check the correspondences"
        )
    model, inliers = _refit(src, dst, best_model, threshold, kw)
    if int(inliers.sum()) < min_inliers:
        raise InputError(f"ransac_similarity: refit left {int(inliers.sum())} inliers (< {min_inliers}); increase threshold")
    return RansacResult(model, inliers, it)


def _refit(src, dst, model, threshold, kw, rounds: int = 3):
    inliers = np.linalg.norm(model.apply(src) - dst, axis=1) < threshold
    for _ in range(rounds):
        try:
            new_model = fit_similarity(src[inliers], dst[inliers], **kw)
        except InputError:
            break  # inlier set degenerate (e.g. collinear): keep the hypothesis
        new_inl = np.linalg.norm(new_model.apply(src) - dst, axis=1) < threshold
        if new_inl.sum() < inliers.sum():
            break
        model = new_model
        if np.array_equal(new_inl, inliers):
            break
        inliers = new_inl
    return model, inliers


def ransac_similarity_torch(
    src: torch.Tensor,
    dst: torch.Tensor,
    *,
    threshold: float,
    n_hypotheses: int = 256,
    with_scale: bool = True,
    s_min: Optional[float] = None,
    s_max: Optional[float] = None,
    generator: Optional[torch.Generator] = None,
    refit_rounds: int = 2,
) -> RansacResult:
    """Batched RANSAC: ``n_hypotheses`` minimal samples per problem, all fitted and scored at once.

    Args:
        src, dst: ``(B, N, 3)`` tensors (same dtype and device), ``N >= 3``, finite.
        threshold: inlier residual bound (units of ``dst``).
        n_hypotheses: hypotheses per problem (no adaptive stop: the batch has a fixed size; pick it
            with :func:`ransac_iterations_needed` for the expected inlier ratio).
        with_scale, s_min, s_max: as in :func:`fit_similarity_torch`.
        generator: a ``torch.Generator`` on the inputs' device for the sampling; ``None`` uses a
            fresh one seeded with 0 (deterministic).
        refit_rounds: weighted refits on the inlier mask of the winning hypothesis.

    Returns:
        :class:`RansacResult` with a batched model (``R`` (B,3,3), ``t`` (B,3), ``s`` (B,)),
        ``inliers`` (B, N) bool and ``n_iterations = n_hypotheses``. Problems whose best hypothesis
        has fewer than 3 inliers keep that hypothesis unrefitted; check ``inliers.sum(-1)``.

    Memory: O(B * n_hypotheses * N).
    """
    _check_common(threshold, 0.5, n_hypotheses)
    if not isinstance(src, torch.Tensor) or not isinstance(dst, torch.Tensor):
        raise InputError("ransac_similarity_torch: src and dst must be torch tensors; use ransac_similarity for numpy")
    if src.dim() != 3 or src.shape[-1] != 3 or dst.shape != src.shape:
        raise InputError(f"ransac_similarity_torch: src and dst must both be (B, N, 3), got {tuple(src.shape)} and {tuple(dst.shape)}")
    if not src.is_floating_point() or src.dtype != dst.dtype or src.device != dst.device:
        raise InputError("ransac_similarity_torch: src and dst must share a floating dtype and device")
    if not (torch.isfinite(src).all() and torch.isfinite(dst).all()):
        raise InputError("ransac_similarity_torch: src/dst contain NaN or inf; drop invalid points first")
    B, N, _ = src.shape
    if N < MIN_SAMPLE:
        raise InputError(f"ransac_similarity_torch needs at least {MIN_SAMPLE} correspondences, got N={N}")
    H = int(n_hypotheses)
    if generator is None:
        generator = torch.Generator(device=src.device)
        generator.manual_seed(0)
    # 3 distinct indices per hypothesis: top-3 of uniform noise
    noise = torch.rand((B, H, N), generator=generator, device=src.device)
    idx = noise.topk(MIN_SAMPLE, dim=-1).indices  # (B, H, 3)
    bidx = torch.arange(B, device=src.device)[:, None, None]
    s_smp = src[bidx, idx].reshape(B * H, MIN_SAMPLE, 3)
    d_smp = dst[bidx, idx].reshape(B * H, MIN_SAMPLE, 3)
    with torch.no_grad():
        hyp = fit_similarity_torch(
            s_smp, d_smp, with_scale=with_scale, s_min=s_min, s_max=s_max, check_degenerate=False
        )
        R = hyp.R.reshape(B, H, 3, 3)
        t = hyp.t.reshape(B, H, 3)
        s = hyp.s.reshape(B, H)
        pred = s[..., None, None] * torch.einsum("bhij,bnj->bhni", R, src) + t[:, :, None, :]
        res = torch.linalg.norm(pred - dst[:, None], dim=-1)  # (B, H, N)
        inl = res < threshold
        count = inl.sum(-1)
        # degenerate minimal samples (collinear in src or dst) cannot win
        area_s = torch.linalg.norm(torch.cross(s_smp[:, 1] - s_smp[:, 0], s_smp[:, 2] - s_smp[:, 0], dim=-1), dim=-1)
        area_d = torch.linalg.norm(torch.cross(d_smp[:, 1] - d_smp[:, 0], d_smp[:, 2] - d_smp[:, 0], dim=-1), dim=-1)
        ext = (src.amax(1) - src.amin(1)).amax(-1).clamp_min(1e-12)  # (B,)
        ok = ((area_s > 1e-9 * ext.repeat_interleave(H) ** 2) & (area_d > 0)).reshape(B, H)
        count = torch.where(ok, count, torch.full_like(count, -1))
        msac = res.clamp(max=threshold).sum(-1)
        # lexicographic: most inliers, then smallest MSAC score
        key = count.to(res.dtype) * (N * threshold + 1.0) - msac
        best = key.argmax(dim=-1)  # (B,)
        ar = torch.arange(B, device=src.device)
        model = SimilarityTransform(R[ar, best], t[ar, best], s[ar, best])
        inliers = inl[ar, best]
    for _ in range(int(refit_rounds)):
        good = inliers.sum(-1) >= MIN_SAMPLE
        if not good.any():
            break
        w = inliers.to(src.dtype)
        refit = fit_similarity_torch(
            src, dst, torch.where(good[:, None], w, torch.ones_like(w)),
            with_scale=with_scale, s_min=s_min, s_max=s_max, check_degenerate=False,
        )
        # keep the hypothesis where the inlier set is degenerate or too small
        mu = (w[..., None] * src).sum(1, keepdim=True) / w.sum(1)[:, None, None].clamp_min(1.0)
        sv = torch.linalg.svdvals((src - mu) * w[..., None])
        good = good & (sv[:, 1] > 1e-6 * sv[:, 0])
        R_new = torch.where(good[:, None, None], refit.R, model.R)
        t_new = torch.where(good[:, None], refit.t, model.t)
        s_new = torch.where(good, refit.s, model.s)
        model = SimilarityTransform(R_new, t_new, s_new)
        inliers = torch.linalg.norm(model.apply(src) - dst, dim=-1) < threshold
    return RansacResult(model, inliers, H)
