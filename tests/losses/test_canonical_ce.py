"""Dense canonical cross-entropy (seed 004 Eq. 4 applied to every point)."""

from __future__ import annotations

import math

import pytest
import torch

from semcorr_core.errors import InputError
from semcorr_core.losses import DenseCanonicalCrossEntropy, canonical_ce_loss, soft_canonical_targets


def test_soft_targets_hand_computed():
    # one point at 0 on a line, classes at 0 and 1, sigma = 1:
    # weights exp(0) and exp(-1/2) -> p0 = 1 / (1 + e^-0.5)
    q = soft_canonical_targets(torch.zeros(1, 1, 1), torch.tensor([[0.0], [1.0]]), sigma=1.0)
    p0 = 1.0 / (1.0 + math.exp(-0.5))
    torch.testing.assert_close(q, torch.tensor([[[p0, 1.0 - p0]]]))
    # narrow sigma: one-hot at the nearest class
    q = soft_canonical_targets(torch.tensor([[[0.9]]]), torch.tensor([[0.0], [1.0]]), sigma=0.01)
    torch.testing.assert_close(q, torch.tensor([[[0.0, 1.0]]]))


def test_loss_hand_computed():
    # embedding equal to descriptor 0, orthogonal to descriptor 1, tau = 0.5:
    # logits (2, 0); one-hot target on class 0 -> loss = log(1 + e^-2)
    emb = torch.tensor([[[1.0, 0.0]]])
    desc = torch.tensor([[2.0, 0.0], [0.0, 3.0]])  # norms do not matter (cosine)
    target = torch.tensor([[[1.0, 0.0]]])
    loss = canonical_ce_loss(emb, desc, target, 0.5)
    assert float(loss) == pytest.approx(math.log(1.0 + math.exp(-2.0)))
    # half/half target: 0.5 * log(1 + e^-2) + 0.5 * log(1 + e^2)
    loss = canonical_ce_loss(emb, desc, torch.tensor([[[0.5, 0.5]]]), 0.5)
    assert float(loss) == pytest.approx(0.5 * math.log(1 + math.exp(-2)) + 0.5 * math.log(1 + math.exp(2)))


def test_invalid_points_are_left_out():
    emb = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    desc = torch.eye(2)
    target = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])  # the second point's target is wrong
    only_first = canonical_ce_loss(emb, desc, target, 0.5, valid=torch.tensor([[True, False]]))
    assert float(only_first) == pytest.approx(math.log(1.0 + math.exp(-2.0)))
    none = canonical_ce_loss(emb, desc, target, 0.5, valid=torch.zeros(1, 2, dtype=torch.bool))
    assert float(none) == 0.0


def test_module_shapes_and_gradient_flow():
    torch.manual_seed(0)
    classes = torch.rand(10, 3)
    head = DenseCanonicalCrossEntropy(classes, 16, sigma=0.1)
    emb = torch.randn(2, 50, 16, requires_grad=True)
    loss = head(emb, torch.rand(2, 50, 3))
    assert loss.shape == ()
    loss.backward()
    assert emb.grad is not None and emb.grad.abs().sum() > 0
    assert head.descriptors.grad.abs().sum() > 0 and head.log_temperature.grad != 0


def test_training_the_descriptors_lowers_the_loss_and_separates_places():
    torch.manual_seed(0)
    classes = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    head = DenseCanonicalCrossEntropy(classes, 8, sigma=0.1)
    pos = classes[None]  # one point exactly at each class
    emb = torch.nn.Parameter(torch.randn(1, 4, 8))
    opt = torch.optim.Adam([emb, *head.parameters()], lr=0.05)
    first = None
    for _ in range(100):
        loss = head(emb, pos)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.2 * first
    sims = torch.nn.functional.normalize(emb[0], dim=-1) @ torch.nn.functional.normalize(head.descriptors, dim=-1).T
    assert torch.equal(sims.argmax(1), torch.arange(4))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: soft_canonical_targets(torch.zeros(4, 3), torch.zeros(2, 3), 0.1), "positions"),
        (lambda: soft_canonical_targets(torch.zeros(1, 4, 3), torch.zeros(2, 2), 0.1), "class_positions"),
        (lambda: soft_canonical_targets(torch.zeros(1, 4, 3), torch.zeros(2, 3), 0.0), "sigma"),
        (lambda: soft_canonical_targets(torch.full((1, 1, 3), float("nan")), torch.zeros(2, 3), 0.1), "NaN"),
        (lambda: canonical_ce_loss(torch.zeros(4, 8), torch.zeros(2, 8), torch.zeros(1, 4, 2), 0.1), "embeddings"),
        (lambda: canonical_ce_loss(torch.zeros(1, 4, 8), torch.zeros(2, 8), torch.zeros(1, 4, 3), 0.1), "targets"),
        (lambda: canonical_ce_loss(torch.zeros(1, 4, 8), torch.zeros(2, 8), torch.zeros(1, 4, 2), 0.1,
                                   valid=torch.ones(1, 4)), "valid"),
        (lambda: canonical_ce_loss(torch.zeros(1, 4, 8), torch.zeros(2, 8), torch.zeros(1, 4, 2), -1.0), "temperature"),
        (lambda: DenseCanonicalCrossEntropy(torch.zeros(1, 3), 8), "C >= 2"),
        (lambda: DenseCanonicalCrossEntropy(torch.zeros(4, 3), 0), "dim"),
    ],
)
def test_bad_input_is_refused(call, match):
    with pytest.raises(InputError, match=match):
        call()


def test_per_sample_class_positions():
    # the same point (at 0) in two samples; class 1 sits at 0 in sample 0 but far away in sample 1
    pos = torch.zeros(2, 1, 1)
    classes = torch.tensor([[[5.0], [0.0]], [[5.0], [9.0]]])
    q = soft_canonical_targets(pos, classes, sigma=1.0)
    assert q[0, 0, 1] > 0.99 and q[1, 0, 0] > 0.99
    head = DenseCanonicalCrossEntropy(torch.tensor([[5.0], [0.0]]), 4, sigma=1.0)
    emb = torch.randn(2, 1, 4)
    assert float(head(emb, pos, class_positions=classes).detach()) != pytest.approx(float(head(emb, pos).detach()))
    with pytest.raises(InputError, match="class_positions"):
        head(emb, pos, class_positions=torch.zeros(2, 3, 1))
    with pytest.raises(InputError, match="NaN"):
        soft_canonical_targets(pos, torch.full((2, 2, 1), float("nan")), 1.0)
