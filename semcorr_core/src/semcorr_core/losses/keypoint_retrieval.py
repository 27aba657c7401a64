"""Keypoint retrieval: each keypoint descriptor must pick its own point out of the cloud.

Keypoint transfer at run time asks, for keypoint ``k`` with descriptor ``z_k``, *which point* of
a new cloud is most similar (:func:`~semcorr_core.keypoints.nearest_embedding_transfer`). The
classification losses (:mod:`.keypoint_ce`, :mod:`.canonical_ce`) train the other direction,
*which class* each point belongs to, normalised per point; a point that is a little similar to
every class can still out-score the right point in the per-keypoint ranking. This loss trains the
ranking itself: a softmax over the ``N`` points of ``sim(z_k, f_n) / tau`` against a soft target
concentrated at the keypoint's place (Gaussian in a normalised canonical space, so that on a
rotation-symmetric part the whole ring of equivalent points is right)::

    w_kn = exp(-|x_n - a_k|^2 / (2 sigma^2)) / sum_n' exp(-|x_n' - a_k|^2 / (2 sigma^2))
    loss = -1/|valid| sum_(b,k valid) sum_n w_bkn log softmax_n( sim(z_k, f_bn) / tau )

It is the column-wise half of a dual softmax over the (points x keypoints) similarity matrix.

Shapes: ``embeddings (B, N, D)``; ``descriptors (K, D)``; ``positions (B, N, P)``;
``keypoint_positions (B, K, P)`` (each instance's own keypoint place); ``valid (B, K)`` bool
(a keypoint absent from a partial view is left out). Values in nats.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from semcorr_core.errors import InputError
from semcorr_core.losses.keypoint_ce import keypoint_logits, masked_soft_cross_entropy

__all__ = ["keypoint_retrieval_targets", "keypoint_retrieval_loss", "KeypointRetrieval"]


def keypoint_retrieval_targets(positions: torch.Tensor, keypoint_positions: torch.Tensor, sigma: float) -> torch.Tensor:
    """``(B, N, P)`` point positions, ``(B, K, P)`` keypoint places -> ``(B, K, N)`` weights over
    the points (rows sum to 1), Gaussian of width ``sigma`` (units of the positions)."""
    where = "keypoint_retrieval_targets"
    if not isinstance(positions, torch.Tensor) or positions.dim() != 3 or not positions.is_floating_point():
        raise InputError(f"{where}: positions must be a float (B, N, P) tensor, got "
                         f"{getattr(positions, 'shape', type(positions).__name__)}")
    B, _, P = positions.shape
    if not isinstance(keypoint_positions, torch.Tensor) or keypoint_positions.dim() != 3 \
            or keypoint_positions.shape[0] != B or keypoint_positions.shape[-1] != P:
        raise InputError(f"{where}: keypoint_positions must be a ({B}, K, {P}) tensor, got "
                         f"{getattr(keypoint_positions, 'shape', type(keypoint_positions).__name__)}")
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not math.isfinite(sigma) or sigma <= 0:
        raise InputError(f"{where}: sigma must be a finite float > 0, got {sigma!r}")
    d2 = torch.cdist(keypoint_positions.to(positions.dtype), positions).pow(2)  # (B, K, N)
    return torch.softmax(-d2 / (2.0 * float(sigma) ** 2), dim=-1)


def keypoint_retrieval_loss(embeddings: torch.Tensor, descriptors: torch.Tensor, targets: torch.Tensor,
                            temperature: torch.Tensor | float, *, valid: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Mean over valid (cloud, keypoint) pairs of ``-sum_n targets * log softmax_n(sim / tau)``.

    Args:
        embeddings: ``(B, N, D)`` per-point embeddings (cosine similarity; need not be unit).
        descriptors: ``(K, D)`` keypoint descriptors.
        targets: ``(B, K, N)`` weights over the points (:func:`keypoint_retrieval_targets`).
        temperature: ``tau > 0``.
        valid: optional ``(B, K)`` bool.

    Returns:
        Scalar tensor in nats; 0 (with a graph) when nothing is valid.
    """
    where = "keypoint_retrieval_loss"
    if not isinstance(embeddings, torch.Tensor) or embeddings.dim() != 3:
        raise InputError(f"{where}: embeddings must be a (B, N, D) tensor, got "
                         f"{getattr(embeddings, 'shape', type(embeddings).__name__)}")
    B, N, _ = embeddings.shape
    if not isinstance(descriptors, torch.Tensor) or descriptors.dim() != 2:
        raise InputError(f"{where}: descriptors must be a (K, D) tensor, got "
                         f"{getattr(descriptors, 'shape', type(descriptors).__name__)}")
    K = descriptors.shape[0]
    if not isinstance(targets, torch.Tensor) or targets.shape != (B, K, N):
        raise InputError(f"{where}: targets must be ({B}, {K}, {N}) (one distribution over the points per "
                         f"keypoint), got {tuple(getattr(targets, 'shape', ()))}")
    logits = keypoint_logits(embeddings, descriptors, temperature).transpose(1, 2)  # (B, K, N)
    return masked_soft_cross_entropy(logits, targets, valid, where)


class KeypointRetrieval(nn.Module):
    """The loss with a learned temperature (seed 004 learns its ``tau`` too); the descriptors
    are passed in, so they can be shared with a classification head.

    ``forward(embeddings, descriptors, positions, keypoint_positions, valid=None)``.
    """

    def __init__(self, *, sigma: float = 0.025, init_temperature: float = 0.05) -> None:
        super().__init__()
        if not (isinstance(init_temperature, (int, float)) and math.isfinite(init_temperature) and init_temperature > 0):
            raise InputError(f"KeypointRetrieval: init_temperature must be finite and > 0, got {init_temperature!r}")
        keypoint_retrieval_targets(torch.zeros(1, 1, 1), torch.zeros(1, 1, 1), sigma)  # validates sigma
        self.sigma = float(sigma)
        self.log_temperature = nn.Parameter(torch.tensor(math.log(init_temperature)))

    @property
    def temperature(self) -> torch.Tensor:
        return self.log_temperature.exp()

    def forward(self, embeddings: torch.Tensor, descriptors: torch.Tensor, positions: torch.Tensor,
                keypoint_positions: torch.Tensor, valid: Optional[torch.Tensor] = None) -> torch.Tensor:
        targets = keypoint_retrieval_targets(positions, keypoint_positions, self.sigma)
        return keypoint_retrieval_loss(embeddings, descriptors, targets, self.temperature, valid=valid)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma:g}, temperature={float(self.temperature):.4g}"
