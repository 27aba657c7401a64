"""Farthest-point sampling (FPS) of point clouds.

Greedy: start from one point, then repeatedly add the point whose Euclidean distance to the
already chosen set is largest (ties: lowest index). Seed 004 subsamples each back-projected cloud
to 1024 points this way before building neighbourhoods.

* :func:`farthest_point_sampling` -- numpy, ``(N, 3)`` -> ``(K,)`` indices.
* :func:`farthest_point_sampling_torch` -- batched torch, ``(B, N, 3)`` -> ``(B, K)`` indices, with
  optional per-cloud ``lengths`` for padded batches.

The start point is ``start_index`` if given, else drawn uniformly from a seeded generator, so the
result is deterministic for a given seed.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from semcorr_core.errors import InputError

__all__ = ["farthest_point_sampling", "farthest_point_sampling_torch", "voxel_subsample"]


def farthest_point_sampling(
    points: np.ndarray,
    k: int,
    *,
    start_index: Optional[int] = None,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """Indices of ``k`` farthest-point samples of ``points``.

    Args:
        points: ``(N, D)`` finite coordinates (usually D = 3).
        k: number of samples, ``1 <= k <= N``.
        start_index: first sample; ``None`` draws it from ``seed``.
        seed: int seed or ``numpy.random.Generator`` for the start point.

    Returns:
        ``(k,)`` int64 indices, distinct, in selection order.
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0:
        raise InputError(f"farthest_point_sampling: points must be (N, D) with N > 0, got {p.shape}")
    if not np.isfinite(p).all():
        raise InputError("farthest_point_sampling: points contain NaN or inf; drop invalid points (missing depth) first")
    n = p.shape[0]
    k = int(k)
    if not 1 <= k <= n:
        raise InputError(f"farthest_point_sampling: k must be in [1, N={n}], got {k}")
    if start_index is None:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        start = int(rng.integers(n))
    else:
        start = int(start_index)
        if not 0 <= start < n:
            raise InputError(f"farthest_point_sampling: start_index {start} out of range [0, {n})")
    out = np.empty(k, dtype=np.int64)
    out[0] = start
    d = np.sum((p - p[start]) ** 2, axis=1)
    d[start] = -1.0  # chosen points can never be chosen again (matters for duplicate points)
    for i in range(1, k):
        j = int(np.argmax(d))
        out[i] = j
        d = np.minimum(d, np.sum((p - p[j]) ** 2, axis=1))
        d[j] = -1.0
    return out


