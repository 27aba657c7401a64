"""Object crops: box, channels, and the image <-> crop mapping."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semcorr_core.data.object_crop import CropBox, crop_box, crop_grid, crop_inputs, crop_pixels, sample_crop_map
from semcorr_core.errors import EmptyMaskError, ImageSizeMismatchError, InputError


def _frame(h=40, w=60):
    mask = np.zeros((h, w), bool)
    mask[10:20, 20:28] = True  # 10 rows x 8 columns
    depth = np.full((h, w), 2.0, np.float32)
    depth[mask] = 1.0
    color = np.zeros((h, w, 3), np.uint8)
    color[mask] = (255, 0, 127)
    return color, depth, mask


def test_box_is_the_square_around_the_mask_with_its_margin():
    _, _, mask = _frame()
    b = crop_box(mask, 8, margin=1.2)
    assert b.side == pytest.approx(12.0) and b.size == 8
    assert (b.x0 + b.side / 2, b.y0 + b.side / 2) == pytest.approx((24.0, 15.0))  # centre of columns 20..27, rows 10..19
    shifted = crop_box(mask, 8, margin=1.2, jitter=np.array([0.5, 0.0, np.log(2.0)]))
    assert shifted.side == pytest.approx(24.0) and shifted.x0 + shifted.side / 2 == pytest.approx(30.0)


def test_channels_by_hand():
    color, depth, mask = _frame()
    box = CropBox(20.0, 10.0, 8.0, 8)  # exactly the mask's 8 columns and rows 10..17
    x = crop_inputs(color, depth, mask, box, fx=100.0)
    assert x.shape == (5, 8, 8) and x.dtype == np.float32
    assert np.allclose(x[4], 1.0)  # all inside the mask
    assert np.allclose(x[0], 1.0) and np.allclose(x[1], -1.0) and np.allclose(x[2], 127 / 127.5 - 1)
    assert np.allclose(x[3], 0.0)  # at the median depth
    wide = crop_inputs(color, depth, mask, CropBox(16.0, 6.0, 16.0, 8), fx=100.0)
    # background 1 m behind a 1 m object; crop 16 px at 1 m and fx 100 is 0.16 m wide: clipped to 1
    assert wide[3, 0, 0] == pytest.approx(1.0) and wide[4, 0, 0] == 0.0 and wide[4, 4, 4] == 1.0


def test_pixels_outside_the_image_are_zero():
    color, depth, mask = _frame()
    x = crop_inputs(color, depth, mask, CropBox(-8.0, -8.0, 16.0, 8), fx=100.0)
    _, _, inside = crop_pixels(CropBox(-8.0, -8.0, 16.0, 8), mask.shape)
    assert not inside[:4].any() and inside[4:, 4:].all()
    assert np.all(x[:, :4] == 0.0)


def test_grid_samples_the_crop_pixel_that_holds_an_image_pixel():
    box = CropBox(20.0, 10.0, 8.0, 8)
    fmap = torch.arange(64, dtype=torch.float32).reshape(1, 8, 8)  # value = 8 * row + column
    uv = np.array([[20.0, 10.0], [27.0, 17.0], [23.0, 12.0]])
    out = sample_crop_map(fmap, uv, box)
    assert out.shape == (3, 1)
    assert out[:, 0].tolist() == pytest.approx([0.0, 63.0, 8 * 2 + 3])
    assert np.allclose(crop_grid(np.array([[19.5, 9.5]]), box), -1.0)  # the crop's corner


def test_bad_input():
    color, depth, mask = _frame()
    with pytest.raises(EmptyMaskError):
        crop_box(np.zeros_like(mask), 8)
    with pytest.raises(InputError, match="size"):
        crop_box(mask, 2)
    box = crop_box(mask, 8)
    with pytest.raises(ImageSizeMismatchError):
        crop_inputs(color, depth[:-1], mask, box, fx=100.0)
    with pytest.raises(InputError, match="fx"):
        crop_inputs(color, depth, mask, box, fx=0.0)
    with pytest.raises(EmptyMaskError, match="depth"):
        crop_inputs(color, np.zeros_like(depth), mask, box, fx=100.0)
    with pytest.raises(InputError):
        sample_crop_map(torch.zeros(8, 8), np.zeros((1, 2)), box)
