"""Square-root-weighted descriptor fusion (seed 002)."""

from __future__ import annotations

import pytest
import torch

from semcorr_core.errors import InputError
from semcorr_core.models.fusion import fuse_descriptors


def test_dot_product_is_the_weighted_mean_of_cosines():
    a2, b2 = torch.tensor([[3.0, 4.0]]), torch.tensor([[4.0, 3.0]])  # cos 24/25
    a3, b3 = torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 2.0, 0.0]])  # cos 0
    fa = fuse_descriptors([a2, a3], [0.25, 0.75])
    fb = fuse_descriptors([b2, b3], [0.25, 0.75])
    assert fa.shape == (1, 5)
    assert float(fa.norm()) == pytest.approx(1.0)
    assert float((fa * fb).sum()) == pytest.approx(0.25 * 24 / 25)


def test_bad_weights_and_shapes():
    x = torch.ones(2, 3)
    with pytest.raises(InputError, match="sum to 1"):
        fuse_descriptors([x, x], [0.5, 0.6])
    with pytest.raises(InputError, match="one weight"):
        fuse_descriptors([x], [0.5, 0.5])
    with pytest.raises(InputError, match="N=2"):
        fuse_descriptors([x, torch.ones(3, 3)], [0.5, 0.5])
