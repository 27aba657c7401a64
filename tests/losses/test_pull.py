import pytest
import torch

from semcorr_core.errors import InputError
from semcorr_core.losses import pull_loss


def _hand_case():
    # 3 clouds, 2 correspondence sets, 2-d embeddings, one point per (cloud, set) at most
    e = torch.zeros(3, 2, 2, dtype=torch.float64)
    e[0, 0] = torch.tensor([0.0, 0.0])  # cloud 0, set 0
    e[0, 1] = torch.tensor([1.0, 0.0])  # cloud 0, set 1
    e[1, 0] = torch.tensor([3.0, 4.0])  # cloud 1, set 0
    e[1, 1] = torch.tensor([1.0, 1.0])  # cloud 1, set 1
    e[2, 1] = torch.tensor([0.0, 4.0])  # cloud 2, set 0 (stored at point 1); cloud 2 has no set 1
    idx = torch.tensor([[0, 1], [0, 1], [1, -1]])
    return e, idx


def test_hand_computed():
    e, idx = _hand_case()
    # positive pairs: set 0: |(0,0)-(3,4)| = 5, |(0,0)-(0,4)| = 4, |(3,4)-(0,4)| = 3 ; set 1: |(1,0)-(1,1)| = 1
    # Eq. 1 mean over N_pos = 4 pairs: (5 + 4 + 3 + 1) / 4 = 3.25
    assert pull_loss(e, idx).item() == pytest.approx(3.25)
    assert pull_loss(e, idx, reduction="sum").item() == pytest.approx(13.0)
    assert sorted(pull_loss(e, idx, reduction="none").tolist()) == pytest.approx([1.0, 3.0, 4.0, 5.0])


def test_shape_contract_dtype_device():
    e = torch.randn(4, 30, 8)
    idx = torch.randint(-1, 30, (4, 6))
    out = pull_loss(e, idx)
    assert out.shape == () and out.dtype == torch.float32 and out.device == e.device
    per_pair = pull_loss(e, idx, reduction="none")
    present = (idx >= 0).sum(0)
    assert per_pair.shape == (int((present * (present - 1) // 2).sum()),)
    assert pull_loss(e.double(), idx).dtype == torch.float64


@pytest.mark.parametrize(
    "emb, idx, match",
    [
        (torch.randn(10, 4), torch.zeros(1, 2, dtype=torch.long), "embeddings must be a float"),
        (torch.randn(2, 10, 4), torch.zeros(2, 2), "integer point indices"),
        (torch.randn(2, 10, 4), torch.zeros(3, 2, dtype=torch.long), r"\(2, K\)"),
        (torch.randn(2, 10, 4), torch.full((2, 2), 10), r"\[-1, 9\]"),
        (torch.randn(2, 10, 4), torch.full((2, 2), -2), r"\[-1, 9\]"),
        (torch.full((2, 10, 4), float("nan")), torch.zeros(2, 2, dtype=torch.long), "NaN"),
    ],
)
def test_bad_input(emb, idx, match):
    with pytest.raises(InputError, match=match):
        pull_loss(emb, idx)


def test_bad_reduction():
    with pytest.raises(InputError, match="reduction"):
        pull_loss(torch.randn(2, 3, 2), torch.zeros(2, 1, dtype=torch.long), reduction="avg")


def test_gradcheck():
    g = torch.Generator().manual_seed(0)
    e = torch.randn(3, 4, 2, dtype=torch.float64, generator=g, requires_grad=True)
    idx = torch.tensor([[0, 1, 2], [3, -1, 1], [2, 0, -1]])
    assert torch.autograd.gradcheck(lambda x: pull_loss(x, idx), (e,))


def test_zero_when_sets_agree_and_no_positive_pairs():
    # every set has the same embedding on all clouds -> Eq. 1 is 0, gradient finite (0 at zero distance)
    base = torch.randn(1, 5, 3)
    e = base.repeat(3, 1, 1).requires_grad_(True)
    idx = torch.tensor([[0, 1, 2]] * 3)
    loss = pull_loss(e, idx)
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(e.grad).all()
    # a single cloud has no positive pair: 0, and backward still works
    e1 = torch.randn(1, 5, 3, requires_grad=True)
    l1 = pull_loss(e1, torch.tensor([[0, 1, 2]]))
    l1.backward()
    assert l1.item() == 0.0 and torch.equal(e1.grad, torch.zeros_like(e1))


def test_pull_moves_positives_together():
    e, idx = _hand_case()
    e.requires_grad_(True)
    pull_loss(e, idx).backward()
    with torch.no_grad():
        stepped = e - 0.1 * e.grad
    assert pull_loss(stepped, idx) < pull_loss(e.detach(), idx)
    # points not in any set get no gradient
    assert torch.equal(e.grad[2, 0], torch.zeros(2, dtype=torch.float64))
