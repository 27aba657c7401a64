"""Pull loss on correspondence sets (seed 000, CPNet, Eq. 1).

CPNet learns per-point embeddings ``f(p)`` from *correspondence sets* ``C_k``: a correspondence
set holds the points that carry the same semantic label on different models of a category (one
point per model at most; a model may miss a set). Any two distinct points of one set form a
positive pair, and the pull loss is the mean embedding distance over all positive pairs::

    L_pull = 1 / N_pos * sum_k sum_{p, q in C_k, p != q} || f(p) - f(q) ||_2        (Eq. 1)

``N_pos`` is the number of positive pairs. ``|| . ||_2`` is the Euclidean norm (not squared).
The paper's double sum visits each unordered pair twice and ``N_pos`` counts it twice too, so the
mean over *unordered* pairs used here is the same number.

Batched representation (shared by :mod:`semcorr_core.losses.push`)
-------------------------------------------------------------------
* ``embeddings``: ``(B, N, D)`` float tensor, the dense per-point embeddings of ``B`` clouds
  (models) of one category.
* ``keypoint_index``: ``(B, K)`` integer tensor. Column ``k`` is correspondence set ``C_k``;
  ``keypoint_index[b, k]`` is the index (into ``embeddings[b]``) of the point of ``C_k`` on cloud
  ``b``, or ``-1`` when cloud ``b`` has no point of ``C_k``. ``K`` may be the number of sets of
  the whole category (global set ids) - most entries are then ``-1``.

Positive pairs therefore link the same column across two different rows. A batch with a single
cloud (or no set present on two clouds) has no positive pair; the loss is then ``0`` (still
attached to the graph, so ``backward`` works and gives zero gradients).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from semcorr_core.errors import InputError

__all__ = ["CorrespondencePoints", "gather_correspondence_points", "positive_pair_mask", "pairwise_embedding_distance", "pull_loss"]

_REDUCTIONS = ("mean", "sum", "none")


class CorrespondencePoints(NamedTuple):
    """The annotated points of a batch, flattened.

    ``features`` ``(M, D)`` their embeddings, ``set_id`` ``(M,)`` the correspondence set (column
    of ``keypoint_index``), ``cloud_id`` ``(M,)`` the cloud (row). Points are ordered row-major
    over ``(b, k)``.
    """

    features: torch.Tensor
    set_id: torch.Tensor
    cloud_id: torch.Tensor


def _check_reduction(reduction: str, allowed=_REDUCTIONS, where: str = "loss") -> None:
    if reduction not in allowed:
        raise InputError(f"{where}: reduction must be one of {allowed}, got {reduction!r}")


def gather_correspondence_points(embeddings: torch.Tensor, keypoint_index: torch.Tensor, *, where: str = "pull_loss") -> CorrespondencePoints:
    """Validate the batched representation and gather the annotated points' embeddings.

    Args:
        embeddings: ``(B, N, D)`` float tensor, finite.
        keypoint_index: ``(B, K)`` integer tensor, values in ``[-1, N - 1]`` (``-1`` = absent).

    Returns:
        :class:`CorrespondencePoints` for the ``M`` present entries (differentiable w.r.t.
        ``embeddings``).

    Raises:
        InputError: wrong types, shapes, dtypes, out-of-range indices, or NaN/inf embeddings.
    """
    if not isinstance(embeddings, torch.Tensor) or embeddings.dim() != 3 or not embeddings.is_floating_point():
        raise InputError(
            f"{where}: embeddings must be a float (B, N, D) tensor, got "
            f"{getattr(embeddings, 'shape', type(embeddings).__name__)}; use x[None] for a single cloud"
        )
    B, N, _ = embeddings.shape
    if not isinstance(keypoint_index, torch.Tensor) or keypoint_index.dim() != 2 or keypoint_index.shape[0] != B:
        raise InputError(
            f"{where}: keypoint_index must be a ({B}, K) integer tensor (column k = correspondence set k, "
            f"-1 where a cloud has no point of that set), got {getattr(keypoint_index, 'shape', type(keypoint_index).__name__)}"
        )
    if keypoint_index.is_floating_point() or keypoint_index.is_complex() or keypoint_index.dtype == torch.bool:
        raise InputError(f"{where}: keypoint_index must hold integer point indices, got dtype {keypoint_index.dtype}")
    idx = keypoint_index.to(device=embeddings.device, dtype=torch.int64)
    if idx.numel() and ((idx < -1).any() or (idx >= N).any()):
        raise InputError(f"{where}: keypoint_index values must be in [-1, N-1] = [-1, {N - 1}] (-1 marks an absent point)")
    if not torch.isfinite(embeddings).all():
        raise InputError(f"{where}: embeddings contain NaN or inf; check the network output (e.g. a division by a zero norm)")
    present = idx >= 0
    b, k = torch.nonzero(present, as_tuple=True)
    return CorrespondencePoints(embeddings[b, idx[b, k]], k, b)


def positive_pair_mask(points: CorrespondencePoints) -> torch.Tensor:
    """``(M, M)`` bool, ``True`` for unordered positive pairs ``(p, q)``, ``p < q`` in the flat order:
    same correspondence set (hence different clouds)."""
    M = points.set_id.shape[0]
    upper = torch.ones(M, M, dtype=torch.bool, device=points.set_id.device).triu(1)
    return upper & (points.set_id[:, None] == points.set_id[None, :])


def pairwise_embedding_distance(features: torch.Tensor) -> torch.Tensor:
    """``(M, D) -> (M, M)`` Euclidean distances; the gradient at a zero distance is 0 (not NaN)."""
    return torch.linalg.vector_norm(features[:, None, :] - features[None, :, :], dim=-1)


def pull_loss(embeddings: torch.Tensor, keypoint_index: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """CPNet pull loss, Eq. 1.

    Args:
        embeddings: ``(B, N, D)`` per-point embeddings (any float dtype/device).
        keypoint_index: ``(B, K)`` int, see the module docstring.
        reduction: ``"mean"`` (Eq. 1: mean over positive pairs, ``0`` if there is none), ``"sum"``,
            or ``"none"`` (``(N_pos,)`` per-pair distances, pairs ordered row-major over the flat
            point order of :func:`gather_correspondence_points`).

    Returns:
        Scalar tensor (or ``(N_pos,)``) in embedding units, on the embeddings' device.
    """
    _check_reduction(reduction, where="pull_loss")
    pts = gather_correspondence_points(embeddings, keypoint_index, where="pull_loss")
    pos = positive_pair_mask(pts)
    dist = pairwise_embedding_distance(pts.features)[pos]  # (N_pos,)
    if reduction == "none":
        return dist
    total = dist.sum() + 0.0 * embeddings.sum()  # keeps the graph when N_pos == 0
    if reduction == "sum":
        return total
    return total / max(int(dist.numel()), 1)
