"""2D dense descriptors: a fully convolutional RGB-D network over object crops (MISSION §4.3).

:class:`DenseDescriptorNet` maps ``(B, 5, S, S)`` crops (:mod:`semcorr_core.data.object_crop`) to
``(B, D, S, S)`` unit-length per-pixel descriptors ``Phi(I, u)``: a small U-Net (three stride-2
stages, skip connections, GroupNorm so that a batch of one behaves as in training).

:func:`canonical_attention` is seed 004's Eq. 5: the dense canonical coordinate of a pixel is the
softmax-attention-weighted sum of the canonical places ``p_i`` over their learned descriptors
``z_i`` (keys) with the pixel descriptor as query::

    phi(I, u) = sum_i softmax_i( sim(z_i, Phi(I, u)) / tau ) p_i
"""

from __future__ import annotations

from typing import Union

import torch
from torch import nn

from semcorr_core.data.object_crop import CROP_CHANNELS
from semcorr_core.errors import InputError
from semcorr_core.losses.keypoint_ce import keypoint_logits

__all__ = ["DenseDescriptorNet", "canonical_attention"]


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    groups = 8 if cout % 8 == 0 else 1
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.GroupNorm(groups, cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.GroupNorm(groups, cout), nn.ReLU(inplace=True),
    )


class DenseDescriptorNet(nn.Module):
    """``(B, in_channels, S, S) -> (B, out_dim, S, S)`` unit-norm descriptors; ``S`` divisible by 8.

    Args:
        in_channels: input channels (5: RGB, relative depth, mask).
        out_dim: descriptor dimension ``D``.
        width: channels of the first stage (doubled, then x3, x4 at the coarser stages).
    """

    def __init__(self, in_channels: int = CROP_CHANNELS, out_dim: int = 32, width: int = 24) -> None:
        super().__init__()
        if in_channels < 1 or out_dim < 1 or width < 1:
            raise InputError(f"DenseDescriptorNet needs positive sizes, got in_channels={in_channels}, "
                             f"out_dim={out_dim}, width={width}")
        self.in_channels, self.out_dim = int(in_channels), int(out_dim)
        c1, c2, c3, c4 = width, 2 * width, 3 * width, 4 * width
        self.enc1 = _block(in_channels, c1)
        self.enc2 = _block(c1, c2, stride=2)
        self.enc3 = _block(c2, c3, stride=2)
        self.enc4 = _block(c3, c4, stride=2)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.dec3 = _block(c4 + c3, c3)
        self.dec2 = _block(c3 + c2, c2)
        self.dec1 = _block(c2 + c1, c1)
        self.head = nn.Conv2d(c1, out_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != self.in_channels:
            raise InputError(f"DenseDescriptorNet expects (B, {self.in_channels}, S, S), got "
                             f"{getattr(x, 'shape', type(x).__name__)}")
        if x.shape[-1] % 8 or x.shape[-2] % 8:
            raise InputError(f"crop size must be divisible by 8 (three stride-2 stages), got {tuple(x.shape[-2:])}")
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        e4 = self.enc4(e3)
        d3 = self.dec3(torch.cat([self.up(e4), e3], 1))
        d2 = self.dec2(torch.cat([self.up(d3), e2], 1))
        d1 = self.dec1(torch.cat([self.up(d2), e1], 1))
        return nn.functional.normalize(self.head(d1), dim=1)


def canonical_attention(features: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                        temperature: Union[float, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Seed 004 Eq. 5 over ``C`` canonical places.

    Args:
        features: ``(B, Q, D)`` pixel descriptors (queries).
        keys: ``(C, D)`` place descriptors ``z``.
        values: ``(C, P)`` place positions ``p`` (canonical xyz, or any coordinates).
        temperature: ``tau > 0``.

    Returns:
        ``(B, Q, P)`` canonical coordinates and ``(B, Q)`` confidence (the largest attention weight).
    """
    if not isinstance(values, torch.Tensor) or values.dim() != 2 or not isinstance(keys, torch.Tensor) \
            or keys.dim() != 2 or len(values) != len(keys):
        raise InputError(f"canonical_attention: keys (C, D) and values (C, P) must have one row per place, got "
                         f"{tuple(getattr(keys, 'shape', ()))} and {tuple(getattr(values, 'shape', ()))}")
    weights = torch.softmax(keypoint_logits(features, keys, temperature), dim=-1)  # (B, Q, C)
    return weights @ values.to(weights.dtype), weights.max(dim=-1).values