def farthest_point_sampling_torch(
    points: torch.Tensor,
    k: int,
    *,
    lengths: Optional[torch.Tensor] = None,
    start_index: Optional[torch.Tensor | int] = None,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Batched FPS (no gradient; indices only).

    Args:
        points: ``(B, N, D)`` float tensor.
        k: samples per cloud; ``1 <= k <= min(lengths)``.
        lengths: optional ``(B,)`` int tensor, number of valid (leading) points per cloud; the
            rest is padding and is never selected.
        start_index: int or ``(B,)`` tensor of first samples; ``None`` draws them uniformly from
            ``generator`` (``None`` -> a fresh generator seeded with 0, deterministic).
        generator: ``torch.Generator`` on the points' device.

    Returns:
        ``(B, k)`` int64 indices on the points' device, distinct per cloud, in selection order.
    """
    if not isinstance(points, torch.Tensor) or points.dim() != 3 or not points.is_floating_point():
        raise InputError(
            f"farthest_point_sampling_torch: points must be a float (B, N, D) tensor, got "
            f"{getattr(points, 'shape', type(points).__name__)}; use points[None] for one cloud"
        )
    B, N, _ = points.shape
    dev = points.device
    if lengths is None:
        lengths = torch.full((B,), N, dtype=torch.int64, device=dev)
    else:
        if not isinstance(lengths, torch.Tensor) or lengths.shape != (B,):
            raise InputError(f"farthest_point_sampling_torch: lengths must be a ({B},) tensor")
        lengths = lengths.to(device=dev, dtype=torch.int64)
        if (lengths < 1).any() or (lengths > N).any():
            raise InputError(f"farthest_point_sampling_torch: lengths must be in [1, N={N}]")
    valid = torch.arange(N, device=dev)[None, :] < lengths[:, None]  # (B, N)
    if not torch.isfinite(points[valid]).all():
        raise InputError("farthest_point_sampling_torch: points contain NaN or inf; drop or pad them (use lengths)")
    k = int(k)
    kmax = int(lengths.min())
    if not 1 <= k <= kmax:
        raise InputError(f"farthest_point_sampling_torch: k must be in [1, min(lengths)={kmax}], got {k}")
    if start_index is None:
        if generator is None:
            generator = torch.Generator(device=dev)
            generator.manual_seed(0)
        u = torch.rand((B,), generator=generator, device=dev)
        start = (u * lengths.to(u.dtype)).long().clamp(max=N - 1)
        start = torch.minimum(start, lengths - 1)
    else:
        start = torch.as_tensor(start_index, device=dev, dtype=torch.int64).expand(B).clone()
        if (start < 0).any() or (start >= lengths).any():
            raise InputError("farthest_point_sampling_torch: start_index out of range of the valid points")
    pts = points.detach()
    ar = torch.arange(B, device=dev)
    out = torch.empty((B, k), dtype=torch.int64, device=dev)
    out[:, 0] = start
    d = ((pts - pts[ar, start][:, None]) ** 2).sum(-1)
    d = torch.where(valid, d, torch.full_like(d, -1.0))
    d[ar, start] = -1.0  # chosen points are never chosen again (matters for duplicate points)
    for i in range(1, k):
        j = d.argmax(dim=1)
        out[:, i] = j
        d = torch.minimum(d, ((pts - pts[ar, j][:, None]) ** 2).sum(-1))
        d[ar, j] = -1.0
    return out


def voxel_subsample(points: np.ndarray, n: int, rng: np.random.Generator, *, rounds: int = 6) -> np.ndarray:
    """Indices of ``n`` points spread about evenly over the cloud: one point per occupied voxel,
    with the voxel size searched (``rounds`` bisection steps on a log scale) so that about ``n``
    voxels are occupied; the result is then trimmed or topped up at random to exactly ``n``
    (with repeats only when the cloud has fewer than ``n`` points). A fast stand-in for
    farthest-point sampling on large back-projected clouds (milliseconds instead of a second)."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or len(p) == 0:
        raise InputError(f"voxel_subsample: points must be a non-empty (N, 3) array, got {p.shape}")
    if n < 1:
        raise InputError(f"voxel_subsample: n must be >= 1, got {n}")
    if len(p) <= n:
        extra = rng.choice(len(p), size=n - len(p), replace=True) if n > len(p) else np.empty(0, np.int64)
        return np.concatenate([np.arange(len(p)), extra]).astype(np.int64)
    extent = float(np.ptp(p, axis=0).max()) or 1.0
    lo, hi = extent / 1e4, extent
    order = rng.permutation(len(p))  # which point of a voxel is kept: random, but seeded
    best = order[:n]
    shifted = p[order] - p.min(0)  # once: every round only changes the voxel size

    def voxel_keys(size: float) -> np.ndarray:
        cells = np.floor(shifted / size).astype(np.int64)
        span = cells.max(0) + 1
        return (cells[:, 0] * span[1] + cells[:, 1]) * span[2] + cells[:, 2]

    chosen = None  # the rounds only count voxels (an unstable sort); the first point per voxel once, at the end
    for _ in range(rounds):
        size = float(np.sqrt(lo * hi))
        keys = np.sort(voxel_keys(size))
        if 1 + int(np.count_nonzero(keys[1:] != keys[:-1])) >= n:
            chosen, lo = size, size
        else:
            hi = size
    if chosen is not None:
        best = order[np.unique(voxel_keys(chosen), return_index=True)[1]]
    if len(best) > n:
        best = rng.choice(best, size=n, replace=False)
    return np.sort(best).astype(np.int64)
