"""Dense canonical cross-entropy: every point classified against descriptors of canonical places.

Seed 004's Eq. 4 asks the descriptor at an annotated keypoint to pick that keypoint's learnable
descriptor ``z_i`` out of all ``K`` (cosine similarity over a learned temperature ``tau``). Our
renderer and surface sampler know the exact canonical coordinate of *every* point, so the same
loss is applied to every point against ``C`` canonical places (farthest-point anchors on the
category surface plus the keypoints): class ``c`` sits at ``a_c`` in a normalised canonical space,
and point ``n`` with canonical position ``x_n`` gets the soft target::

    q_nc = exp(-|x_n - a_c|^2 / (2 sigma^2)) / sum_c' exp(-|x_n - a_c'|^2 / (2 sigma^2))

    loss = -1/|valid| sum_n sum_c q_nc log softmax_c( sim(f_n, z_c) / tau )

Soft targets make the embedding a smooth function of the canonical position (neighbouring places
get similar descriptors), which is what nearest-embedding transfer of a keypoint that was never a
class (seed 004's unseen keypoints) relies on. Compared with the pull/push losses of seed 000 this
gives every point a target and cannot collapse: the descriptors of distinct places compete in one
softmax.

Shapes: ``embeddings (B, N, D)``; ``positions (B, N, P)`` normalised canonical positions (``P = 3``,
or 2 for a rotation-symmetric category compared in ``(r, z)``); ``class_positions (C, P)``;
``descriptors (C, D)``; optional ``valid (B, N)`` bool. Values are in nats.
"""

from __future__ import annotations

import math
from typing import Optional, Union

import torch
from torch import nn

from semcorr_core.errors import InputError
from semcorr_core.losses.keypoint_ce import keypoint_logits, masked_soft_cross_entropy

__all__ = ["soft_canonical_targets", "canonical_ce_loss", "DenseCanonicalCrossEntropy"]


def soft_canonical_targets(positions: torch.Tensor, class_positions: torch.Tensor, sigma: float) -> torch.Tensor:
    """``(B, N, P)`` positions, ``(C, P)`` class positions (or ``(B, C, P)``: per sample, e.g. a
    keypoint class placed at that instance's own keypoint) -> ``(B, N, C)`` Gaussian soft labels
    (rows sum to 1). ``sigma`` is in the units of the positions."""
    where = "soft_canonical_targets"
    if not isinstance(positions, torch.Tensor) or positions.dim() != 3 or not positions.is_floating_point():
        raise InputError(f"{where}: positions must be a float (B, N, P) tensor, got "
                         f"{getattr(positions, 'shape', type(positions).__name__)}")
    B, _, P = positions.shape
    ok = isinstance(class_positions, torch.Tensor) and class_positions.shape[-1:] == (P,) and (
        class_positions.dim() == 2 or (class_positions.dim() == 3 and class_positions.shape[0] == B))
    if not ok:
        raise InputError(f"{where}: class_positions must be a (C, {P}) or ({B}, C, {P}) tensor, got "
                         f"{getattr(class_positions, 'shape', type(class_positions).__name__)}")
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not math.isfinite(sigma) or sigma <= 0:
        raise InputError(f"{where}: sigma must be a finite float > 0, got {sigma!r}")
    if not torch.isfinite(positions).all():
        raise InputError(f"{where}: positions contain NaN or inf (mask such points out before building targets)")
    if not torch.isfinite(class_positions).all():
        raise InputError(f"{where}: class_positions contain NaN or inf")
    a = class_positions.to(device=positions.device, dtype=positions.dtype)
    if a.dim() == 3:
        a = a[:, None]  # (B, 1, C, P) against (B, N, 1, P)
    d2 = (positions[..., None, :] - a).pow(2).sum(-1)  # (B, N, C)
    return torch.softmax(-d2 / (2.0 * float(sigma) ** 2), dim=-1)


