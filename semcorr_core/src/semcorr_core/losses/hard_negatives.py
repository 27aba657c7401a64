"""Hard-negative mining (seed 000, CPNet, Sec. 5.2 "Hard Negative Mining").

CPNet: "negative pairs to be pushed are combinatorially more than positive pairs to be pulled
[...] Within each batch, only those negative pairs with smallest embedding distances are taken
into consideration, matching the number of positive pairs."

So the mining criterion is the *embedding distance* (smallest = hardest), not the hinge value,
and the number kept equals the number of positive pairs of the same batch (all negatives are
kept when there are fewer). The selection carries no gradient: it only picks which pairs enter
the push loss (:func:`semcorr_core.losses.push.geodesic_push_loss`).

:func:`mine_hard_negatives` works on any pool layout: the last dimension is the pool; leading
dimensions are independent pools (``(P,)`` for one batch-wide pool, as in CPNet, or ``(B, P)``
for one pool per cloud). Ties are broken towards the lower index (stable sort), so the result is
deterministic.
"""

from __future__ import annotations

import numbers
from typing import Union

import torch

from semcorr_core.errors import InputError

__all__ = ["mine_hard_negatives"]


def mine_hard_negatives(
    distances: torch.Tensor,
    negative_mask: torch.Tensor,
    num_keep: Union[int, torch.Tensor],
) -> torch.Tensor:
    """Keep the ``num_keep`` negatives with the smallest distance in each pool.

    Args:
        distances: ``(..., P)`` float tensor of pair distances (embedding units). Entries that are
            not negatives are ignored (may be anything, also NaN/inf).
        negative_mask: ``(..., P)`` bool, which entries are negative pairs.
        num_keep: how many to keep per pool: a non-negative int, or an integer tensor broadcastable
            to the leading shape ``(...)`` (e.g. the number of positive pairs of each pool).

    Returns:
        ``(..., P)`` bool mask, ``True`` for the kept pairs: exactly
        ``min(num_keep, number of negatives)`` per pool, the ones with the smallest distance.
        No gradient (a selection).

    Raises:
        InputError: shape/dtype mismatch, NaN distance on a negative, negative ``num_keep``.
    """
    if not isinstance(distances, torch.Tensor) or distances.dim() < 1 or not distances.is_floating_point():
        raise InputError(
            f"mine_hard_negatives: distances must be a float tensor (..., P), got "
            f"{getattr(distances, 'shape', type(distances).__name__)}"
        )
    if not isinstance(negative_mask, torch.Tensor) or negative_mask.dtype != torch.bool or negative_mask.shape != distances.shape:
        raise InputError(
            f"mine_hard_negatives: negative_mask must be a bool tensor of the distances' shape {tuple(distances.shape)}, "
            f"got {getattr(negative_mask, 'dtype', type(negative_mask).__name__)} "
            f"{tuple(getattr(negative_mask, 'shape', ()))}"
        )
    d = distances.detach()
    neg = negative_mask.to(d.device)
    if torch.isnan(d[neg]).any():
        raise InputError("mine_hard_negatives: a negative pair has a NaN distance; check the embeddings for NaN")
    lead = d.shape[:-1]
    if isinstance(num_keep, torch.Tensor):
        if num_keep.is_floating_point() or num_keep.is_complex() or num_keep.dtype == torch.bool:
            raise InputError(f"mine_hard_negatives: num_keep must be an integer (tensor), got dtype {num_keep.dtype}")
        try:
            n = torch.broadcast_to(num_keep.to(device=d.device, dtype=torch.int64), lead)
        except RuntimeError as exc:
            raise InputError(
                f"mine_hard_negatives: num_keep of shape {tuple(num_keep.shape)} does not broadcast to the pools' "
                f"leading shape {tuple(lead)}"
            ) from exc
    else:
        if isinstance(num_keep, bool) or not isinstance(num_keep, numbers.Integral):
            raise InputError(f"mine_hard_negatives: num_keep must be an int, got {num_keep!r}")
        n = torch.full(lead, int(num_keep), dtype=torch.int64, device=d.device)
    if (n < 0).any():
        raise InputError("mine_hard_negatives: num_keep must be >= 0 (it is usually the number of positive pairs)")
    # two stable sorts = lexicographic key (not negative, distance, index): negatives come first,
    # by increasing distance, ties by lower index; non-negatives (any value, NaN included) last
    by_dist = torch.sort(torch.where(neg, d, torch.zeros_like(d)), dim=-1, stable=True).indices
    by_neg = torch.sort((~neg).gather(-1, by_dist).to(torch.int8), dim=-1, stable=True).indices
    order = by_dist.gather(-1, by_neg)
    rank = torch.empty_like(order)
    rank.scatter_(-1, order, torch.arange(d.shape[-1], device=d.device).expand_as(order).contiguous())
    keep = (rank < n[..., None]) & neg
    return keep
