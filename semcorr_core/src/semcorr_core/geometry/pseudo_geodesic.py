"""Pseudo-geodesic neighbourhoods on point clouds (seed 004, "Jamais Vu", Algorithm 1).

Seed 004 builds local neighbourhoods in the *posed* (back-projected) point cloud by growing a set
along the surface instead of taking the k Euclidean nearest neighbours, so that e.g. a hand held
close to a face does not pick up face points. Algorithm 1 of the paper ("Pseudo-geodesic
sampling"), verbatim in structure:

    Input: point cloud X, seed point p, number of neighbours k
    B <- {p}
    while |B| < k:
        X' <- X \\ B
        for x in X:  D_x <- min_{y in B} ||x - y||_2
        B <- B U { argmin_{x in X'} D_x }
    return B

That is, each step adds the not-yet-selected point closest to the *current set* (not to the
seed). This is exactly the visiting order of Prim's minimum-spanning-tree algorithm on the
complete Euclidean graph started at ``p``. The set therefore creeps along the sampled surface as
long as the sampling spacing on the surface is smaller than the gap to any other surface part;
it jumps to a nearby sheet only once that gap becomes the smallest available step. With the paper's
settings (FPS-subsampled cloud of 1024 points, ``k = 64``) the sampling spacing is what decides
which gaps are "bridged". The neighbourhood is not a geodesic ball: it is biased towards densely
sampled directions.

Implementation: ``D`` is kept incrementally (``D <- min(D, ||x - x_new||)`` after each addition),
``O(k N)`` per neighbourhood, batched over clouds and seeds in torch with a Python loop only over
the ``k - 1`` growth steps. Ties go to the lowest point index. No gradients (indices only).

* :func:`pseudo_geodesic_neighbourhoods` -- torch, ``(B, N, 3)`` clouds, ``(B, S)`` seeds ->
  ``(B, S, k)`` indices.
* :func:`pseudo_geodesic_neighbourhood` -- numpy, one cloud and one seed -> ``(k,)`` indices.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from semcorr_core.errors import InputError

__all__ = ["pseudo_geodesic_neighbourhood", "pseudo_geodesic_neighbourhoods"]


def pseudo_geodesic_neighbourhoods(
    points: torch.Tensor,
    seeds: torch.Tensor,
    k: int,
    *,
    lengths: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Algorithm 1 of seed 004 for many clouds and seeds at once.

    Args:
        points: ``(B, N, D)`` float tensor, the (posed) point clouds; usually ``D = 3``, metres.
        seeds: ``(B, S)`` int64 indices of the seed points ``p`` (S neighbourhoods per cloud).
        k: neighbourhood size ``|B|`` including the seed (paper: 64), ``1 <= k <= min(lengths)``.
        lengths: optional ``(B,)`` number of valid leading points per cloud (padding is never
            selected).

    Returns:
        ``(B, S, k)`` int64 indices into ``points[b]``, in the order they were added; ``[..., 0]``
        is the seed. Indices within one neighbourhood are distinct.
    """
    if not isinstance(points, torch.Tensor) or points.dim() != 3 or not points.is_floating_point():
        raise InputError(
            f"pseudo_geodesic_neighbourhoods: points must be a float (B, N, D) tensor, got "
            f"{getattr(points, 'shape', type(points).__name__)}; use points[None] for one cloud"
        )
    B, N, _ = points.shape
    dev = points.device
    if not isinstance(seeds, torch.Tensor) or seeds.dim() != 2 or seeds.shape[0] != B:
        raise InputError(
            f"pseudo_geodesic_neighbourhoods: seeds must be a ({B}, S) integer tensor, got "
            f"{getattr(seeds, 'shape', type(seeds).__name__)}"
        )
    if seeds.is_floating_point() or seeds.dtype == torch.bool:
        raise InputError("pseudo_geodesic_neighbourhoods: seeds must be integer indices, not floats/bools")
    seeds = seeds.to(device=dev, dtype=torch.int64)
    if lengths is None:
        lengths = torch.full((B,), N, dtype=torch.int64, device=dev)
    else:
        if not isinstance(lengths, torch.Tensor) or lengths.shape != (B,):
            raise InputError(f"pseudo_geodesic_neighbourhoods: lengths must be a ({B},) tensor")
        lengths = lengths.to(device=dev, dtype=torch.int64)
        if (lengths < 1).any() or (lengths > N).any():
            raise InputError(f"pseudo_geodesic_neighbourhoods: lengths must be in [1, N={N}]")
    valid = torch.arange(N, device=dev)[None, :] < lengths[:, None]  # (B, N)
    if not torch.isfinite(points[valid]).all():
        raise InputError("pseudo_geodesic_neighbourhoods: points contain NaN or inf; drop invalid points first")
    if (seeds < 0).any() or (seeds >= lengths[:, None]).any():
        raise InputError("pseudo_geodesic_neighbourhoods: seed index out of range of the valid points")
    k = int(k)
    kmax = int(lengths.min()) if B > 0 else N
    if not 1 <= k <= kmax:
        raise InputError(f"pseudo_geodesic_neighbourhoods: k must be in [1, min(lengths)={kmax}], got {k}")
    S = seeds.shape[1]
    pts = points.detach()
    out = torch.empty((B, S, k), dtype=torch.int64, device=dev)
    out[..., 0] = seeds
    if k == 1 or S == 0:
        return out
    bi = torch.arange(B, device=dev)[:, None].expand(B, S)
    si = torch.arange(S, device=dev)[None, :].expand(B, S)
    inf = torch.tensor(float("inf"), dtype=pts.dtype, device=dev)

    def dist_to(idx: torch.Tensor) -> torch.Tensor:  # (B, S) -> (B, S, N)
        return torch.linalg.norm(pts[:, None, :, :] - pts[bi, idx][:, :, None, :], dim=-1)

    # D_x = min_{y in B} ||x - y||; the argmin runs over X' = X \ B (and never over padding)
    D = dist_to(seeds)
    taken = (~valid)[:, None, :].expand(B, S, N).clone()
    taken[bi, si, seeds] = True
    for i in range(1, k):
        nxt = torch.where(taken, inf, D).argmin(dim=-1)  # (B, S)
        out[..., i] = nxt
        taken[bi, si, nxt] = True
        D = torch.minimum(D, dist_to(nxt))
    return out


