"""Descriptor fusion with square-root weights (seed 002, Eq. 1).

Each descriptor family is normalised to unit length, scaled by the square root of its weight and
concatenated. Weights summing to 1 make the fused vectors unit length, and the dot product of two
fused vectors is the weighted mean of the families' cosine similarities::

    <F(a), F(b)> = sum_k w_k cos(a_k, b_k)

so nearest-neighbour matching in fused space ranks by that weighted mean.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from semcorr_core.errors import InputError

__all__ = ["fuse_descriptors"]


def fuse_descriptors(descriptors: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    """``[(N, D_k)]`` descriptor families and their weights (>= 0, summing to 1) ->
    ``(N, sum D_k)`` fused unit descriptors."""
    if len(descriptors) == 0 or len(descriptors) != len(weights):
        raise InputError(f"fuse_descriptors: one weight per descriptor family, got {len(descriptors)} families and "
                         f"{len(weights)} weights")
    w = [float(x) for x in weights]
    if any(not math.isfinite(x) or x < 0 for x in w) or abs(sum(w) - 1.0) > 1e-6:
        raise InputError(f"fuse_descriptors: weights must be >= 0 and sum to 1, got {w}")
    n = descriptors[0].shape[0]
    for d in descriptors:
        if not isinstance(d, torch.Tensor) or d.dim() != 2 or d.shape[0] != n or not d.is_floating_point():
            raise InputError(f"fuse_descriptors: every family must be a float (N={n}, D) tensor, got "
                             f"{[tuple(getattr(x, 'shape', ())) for x in descriptors]}")
    return torch.cat([math.sqrt(wk) * torch.nn.functional.normalize(d.float(), dim=-1)
                      for d, wk in zip(descriptors, w)], dim=-1)