def canonical_ce_loss(
    embeddings: torch.Tensor,
    descriptors: torch.Tensor,
    targets: torch.Tensor,
    temperature: Union[float, torch.Tensor],
    *,
    valid: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Mean over valid points of ``-sum_c targets * log softmax(sim(f, z_c) / tau)``.

    Args:
        embeddings: ``(B, N, D)`` per-point embeddings (normalised here; cosine similarity).
        descriptors: ``(C, D)`` class descriptors.
        targets: ``(B, N, C)`` soft labels (e.g. :func:`soft_canonical_targets`), rows summing to 1.
        temperature: ``tau > 0``.
        valid: optional ``(B, N)`` bool; points without ground truth are left out.

    Returns:
        Scalar tensor in nats; 0 (with a graph) when no point is valid.
    """
    where = "canonical_ce_loss"
    if not isinstance(embeddings, torch.Tensor) or embeddings.dim() != 3 or not embeddings.is_floating_point():
        raise InputError(f"{where}: embeddings must be a float (B, N, D) tensor, got "
                         f"{getattr(embeddings, 'shape', type(embeddings).__name__)}")
    B, N, _ = embeddings.shape
    if not isinstance(descriptors, torch.Tensor) or descriptors.dim() != 2:
        raise InputError(f"{where}: descriptors must be a (C, D) tensor, got "
                         f"{getattr(descriptors, 'shape', type(descriptors).__name__)}")
    C = descriptors.shape[0]
    if not isinstance(targets, torch.Tensor) or targets.shape != (B, N, C):
        raise InputError(f"{where}: targets must be ({B}, {N}, {C}) (one distribution over the {C} classes per point), "
                         f"got {tuple(getattr(targets, 'shape', ()))}")
    logits = keypoint_logits(embeddings, descriptors, temperature)  # (B, N, C)
    return masked_soft_cross_entropy(logits, targets, valid, where)


class DenseCanonicalCrossEntropy(nn.Module):
    """Learnable class descriptors and log-temperature with fixed class positions.

    Args:
        class_positions: ``(C, P)`` canonical places (normalised units), stored as a buffer.
        dim: embedding dimension ``D``.
        sigma: soft-label width, same units as the positions.
        init_temperature: initial ``tau`` (learned, as in seed 004).
        generator: for the ``N(0, 1)`` initialisation of the descriptors.

    ``forward(embeddings (B, N, D), positions (B, N, P), valid=None, class_positions=None)``: the
    optional ``(B, C, P)`` class positions replace the stored ones for that batch (same ``C``).
    """

    def __init__(self, class_positions: torch.Tensor, dim: int, *, sigma: float = 0.05, init_temperature: float = 0.1,
                 generator: Optional[torch.Generator] = None) -> None:
        super().__init__()
        if not isinstance(class_positions, torch.Tensor) or class_positions.dim() != 2 or len(class_positions) < 2:
            raise InputError("DenseCanonicalCrossEntropy: class_positions must be a (C, P) tensor with C >= 2, got "
                             f"{getattr(class_positions, 'shape', type(class_positions).__name__)}")
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise InputError(f"DenseCanonicalCrossEntropy: dim must be a positive int, got {dim!r}")
        if not (isinstance(init_temperature, (int, float)) and math.isfinite(init_temperature) and init_temperature > 0):
            raise InputError(f"DenseCanonicalCrossEntropy: init_temperature must be finite and > 0, got {init_temperature!r}")
        soft_canonical_targets(class_positions[None].float(), class_positions.float(), sigma)  # validates sigma
        self.register_buffer("class_positions", class_positions.detach().float().clone())
        self.descriptors = nn.Parameter(torch.randn(len(class_positions), dim, generator=generator))
        self.log_temperature = nn.Parameter(torch.tensor(math.log(init_temperature)))
        self.sigma = float(sigma)

    @property
    def temperature(self) -> torch.Tensor:
        return self.log_temperature.exp()

    def forward(self, embeddings: torch.Tensor, positions: torch.Tensor, valid: Optional[torch.Tensor] = None,
                class_positions: Optional[torch.Tensor] = None) -> torch.Tensor:
        classes = self.class_positions if class_positions is None else class_positions
        if classes.shape[-2:] != self.class_positions.shape:
            raise InputError(f"DenseCanonicalCrossEntropy: class_positions must be (B, {self.class_positions.shape[0]}, "
                             f"{self.class_positions.shape[1]}), got {tuple(classes.shape)}")
        targets = soft_canonical_targets(positions, classes, self.sigma)
        return canonical_ce_loss(embeddings, self.descriptors, targets, self.temperature, valid=valid)

    def extra_repr(self) -> str:
        C, D = self.descriptors.shape
        return f"classes={C}, dim={D}, sigma={self.sigma:g}, temperature={float(self.temperature):.4g}"
