"""Keypoint-descriptor cross-entropy with a learned temperature (seed 004, "Jamais Vu", Eq. 4).

Each canonical keypoint ``p_i`` of the category prototype gets a learnable descriptor ``z_i``
(``Z = {z_1..z_K}``). The dense descriptor ``Phi(I, u)`` sampled at the annotated pixel of
keypoint ``i`` must pick ``z_i`` among all ``K`` keypoint descriptors::

    min_{Phi, Z}  -1/N sum_n sum_i log( exp(sim(z_i, Phi(I_n, k_i^n)) / tau)
                                        / sum_j exp(sim(z_j, Phi(I_n, k_i^n)) / tau) )       (Eq. 4)

with cosine similarity ``sim`` and a *learned* temperature ``tau``. The sum over ``i`` runs over
the keypoints annotated (visible) in image ``n``; the softmax runs over *all* keypoints of the
category (visible or not). The same ``Z`` and ``tau`` define the canonical-coordinate attention
of Eq. 5, so :class:`KeypointCrossEntropy` exposes ``descriptors`` and ``temperature`` for it.

The temperature is parameterised as ``tau = exp(log_tau)`` (always positive, gradient-friendly).
The paper gives no initial value; we start at ``tau = 0.1``.

Shapes: ``features (B, K, D)`` (``features[b, i] = Phi(I_b, k_i^b)``, arbitrary for invisible
keypoints), ``descriptors (K, D)`` (or ``(B, K, D)``), ``visible (B, K)`` bool, optional
``class_mask`` ``(K,)`` / ``(B, K)`` bool for padded keypoint slots (excluded from the softmax).

Reductions: ``"image_mean"`` is Eq. 4 literally (sum over the visible keypoints of an image,
mean over the ``B`` images); ``"mean"`` averages over all visible keypoints of the batch;
``"sum"``; ``"none"`` -> ``(B, K)`` with zeros at invisible keypoints. Values are in nats.
"""

from __future__ import annotations

import math
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from semcorr_core.errors import InputError

__all__ = ["keypoint_logits", "keypoint_ce_loss", "KeypointCrossEntropy"]

_REDUCTIONS = ("image_mean", "mean", "sum", "none")


def masked_soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, valid: Optional[torch.Tensor],
                              where: str) -> torch.Tensor:
    """Mean over valid rows of ``-sum_j targets * log_softmax(logits)`` along the last axis.

    ``logits`` and ``targets`` ``(B, R, J)``; ``valid`` ``(B, R)`` bool or ``None`` (all rows).
    Returns a scalar, 0 (with a graph) when no row is valid. The shared core of the dense
    canonical cross-entropy (rows = points, softmax over classes) and keypoint retrieval (rows =
    keypoints, softmax over points).
    """
    B, R = logits.shape[:2]
    if valid is None:
        valid = torch.ones(B, R, dtype=torch.bool, device=logits.device)
    elif not isinstance(valid, torch.Tensor) or valid.dtype != torch.bool or valid.shape != (B, R):
        raise InputError(f"{where}: valid must be a bool ({B}, {R}) tensor, got "
                         f"{getattr(valid, 'dtype', type(valid).__name__)} {tuple(getattr(valid, 'shape', ()))}")
    nll = -(targets.to(logits.dtype) * torch.log_softmax(logits, dim=-1)).sum(-1)  # (B, R)
    valid = valid.to(logits.device)
    return torch.where(valid, nll, torch.zeros_like(nll)).sum() / max(int(valid.sum()), 1)


def _check_temperature(temperature, ref: torch.Tensor, where: str) -> torch.Tensor:
    if isinstance(temperature, torch.Tensor):
        if temperature.numel() != 1 or not temperature.is_floating_point():
            raise InputError(f"{where}: temperature must be a positive float or a one-element float tensor, got shape "
                             f"{tuple(temperature.shape)} {temperature.dtype}")
        tau = temperature.reshape(()).to(device=ref.device, dtype=ref.dtype)
    elif isinstance(temperature, (int, float)) and not isinstance(temperature, bool):
        tau = torch.tensor(float(temperature), dtype=ref.dtype, device=ref.device)
    else:
        raise InputError(f"{where}: temperature must be a positive float or tensor, got {type(temperature).__name__}")
    tv = float(tau.detach())
    if not math.isfinite(tv) or tv <= 0:
        raise InputError(f"{where}: temperature must be finite and > 0, got {tv}")
    return tau