def pseudo_geodesic_neighbourhood(points: np.ndarray, seed: int, k: int) -> np.ndarray:
    """Algorithm 1 of seed 004 for one cloud and one seed (numpy).

    Args:
        points: ``(N, D)`` finite coordinates.
        seed: index of the seed point ``p``.
        k: neighbourhood size including the seed, ``1 <= k <= N``.

    Returns:
        ``(k,)`` int64 indices in the order they were added (``[0] == seed``).
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0:
        raise InputError(f"pseudo_geodesic_neighbourhood: points must be (N, D) with N > 0, got {p.shape}")
    if not np.isfinite(p).all():
        raise InputError("pseudo_geodesic_neighbourhood: points contain NaN or inf; drop invalid points first")
    n = p.shape[0]
    k = int(k)
    if not 1 <= k <= n:
        raise InputError(f"pseudo_geodesic_neighbourhood: k must be in [1, N={n}], got {k}")
    seed = int(seed)
    if not 0 <= seed < n:
        raise InputError(f"pseudo_geodesic_neighbourhood: seed {seed} out of range [0, {n})")
    out = np.empty(k, dtype=np.int64)
    out[0] = seed
    D = np.linalg.norm(p - p[seed], axis=1)  # D_x = min_{y in B} ||x - y||
    taken = np.zeros(n, dtype=bool)
    taken[seed] = True
    for i in range(1, k):
        j = int(np.argmin(np.where(taken, np.inf, D)))  # argmin over X' = X \ B
        out[i] = j
        taken[j] = True
        D = np.minimum(D, np.linalg.norm(p - p[j], axis=1))
    return out
