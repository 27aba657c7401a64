"""Cross-instance pixel InfoNCE: a hand-computed value, masking, gradient, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from semcorr_core.errors import InputError
from semcorr_core.losses import pixel_contrastive_loss


def test_value_by_hand():
    fa = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    fb = torch.tensor([[[1.0, 0.0], [0.6, 0.8]]])
    pa = torch.tensor([[[0.0, 0.0], [1.0, 0.0]]])
    pb = torch.tensor([[[0.05, 0.0], [1.0, 0.05]]])
    loss = pixel_contrastive_loss(fa, fb, pa, pb, tol=0.1, temperature=0.5)
    # anchor 0: sims (1, 0.6) -> positive 0; anchor 1: sims (0, 0.8) -> positive 1
    l0 = -math.log(math.exp(2.0) / (math.exp(2.0) + math.exp(1.2)))
    l1 = -math.log(math.exp(1.6) / (math.exp(0.0) + math.exp(1.6)))
    assert float(loss) == pytest.approx((l0 + l1) / 2, rel=1e-5)


def test_far_and_invalid_pixels_are_no_anchors_and_no_candidates():
    fa = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    fb = torch.tensor([[[1.0, 0.0], [0.6, 0.8]]])
    pa = torch.tensor([[[0.0, 0.0], [5.0, 5.0]]])  # anchor 1 has no partner within tol
    pb = torch.tensor([[[0.05, 0.0], [float("nan"), 0.0]]])
    loss = pixel_contrastive_loss(fa, fb, pa, pb, tol=0.1, temperature=0.5,
                                  valid_b=torch.tensor([[True, False]]))
    assert float(loss) == pytest.approx(0.0, abs=1e-6)  # one anchor, one candidate: log 1
    f = fa.clone().requires_grad_(True)
    none = pixel_contrastive_loss(f, fb, pa + 10, pb.nan_to_num(), tol=0.1, temperature=0.5)
    none.backward()
    assert float(none.detach()) == 0.0 and f.grad is not None


def test_gradient_pulls_the_positive_closer():
    torch.manual_seed(0)
    fa = torch.randn(2, 16, 8, requires_grad=True)
    fb = torch.randn(2, 16, 8)
    p = torch.rand(2, 16, 3)
    loss = pixel_contrastive_loss(fa, fb, p, p, tol=1e-3, temperature=0.1)
    loss.backward()
    step = fa.detach() - 0.1 * fa.grad
    assert float(pixel_contrastive_loss(step, fb, p, p, tol=1e-3, temperature=0.1)) < float(loss)


def test_bad_input():
    f = torch.zeros(1, 2, 3)
    p = torch.zeros(1, 2, 3)
    with pytest.raises(InputError, match="features_a"):
        pixel_contrastive_loss(torch.zeros(2, 3), f, p, p, tol=0.1, temperature=0.1)
    with pytest.raises(InputError, match="tol"):
        pixel_contrastive_loss(f, f, p, p, tol=0.0, temperature=0.1)
    with pytest.raises(InputError, match="temperature"):
        pixel_contrastive_loss(f, f, p, p, tol=0.1, temperature=-1.0)
    with pytest.raises(InputError, match="positions_b"):
        pixel_contrastive_loss(f, f, p, torch.zeros(1, 2, 2), tol=0.1, temperature=0.1)