def keypoint_logits(
    features: torch.Tensor,
    descriptors: torch.Tensor,
    temperature: Union[float, torch.Tensor],
    *,
    eps: float = 1e-8,
) -> torch.Tensor:
    """``sim(z_j, f) / tau`` for every query feature and keypoint descriptor.

    Args:
        features: ``(B, Q, D)`` query descriptors ``Phi(I, u)`` (keypoint pixels, or any pixels).
        descriptors: ``(K, D)`` or ``(B, K, D)`` keypoint descriptors ``Z``.
        temperature: ``tau > 0``.
        eps: norm floor of the cosine similarity.

    Returns:
        ``(B, Q, K)`` logits. ``softmax(-1)`` of them are the attention weights of Eq. 5.
    """
    where = "keypoint_logits"
    if not isinstance(features, torch.Tensor) or features.dim() != 3 or not features.is_floating_point():
        raise InputError(f"{where}: features must be a float (B, Q, D) tensor, got "
                         f"{getattr(features, 'shape', type(features).__name__)}; use x[None] for one image")
    B, _, D = features.shape
    if not isinstance(descriptors, torch.Tensor) or not descriptors.is_floating_point() or descriptors.dim() not in (2, 3) \
            or descriptors.shape[-1] != D or (descriptors.dim() == 3 and descriptors.shape[0] != B):
        raise InputError(f"{where}: descriptors must be a float (K, {D}) or ({B}, K, {D}) tensor, got "
                         f"{getattr(descriptors, 'shape', type(descriptors).__name__)}")
    if descriptors.device != features.device:
        raise InputError(f"{where}: descriptors are on {descriptors.device} but features on {features.device}")
    tau = _check_temperature(temperature, features, where)
    f = F.normalize(features, dim=-1, eps=eps)
    z = F.normalize(descriptors.to(features.dtype), dim=-1, eps=eps)
    sim = f @ z.transpose(-1, -2) if z.dim() == 3 else f @ z.T  # (B, Q, K)
    return sim / tau


