"""Square object crops of an RGB-D frame: the input of the 2D dense descriptor network.

A crop is the square around an instance mask's bounding box (side = ``margin`` x its longer
side), resampled to ``size`` x ``size`` by nearest neighbour (no colour or depth mixed across an
object's edge). Channels, all float32:

* 0-2: RGB scaled to [-1, 1];
* 3: depth relative to the object's median depth, over the crop's metric width
  (``side * median / fx``), clipped to [-1, 1]; 0 where the sensor gave nothing;
* 4: the instance mask (1 inside).

Depth is relative and scaled by the crop's own metric size, so the network sees shape, not
distance. Crop pixel ``(i, j)`` (row, column) samples image position
``(x0 + (j + 0.5) * side / size, y0 + (i + 0.5) * side / size)`` (OpenCV pixel-centre convention);
:func:`crop_grid` maps image pixels back into the crop for :func:`torch.nn.functional.grid_sample`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from semcorr_core.errors import EmptyMaskError, ImageSizeMismatchError, InputError

__all__ = ["CropBox", "CROP_CHANNELS", "crop_box", "crop_inputs", "crop_pixels", "crop_grid", "sample_crop_map"]

CROP_CHANNELS = 5
"""RGB, relative depth, mask."""


class CropBox(NamedTuple):
    """Square crop: top-left corner ``(x0, y0)`` and ``side`` in image pixels (floats), resampled
    to ``size`` x ``size``."""

    x0: float
    y0: float
    side: float
    size: int


def crop_box(mask: np.ndarray, size: int, margin: float = 1.15, jitter: np.ndarray | None = None) -> CropBox:
    """The square crop of ``mask`` (H, W bool). ``jitter``: optional ``(3,)`` (dx, dy, log-scale)
    as fractions of the side (training augmentation: a segmenter's box is never the true one)."""
    if not isinstance(size, (int, np.integer)) or size < 4:
        raise InputError(f"crop size must be an int >= 4, got {size!r}")
    if not margin > 0:
        raise InputError(f"crop margin must be > 0, got {margin}")
    mask = np.asarray(mask, bool)
    if mask.ndim != 2:
        raise InputError(f"mask must be (H, W), got shape {mask.shape}")
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        raise EmptyMaskError("the instance mask is empty: nothing to crop (check the mask's instance ids)")
    lo = np.array([cols.min(), rows.min()], np.float64)
    hi = np.array([cols.max(), rows.max()], np.float64) + 1.0
    centre = 0.5 * (lo + hi)
    side = float(max(hi - lo)) * float(margin)
    if jitter is not None:
        dx, dy, ls = (float(v) for v in np.asarray(jitter, np.float64).reshape(3))
        centre = centre + side * np.array([dx, dy])
        side *= float(np.exp(ls))
    return CropBox(float(centre[0] - side / 2), float(centre[1] - side / 2), side, int(size))


def crop_pixels(box: CropBox, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest image pixel of each crop pixel: ``rows (S, S)``, ``cols (S, S)`` int indices (clipped
    into the image) and ``inside (S, S)`` bool (the crop pixel's centre lies in the image)."""
    h, w = shape
    step = box.side / box.size
    centres = (np.arange(box.size) + 0.5) * step
    x = box.x0 + centres  # image x of each crop column's centre
    y = box.y0 + centres
    cols = np.floor(x).astype(np.int64)
    rows = np.floor(y).astype(np.int64)
    inside = ((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))[None, :]
    rr = np.broadcast_to(np.clip(rows, 0, h - 1)[:, None], (box.size, box.size))
    cc = np.broadcast_to(np.clip(cols, 0, w - 1)[None, :], (box.size, box.size))
    return rr, cc, inside


def crop_inputs(color: np.ndarray, depth: np.ndarray, mask: np.ndarray, box: CropBox, fx: float) -> np.ndarray:
    """``(5, S, S)`` float32 network input (channels in the module docstring). ``color`` (H, W, 3)
    uint8 RGB, ``depth`` (H, W) metres (0 = invalid), ``mask`` (H, W) bool, ``fx`` pixels."""
    color = np.asarray(color)
    depth = np.asarray(depth, np.float32)
    mask = np.asarray(mask, bool)
    if color.ndim != 3 or color.shape[2] != 3:
        raise InputError(f"color must be (H, W, 3), got shape {color.shape}")
    if depth.shape != color.shape[:2] or mask.shape != color.shape[:2]:
        raise ImageSizeMismatchError(f"color {color.shape[:2]}, depth {depth.shape} and mask {mask.shape} must be "
                                     "the same size (register depth to colour)")
    if not (np.isfinite(fx) and fx > 0):
        raise InputError(f"fx must be a finite focal length > 0, got {fx}")
    valid_obj = mask & (depth > 0) & np.isfinite(depth)
    if not valid_obj.any():
        raise EmptyMaskError("no valid depth inside the instance mask: the crop has no object depth")
    median = float(np.median(depth[valid_obj]))
    metric_side = box.side * median / float(fx)
    rr, cc, inside = crop_pixels(box, depth.shape)
    out = np.zeros((CROP_CHANNELS, box.size, box.size), np.float32)
    rgb = color[rr, cc].astype(np.float32) / 127.5 - 1.0
    out[:3] = np.moveaxis(rgb, -1, 0) * inside
    d = depth[rr, cc]
    ok = inside & (d > 0) & np.isfinite(d)
    out[3] = np.where(ok, np.clip((np.where(ok, d, median) - median) / max(metric_side, 1e-6), -1.0, 1.0), 0.0)
    out[4] = (mask[rr, cc] & inside).astype(np.float32)
    return out


def crop_grid(uv: np.ndarray, box: CropBox) -> np.ndarray:
    """``(N, 2)`` image positions (u, v), OpenCV convention (pixel centres at integers) -> ``(N, 2)``
    normalised crop coordinates in [-1, 1] for ``grid_sample(..., align_corners=False)``."""
    uv = np.asarray(uv, np.float64)
    if uv.ndim != 2 or uv.shape[1] != 2:
        raise InputError(f"uv must be (N, 2), got shape {uv.shape}")
    # image pixel (c, r) covers [c, c+1) in the crop's continuous frame, its centre is c + 0.5
    return (2.0 * (uv + 0.5 - np.array([box.x0, box.y0])) / box.side - 1.0).astype(np.float32)


def sample_crop_map(feature_map: torch.Tensor, uv: np.ndarray, box: CropBox) -> torch.Tensor:
    """``(D, S, S)`` map over the crop, ``(N, 2)`` image pixels -> ``(N, D)`` bilinear samples."""
    if not isinstance(feature_map, torch.Tensor) or feature_map.dim() != 3:
        raise InputError(f"feature_map must be a (D, S, S) tensor, got "
                         f"{getattr(feature_map, 'shape', type(feature_map).__name__)}")
    grid = torch.as_tensor(crop_grid(uv, box), device=feature_map.device, dtype=feature_map.dtype)
    out = torch.nn.functional.grid_sample(feature_map[None], grid[None, :, None], mode="bilinear",
                                          padding_mode="border", align_corners=False)
    return out[0, :, :, 0].T
