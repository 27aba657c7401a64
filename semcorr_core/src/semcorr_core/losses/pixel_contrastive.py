"""Cross-instance pixel contrastive loss (InfoNCE) from exact rendered correspondences.

Two crops ``A`` and ``B`` show *different* instances of a category. The renderer gives every
pixel its canonical position in one shared frame (the prototype's, after each instance is warped
onto it), so pixel ``n`` of ``A`` corresponds to the pixel ``j*(n)`` of ``B`` nearest to it in
that frame, when that one lies within ``tol``. With cosine similarities over a temperature::

    loss = mean over anchors n with a match of  -log softmax_j( sim(f^A_n, f^B_j) / tau )[j*(n)]

The other sampled pixels of ``B`` are the negatives. Pixels without ground truth (``valid``
False) are neither anchors nor candidates.

Shapes: ``features_a, features_b (B, N, D)``; ``positions_a, positions_b (B, N, P)``;
``valid_a, valid_b (B, N)`` bool. Values in nats.
"""

from __future__ import annotations

from typing import Optional, Union

import torch

from semcorr_core.errors import InputError
from semcorr_core.losses.keypoint_ce import _check_temperature

__all__ = ["pixel_contrastive_loss"]


def pixel_contrastive_loss(features_a: torch.Tensor, features_b: torch.Tensor, positions_a: torch.Tensor,
                           positions_b: torch.Tensor, *, tol: float, temperature: Union[float, torch.Tensor],
                           valid_a: Optional[torch.Tensor] = None,
                           valid_b: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Mean InfoNCE over the matched anchors (module docstring); 0 with a graph when none match."""
    where = "pixel_contrastive_loss"
    for name, f in (("features_a", features_a), ("features_b", features_b)):
        if not isinstance(f, torch.Tensor) or f.dim() != 3 or not f.is_floating_point():
            raise InputError(f"{where}: {name} must be a float (B, N, D) tensor, got "
                             f"{getattr(f, 'shape', type(f).__name__)}")
    B, N, D = features_a.shape
    if features_b.shape[0] != B or features_b.shape[2] != D:
        raise InputError(f"{where}: features_b must be ({B}, M, {D}), got {tuple(features_b.shape)}")
    M = features_b.shape[1]
    if not isinstance(positions_a, torch.Tensor) or positions_a.shape[:2] != (B, N) or positions_a.dim() != 3:
        raise InputError(f"{where}: positions_a must be ({B}, {N}, P), got {tuple(getattr(positions_a, 'shape', ()))}")
    if not isinstance(positions_b, torch.Tensor) or positions_b.shape != (B, M, positions_a.shape[2]):
        raise InputError(f"{where}: positions_b must be ({B}, {M}, {positions_a.shape[2]}), got "
                         f"{tuple(getattr(positions_b, 'shape', ()))}")
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol > 0:
        raise InputError(f"{where}: tol must be a float > 0, got {tol!r}")
    tau = _check_temperature(temperature, features_a, where)
    va = torch.ones(B, N, dtype=torch.bool, device=features_a.device) if valid_a is None else valid_a.bool()
    vb = torch.ones(B, M, dtype=torch.bool, device=features_a.device) if valid_b is None else valid_b.bool()
    if va.shape != (B, N) or vb.shape != (B, M):
        raise InputError(f"{where}: valid_a must be ({B}, {N}) and valid_b ({B}, {M}), got "
                         f"{tuple(va.shape)} and {tuple(vb.shape)}")
    pa = torch.where(va[..., None], positions_a, torch.zeros_like(positions_a))
    pb = torch.where(vb[..., None], positions_b, torch.zeros_like(positions_b))
    if not (torch.isfinite(pa).all() and torch.isfinite(pb).all()):
        raise InputError(f"{where}: valid positions contain NaN or inf")
    dist = torch.cdist(pa, pb).masked_fill(~vb[:, None, :], float("inf"))  # (B, N, M)
    nearest, target = dist.min(dim=-1)
    anchors = va & (nearest <= float(tol))
    fa = torch.nn.functional.normalize(features_a, dim=-1)
    fb = torch.nn.functional.normalize(features_b, dim=-1)
    logits = (fa @ fb.transpose(1, 2)) / tau
    logits = logits.masked_fill(~vb[:, None, :], float("-inf"))
    if not anchors.any():
        return logits.new_zeros(()) + 0.0 * features_a.sum() + 0.0 * features_b.sum()
    log_p = torch.log_softmax(logits, dim=-1).gather(-1, target[..., None])[..., 0]
    return -(log_p[anchors]).mean()
