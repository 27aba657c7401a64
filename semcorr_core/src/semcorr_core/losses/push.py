"""Geodesic-consistency push loss (seed 000, CPNet, Eq. 2-4).

The pull loss alone has a trivial optimum (a constant embedding). CPNet pushes apart points of
*different* correspondence sets, by a margin that grows with how far apart the two sets lie on
the surface:

* Eq. 2, set distance: the mean, over models, of the geodesic distance between the point of
  ``C_i`` and the point of ``C_j`` on the same model::

      d(C_i, C_j) = 1 / N_M * sum_k sum_{p, q in M_k, p in C_i, q in C_j} d_geo(p, q)

  (:func:`correspondence_set_distance`).
* Eq. 3, push loss: a hinge on every negative pair ``p in C_i, q in C_j, i != j`` (any two
  models, also the same one)::

      L_push = 1 / N_neg * sum_{i != j} sum_{p in C_i} sum_{q in C_j} max(0, d(C_i, C_j) - ||f(p) - f(q)||_2)

  so the embedding distance is compared *directly* with a geodesic length: embeddings live in the
  units of the supplied geodesic distances (metres, or whatever normalisation the caller uses).
  Pairs of sets that are close on the surface (small margin) may stay close in embedding space.
* Hard-negative mining (Sec. 5.2): only the ``N_pos`` negative pairs with the smallest embedding
  distance in the batch enter Eq. 3 (``N_pos`` = number of positive pairs of the batch, see
  :mod:`semcorr_core.losses.pull`), and ``N_neg`` becomes the number kept.
* Eq. 4: ``L = L_pull + lambda * L_push`` with ``lambda = 1`` in the paper
  (:class:`GeodesicConsistencyLoss`).

Batched representation: ``embeddings (B, N, D)`` and ``keypoint_index (B, K)`` exactly as in
:mod:`semcorr_core.losses.pull`; ``set_distance`` is the ``(K, K)`` matrix of Eq. 2 indexed by the
same set ids (columns of ``keypoint_index``). Eq. 2 averages over *all* models of the category:
compute it once over the training set with :func:`correspondence_set_distance` (per-model
keypoint geodesics e.g. from :class:`semcorr_core.geometry.GeodesicSolver`) and keep it in the
module's buffer, rather than re-estimating it from each batch.
"""

from __future__ import annotations

from typing import NamedTuple, Union

import torch
from torch import nn

from semcorr_core.errors import InputError
from semcorr_core.losses.hard_negatives import mine_hard_negatives
from semcorr_core.losses.pull import (
    _check_reduction,
    gather_correspondence_points,
    pairwise_embedding_distance,
    positive_pair_mask,
    pull_loss,
)

__all__ = ["correspondence_set_distance", "geodesic_push_loss", "GeodesicConsistencyLoss", "PushPullLossOutput"]