def keypoint_ce_loss(
    features: torch.Tensor,
    descriptors: torch.Tensor,
    visible: torch.Tensor,
    temperature: Union[float, torch.Tensor],
    *,
    class_mask: Optional[torch.Tensor] = None,
    reduction: str = "image_mean",
) -> torch.Tensor:
    """Eq. 4 of seed 004.

    Args:
        features: ``(B, K, D)``; ``features[b, i]`` is the dense descriptor sampled at keypoint
            ``i`` of image ``b`` (rows of invisible keypoints are ignored and may be NaN).
        descriptors: ``(K, D)`` learnable keypoint descriptors ``Z`` (or ``(B, K, D)``).
        visible: ``(B, K)`` bool, which keypoints are annotated in each image.
        temperature: ``tau > 0`` (float or a scalar tensor carrying gradient, e.g. ``exp(log_tau)``).
        class_mask: optional ``(K,)`` or ``(B, K)`` bool; ``False`` slots are not keypoints of the
            category (padding) and are removed from the softmax. Visible keypoints must be valid.
        reduction: see the module docstring (default ``"image_mean"`` = Eq. 4).

    Returns:
        Scalar tensor in nats (or ``(B, K)`` for ``"none"``).
    """
    where = "keypoint_ce_loss"
    if reduction not in _REDUCTIONS:
        raise InputError(f"{where}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if not isinstance(features, torch.Tensor) or features.dim() != 3 or not features.is_floating_point():
        raise InputError(f"{where}: features must be a float (B, K, D) tensor (descriptors at the K keypoint pixels), got "
                         f"{getattr(features, 'shape', type(features).__name__)}")
    B, K, D = features.shape
    if not isinstance(descriptors, torch.Tensor) or descriptors.shape[-2:] != (K, D):
        raise InputError(f"{where}: descriptors must be ({K}, {D}) (one per keypoint slot of features), got "
                         f"{getattr(descriptors, 'shape', type(descriptors).__name__)}")
    if not isinstance(visible, torch.Tensor) or visible.dtype != torch.bool or visible.shape != (B, K):
        raise InputError(f"{where}: visible must be a bool ({B}, {K}) tensor, got "
                         f"{getattr(visible, 'dtype', type(visible).__name__)} {tuple(getattr(visible, 'shape', ()))}")
    visible = visible.to(features.device)
    if not torch.isfinite(features[visible]).all():
        raise InputError(f"{where}: features of visible keypoints contain NaN or inf")
    if not torch.isfinite(descriptors).all():
        raise InputError(f"{where}: descriptors contain NaN or inf")
    if class_mask is None:
        cm = torch.ones(B, K, dtype=torch.bool, device=features.device)
    else:
        if not isinstance(class_mask, torch.Tensor) or class_mask.dtype != torch.bool or class_mask.shape not in ((K,), (B, K)):
            raise InputError(f"{where}: class_mask must be a bool ({K},) or ({B}, {K}) tensor, got "
                             f"{getattr(class_mask, 'shape', type(class_mask).__name__)}")
        cm = class_mask.to(features.device).expand(B, K)
        if (visible & ~cm).any():
            raise InputError(f"{where}: a visible keypoint has class_mask False; padded slots cannot be annotated")
    safe = torch.where(visible[..., None], features, torch.ones_like(features))
    logits = keypoint_logits(safe, descriptors, temperature)  # (B, K_query, K_class)
    logits = logits.masked_fill(~cm[:, None, :], float("-inf"))
    logp = torch.log_softmax(logits, dim=-1)
    nll = -torch.diagonal(logp, dim1=1, dim2=2)  # (B, K): -log p(class i | query i)
    nll = torch.where(visible, nll, torch.zeros_like(nll))
    if reduction == "none":
        return nll
    total = nll.sum()
    if reduction == "sum":
        return total
    if reduction == "image_mean":
        return total / max(B, 1)
    return total / max(int(visible.sum()), 1)


class KeypointCrossEntropy(nn.Module):
    """Learnable keypoint descriptors ``Z`` (``(K, D)``) and log-temperature, with the Eq. 4 loss.

    Args:
        num_keypoints: ``K``.
        dim: descriptor dimension ``D`` (that of ``Phi``).
        init_temperature: initial ``tau`` (default 0.1; the paper does not state one).
        learn_temperature: ``False`` keeps ``log_temperature`` as a buffer (fixed ``tau``).
        min_temperature: optional floor applied to ``tau`` in ``forward`` (no gradient below it).
        reduction: see :func:`keypoint_ce_loss`.
        generator: for the ``N(0, 1)`` initialisation of ``Z``.

    ``forward(features (B, K, D), visible (B, K), class_mask=None) -> scalar loss``.
    """

    def __init__(
        self,
        num_keypoints: int,
        dim: int,
        *,
        init_temperature: float = 0.1,
        learn_temperature: bool = True,
        min_temperature: Optional[float] = None,
        reduction: str = "image_mean",
        generator: Optional[torch.Generator] = None,
    ):
        super().__init__()
        for name, v in (("num_keypoints", num_keypoints), ("dim", dim)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"KeypointCrossEntropy: {name} must be a positive int, got {v!r}")
        if not (isinstance(init_temperature, (int, float)) and math.isfinite(init_temperature) and init_temperature > 0):
            raise InputError(f"KeypointCrossEntropy: init_temperature must be finite and > 0, got {init_temperature!r}")
        if min_temperature is not None and not (math.isfinite(min_temperature) and 0 < min_temperature <= init_temperature):
            raise InputError(f"KeypointCrossEntropy: min_temperature must be in (0, init_temperature], got {min_temperature!r}")
        if reduction not in _REDUCTIONS:
            raise InputError(f"KeypointCrossEntropy: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.descriptors = nn.Parameter(torch.randn(num_keypoints, dim, generator=generator))
        log_tau = torch.tensor(math.log(init_temperature))
        if learn_temperature:
            self.log_temperature = nn.Parameter(log_tau)
        else:
            self.register_buffer("log_temperature", log_tau)
        self.min_temperature = min_temperature
        self.reduction = reduction

    @property
    def temperature(self) -> torch.Tensor:
        """``tau = exp(log_temperature)`` (floored at ``min_temperature`` if set), scalar tensor."""
        tau = self.log_temperature.exp()
        return tau if self.min_temperature is None else tau.clamp_min(self.min_temperature)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, Q, D) -> (B, Q, K)`` ``sim(z_j, f) / tau`` (the Eq. 5 attention logits)."""
        return keypoint_logits(features, self.descriptors, self.temperature)

    def forward(self, features: torch.Tensor, visible: torch.Tensor, class_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        return keypoint_ce_loss(features, self.descriptors, visible, self.temperature, class_mask=class_mask,
                                reduction=self.reduction)

    def extra_repr(self) -> str:
        K, D = self.descriptors.shape
        return f"num_keypoints={K}, dim={D}, temperature={float(self.temperature):.4g}"
