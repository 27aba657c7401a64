import pytest
import torch

from semcorr_core.errors import InputError
from semcorr_core.losses import mine_hard_negatives


def test_hand_computed():
    d = torch.tensor([0.5, 0.1, 0.9, 0.3, 0.2])
    neg = torch.tensor([True, False, True, True, True])
    # negatives: idx0 0.5, idx2 0.9, idx3 0.3, idx4 0.2 ; the two smallest are idx4 (0.2) and idx3 (0.3);
    # idx1 (0.1) is smaller but not a negative pair
    assert mine_hard_negatives(d, neg, 2).tolist() == [False, False, False, True, True]
    # more requested than available -> all negatives
    assert torch.equal(mine_hard_negatives(d, neg, 10), neg)
    assert not mine_hard_negatives(d, neg, 0).any()


def test_ties_go_to_lower_index_and_nan_outside_negatives_is_ignored():
    d = torch.tensor([1.0, float("nan"), 1.0, 1.0, 0.5])
    neg = torch.tensor([True, False, True, True, True])
    assert mine_hard_negatives(d, neg, 3).tolist() == [True, False, True, False, True]


def test_shape_contract_batched_pools():
    g = torch.Generator().manual_seed(1)
    d = torch.rand(3, 20, generator=g)
    neg = torch.rand(3, 20, generator=g) > 0.3
    k = torch.tensor([0, 4, 100])
    keep = mine_hard_negatives(d, neg, k)
    assert keep.shape == (3, 20) and keep.dtype == torch.bool
    assert keep.sum(-1).tolist() == [0, 4, int(neg[2].sum())]
    assert not (keep & ~neg).any()


def test_exactly_as_many_as_positives_and_hardest():
    g = torch.Generator().manual_seed(2)
    for _ in range(20):
        P = int(torch.randint(1, 60, (1,), generator=g))
        d = torch.rand(P, generator=g)
        neg = torch.rand(P, generator=g) > 0.4
        n_pos = int(torch.randint(0, P + 1, (1,), generator=g))
        keep = mine_hard_negatives(d, neg, n_pos)
        assert int(keep.sum()) == min(n_pos, int(neg.sum()))
        if keep.any() and (neg & ~keep).any():
            assert d[keep].max() <= d[neg & ~keep].min()  # every kept negative is at least as hard


@pytest.mark.parametrize(
    "d, neg, n, match",
    [
        (torch.rand(5), torch.ones(4, dtype=torch.bool), 1, "negative_mask"),
        (torch.rand(5), torch.ones(5), 1, "bool tensor"),
        (torch.arange(5), torch.ones(5, dtype=torch.bool), 1, "float tensor"),
        (torch.rand(5), torch.ones(5, dtype=torch.bool), -1, ">= 0"),
        (torch.rand(5), torch.ones(5, dtype=torch.bool), 1.5, "int"),
        (torch.rand(2, 5), torch.ones(2, 5, dtype=torch.bool), torch.tensor([1, 2, 3]), "broadcast"),
        (torch.tensor([0.1, float("nan")]), torch.ones(2, dtype=torch.bool), 1, "NaN"),
    ],
)
def test_bad_input(d, neg, n, match):
    with pytest.raises(InputError, match=match):
        mine_hard_negatives(d, neg, n)


def test_gradient_reaches_only_kept_pairs():
    x = torch.tensor([0.0, 0.3, 1.0, 2.0], requires_grad=True)
    d = (x[:, None] - x[None, :]).abs().reshape(-1)
    neg = torch.ones(4, 4, dtype=torch.bool).triu(1).reshape(-1)
    keep = mine_hard_negatives(d, neg, 1)  # the closest pair: (0, 1), distance 0.3
    assert keep.reshape(4, 4)[0, 1] and int(keep.sum()) == 1
    torch.relu(1.0 - d[keep]).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert x.grad[0] > 0 and x.grad[1] < 0 and x.grad[2] == 0 and x.grad[3] == 0