def correspondence_set_distance(pair_geodesic: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Eq. 2: mean geodesic distance between two correspondence sets, over the models holding both.

    Args:
        pair_geodesic: ``(M, K, K)`` float tensor; ``pair_geodesic[m, i, j]`` is the geodesic
            distance on model ``m`` between its point of set ``i`` and its point of set ``j``
            (units of the caller: metres or normalised). Entries involving an absent point are
            ignored (may be NaN).
        present: ``(M, K)`` bool, which sets each model has (e.g. ``keypoint_index >= 0``).

    Returns:
        ``(K, K)`` tensor ``d``, symmetric when the input is, zero diagonal. The paper divides by
        ``N_M`` (every set on every model); with missing points we divide by the number of models
        that hold *both* sets. Pairs of sets that never occur on a common model get ``0``, i.e.
        no push (their margin is unknown).

    Raises:
        InputError: shapes, non-finite or negative distances between present points.
    """
    if not isinstance(pair_geodesic, torch.Tensor) or pair_geodesic.dim() != 3 or not pair_geodesic.is_floating_point() \
            or pair_geodesic.shape[1] != pair_geodesic.shape[2]:
        raise InputError(
            "correspondence_set_distance: pair_geodesic must be a float (M, K, K) tensor of per-model geodesic "
            f"distances between the sets' points, got {getattr(pair_geodesic, 'shape', type(pair_geodesic).__name__)}"
        )
    M, K, _ = pair_geodesic.shape
    if not isinstance(present, torch.Tensor) or present.dtype != torch.bool or present.shape != (M, K):
        raise InputError(
            f"correspondence_set_distance: present must be a bool ({M}, {K}) tensor (e.g. keypoint_index >= 0), got "
            f"{getattr(present, 'dtype', type(present).__name__)} {tuple(getattr(present, 'shape', ()))}"
        )
    present = present.to(pair_geodesic.device)
    off_diag = ~torch.eye(K, dtype=torch.bool, device=pair_geodesic.device)
    both = present[:, :, None] & present[:, None, :] & off_diag  # (M, K, K), the diagonal is never used
    g = pair_geodesic[both]
    if not torch.isfinite(g).all() or (g < 0).any():
        raise InputError(
            "correspondence_set_distance: geodesic distances between present points must be finite and >= 0; "
            "mark unreachable or missing points as absent in `present`"
        )
    total = torch.where(both, pair_geodesic, torch.zeros_like(pair_geodesic)).sum(0)
    count = both.sum(0)
    d = total / count.clamp_min(1).to(total.dtype)
    return d.fill_diagonal_(0.0)


def _check_set_distance(set_distance: torch.Tensor, K: int, ref: torch.Tensor, where: str) -> torch.Tensor:
    if not isinstance(set_distance, torch.Tensor) or set_distance.shape != (K, K) or not set_distance.is_floating_point():
        raise InputError(
            f"{where}: set_distance must be a float ({K}, {K}) tensor (Eq. 2 margins indexed like the columns of "
            f"keypoint_index), got {getattr(set_distance, 'shape', type(set_distance).__name__)}"
        )
    d = set_distance.to(device=ref.device, dtype=ref.dtype)
    if not torch.isfinite(d).all() or (d < 0).any():
        raise InputError(f"{where}: set_distance must be finite and >= 0 (use 0 for set pairs that should not be pushed)")
    if not torch.allclose(d, d.T, rtol=1e-5, atol=1e-8):
        raise InputError(f"{where}: set_distance must be symmetric (geodesic distances are); got an asymmetric matrix")
    return d


def geodesic_push_loss(
    embeddings: torch.Tensor,
    keypoint_index: torch.Tensor,
    set_distance: torch.Tensor,
    *,
    hard_negatives: Union[bool, int] = True,
    reduction: str = "mean",
) -> torch.Tensor:
    """CPNet push loss, Eq. 3, with optional hard-negative mining (Sec. 5.2).

    Args:
        embeddings: ``(B, N, D)`` per-point embeddings.
        keypoint_index: ``(B, K)`` int, ``-1`` = absent (see :mod:`semcorr_core.losses.pull`).
        set_distance: ``(K, K)`` margins ``d(C_i, C_j)`` of Eq. 2, same units as the embedding
            distances are meant to have.
        hard_negatives: ``True`` (paper): keep as many negative pairs as there are positive pairs
            in the batch, those with the smallest embedding distance (all negatives if fewer;
            none if the batch has no positive pair). An ``int``: keep that many. ``False``: all
            negative pairs (Eq. 3 without mining).
        reduction: ``"mean"`` (over the negative pairs considered = ``N_neg``; ``0`` if none),
            ``"sum"``, or ``"none"`` (``(N_neg,)`` hinge values of the considered pairs).

    Returns:
        Scalar tensor (or ``(N_neg,)``), in the units of ``set_distance``.
    """
    where = "geodesic_push_loss"
    _check_reduction(reduction, where=where)
    pts = gather_correspondence_points(embeddings, keypoint_index, where=where)
    d_set = _check_set_distance(set_distance, keypoint_index.shape[1], embeddings, where)
    M = pts.set_id.shape[0]
    upper = torch.ones(M, M, dtype=torch.bool, device=embeddings.device).triu(1)
    negative = upper & (pts.set_id[:, None] != pts.set_id[None, :])
    dist = pairwise_embedding_distance(pts.features)  # (M, M)
    if hard_negatives is not False:
        if hard_negatives is True:
            n_keep = int(positive_pair_mask(pts).sum())
        elif isinstance(hard_negatives, int) and hard_negatives >= 0:
            n_keep = hard_negatives
        else:
            raise InputError(f"{where}: hard_negatives must be True, False or a non-negative int, got {hard_negatives!r}")
        # one pool for the whole batch (CPNet: "within each batch")
        negative = mine_hard_negatives(dist.reshape(-1), negative.reshape(-1), n_keep).reshape(M, M)
    margin = d_set[pts.set_id[:, None], pts.set_id[None, :]]  # (M, M)
    hinge = torch.relu(margin - dist)[negative]  # (N_neg,)
    if reduction == "none":
        return hinge
    total = hinge.sum() + 0.0 * embeddings.sum()
    if reduction == "sum":
        return total
    return total / max(int(hinge.numel()), 1)


class PushPullLossOutput(NamedTuple):
    """``loss = pull + push_weight * push`` (Eq. 4) and its two terms (scalars)."""

    loss: torch.Tensor
    pull: torch.Tensor
    push: torch.Tensor


class GeodesicConsistencyLoss(nn.Module):
    """CPNet training loss, Eq. 4: ``L = L_pull + lambda * L_push`` with hard-negative mining.

    State: the ``(K, K)`` Eq. 2 margin matrix as a buffer ``set_distance`` (moves with
    ``.to(device)``, saved in the state dict). No learnable parameters.

    Args:
        set_distance: ``(K, K)`` from :func:`correspondence_set_distance` over the training set.
        push_weight: ``lambda`` (paper: 1).
        hard_negatives: see :func:`geodesic_push_loss` (paper: ``True``).

    ``forward(embeddings (B, N, D), keypoint_index (B, K)) -> PushPullLossOutput``.
    """

    def __init__(self, set_distance: torch.Tensor, *, push_weight: float = 1.0, hard_negatives: Union[bool, int] = True):
        super().__init__()
        if not isinstance(set_distance, torch.Tensor) or set_distance.dim() != 2:
            raise InputError("GeodesicConsistencyLoss: set_distance must be a (K, K) tensor from correspondence_set_distance")
        K = set_distance.shape[0]
        _check_set_distance(set_distance, K, set_distance, "GeodesicConsistencyLoss")
        if not (push_weight >= 0 and float(push_weight) != float("inf")):
            raise InputError(f"GeodesicConsistencyLoss: push_weight must be finite and >= 0, got {push_weight}")
        self.register_buffer("set_distance", set_distance.detach().clone())
        self.push_weight = float(push_weight)
        self.hard_negatives = hard_negatives

    def forward(self, embeddings: torch.Tensor, keypoint_index: torch.Tensor) -> PushPullLossOutput:
        pull = pull_loss(embeddings, keypoint_index)
        push = geodesic_push_loss(embeddings, keypoint_index, self.set_distance, hard_negatives=self.hard_negatives)
        return PushPullLossOutput(pull + self.push_weight * push, pull, push)

    def extra_repr(self) -> str:
        return f"num_sets={self.set_distance.shape[0]}, push_weight={self.push_weight}, hard_negatives={self.hard_negatives}"
