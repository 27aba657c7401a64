import pytest
import torch

from semcorr_core.errors import InputError
from semcorr_core.losses import GeodesicConsistencyLoss, correspondence_set_distance, geodesic_push_loss, pull_loss


def _hand_case():
    # 2 clouds x 2 sets, 2-d embeddings, margin d(C0, C1) = 6
    e = torch.tensor(
        [
            [[0.0, 0.0], [3.0, 4.0]],  # cloud 0: a = set 0, b = set 1
            [[0.0, 1.0], [0.0, 3.0]],  # cloud 1: c = set 0, e = set 1
        ],
        dtype=torch.float64,
    )
    idx = torch.tensor([[0, 1], [0, 1]])
    d = torch.tensor([[0.0, 6.0], [6.0, 0.0]], dtype=torch.float64)
    return e, idx, d


def test_hand_computed_without_and_with_mining():
    e, idx, d = _hand_case()
    # negatives (different sets): a-b 5, a-e 3, b-c |(3,3)| = 4.242641, c-e 2
    # hinges max(0, 6 - dist): 1, 3, 1.757359, 4 -> Eq. 3 mean = 9.757359 / 4 = 2.439340
    assert geodesic_push_loss(e, idx, d, hard_negatives=False).item() == pytest.approx(2.4393398, abs=1e-6)
    # positives: a-c, b-e -> N_pos = 2 -> keep the 2 closest negatives: c-e (2), a-e (3) -> (4 + 3) / 2 = 3.5
    assert geodesic_push_loss(e, idx, d).item() == pytest.approx(3.5)
    assert sorted(geodesic_push_loss(e, idx, d, reduction="none").tolist()) == pytest.approx([3.0, 4.0])
    assert geodesic_push_loss(e, idx, d, hard_negatives=1).item() == pytest.approx(4.0)


def test_set_distance_eq2_hand_computed():
    g = torch.zeros(3, 2, 2)
    g[0, 0, 1] = g[0, 1, 0] = 2.0
    g[1, 0, 1] = g[1, 1, 0] = 4.0
    g[2] = float("nan")  # model 2 lacks set 1: its entries are ignored
    present = torch.tensor([[True, True], [True, True], [True, False]])
    # d(C0, C1) = (2 + 4) / 2 models holding both = 3
    assert correspondence_set_distance(g, present).tolist() == [[0.0, 3.0], [3.0, 0.0]]
    # a pair that never co-occurs gets margin 0 (no push)
    assert correspondence_set_distance(g, torch.tensor([[True, False], [False, True], [True, False]])).tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_shape_contract():
    e = torch.randn(4, 30, 8)
    idx = torch.randint(-1, 30, (4, 6))
    d = torch.rand(6, 6)
    d = d + d.T
    assert geodesic_push_loss(e, idx, d).shape == ()
    n_pos = pull_loss(e, idx, reduction="none").numel()
    mined = geodesic_push_loss(e, idx, d, reduction="none")
    all_neg = geodesic_push_loss(e, idx, d, reduction="none", hard_negatives=False)
    assert mined.shape == (min(n_pos, all_neg.numel()),)
    M = int((idx >= 0).sum())
    same = sum(int(c) * (int(c) - 1) // 2 for c in (idx >= 0).sum(0))
    assert all_neg.shape == (M * (M - 1) // 2 - same,)
    out = GeodesicConsistencyLoss(d)(e, idx)
    assert out.loss.shape == out.pull.shape == out.push.shape == ()


@pytest.mark.parametrize(
    "d, kw, match",
    [
        (torch.rand(3, 3), {}, r"\(2, 2\)"),
        (torch.tensor([[0.0, 1.0], [2.0, 0.0]]), {}, "symmetric"),
        (torch.tensor([[0.0, -1.0], [-1.0, 0.0]]), {}, ">= 0"),
        (torch.tensor([[0.0, 1.0], [1.0, 0.0]]), {"hard_negatives": -3}, "hard_negatives"),
        (torch.tensor([[0.0, 1.0], [1.0, 0.0]]), {"reduction": "max"}, "reduction"),
    ],
)
def test_bad_input(d, kw, match):
    with pytest.raises(InputError, match=match):
        geodesic_push_loss(torch.randn(2, 4, 3), torch.zeros(2, 2, dtype=torch.long), d, **kw)


def test_bad_set_distance_inputs():
    with pytest.raises(InputError, match="present"):
        correspondence_set_distance(torch.rand(2, 3, 3), torch.ones(2, 3))
    with pytest.raises(InputError, match="finite"):
        correspondence_set_distance(torch.full((1, 2, 2), float("inf")), torch.ones(1, 2, dtype=torch.bool))
    with pytest.raises(InputError, match="push_weight"):
        GeodesicConsistencyLoss(torch.zeros(2, 2), push_weight=-1.0)


@pytest.mark.parametrize("mining", [False, True])
def test_gradcheck(mining):
    g = torch.Generator().manual_seed(3)
    e = torch.randn(3, 4, 2, dtype=torch.float64, generator=g, requires_grad=True)
    idx = torch.tensor([[0, 1, 2], [3, -1, 1], [2, 0, 1]])
    d = torch.full((3, 3), 3.0, dtype=torch.float64).fill_diagonal_(0.0)
    assert geodesic_push_loss(e, idx, d, hard_negatives=mining).item() > 0
    assert torch.autograd.gradcheck(lambda x: geodesic_push_loss(x, idx, d, hard_negatives=mining), (e,))


def test_zero_when_negatives_beyond_margin():
    e, idx, _ = _hand_case()
    # the closest negative pair is 2 apart: any margin <= 2 gives no push, with or without mining
    d = torch.tensor([[0.0, 2.0], [2.0, 0.0]], dtype=torch.float64)
    assert geodesic_push_loss(e, idx, d, hard_negatives=False).item() == 0.0
    assert geodesic_push_loss(e, idx, d).item() == 0.0
    # a larger margin activates it
    assert geodesic_push_loss(e, idx, 1.5 * d, hard_negatives=False).item() > 0.0


def test_push_separates_in_proportion_to_geodesic_margin():
    # sets 0/1 are geodesically close (margin 0.5), 0/2 far (margin 5): only the far pair is pushed
    e = torch.zeros(2, 3, 2, requires_grad=True)
    with torch.no_grad():
        e[:, 0] = torch.tensor([0.0, 0.0])
        e[:, 1] = torch.tensor([1.0, 0.0])
        e[:, 2] = torch.tensor([0.0, 1.0])
    idx = torch.tensor([[0, 1, 2], [0, 1, 2]])
    d = torch.tensor([[0.0, 0.5, 5.0], [0.5, 0.0, 5.0], [5.0, 5.0, 0.0]])
    hinge = geodesic_push_loss(e, idx, d, hard_negatives=False, reduction="none")
    assert (hinge > 0).sum() == 8  # all 0-2 and 1-2 pairs (4 each), none of the 0-1 pairs
    hinge.sum().backward()
    assert e.grad[:, 2, 1].lt(0).all()  # gradient descent moves set 2 away from the others (+y)


def test_module_eq4_and_buffer():
    e, idx, d = _hand_case()
    loss = GeodesicConsistencyLoss(d.float(), push_weight=0.5)
    assert "set_distance" in loss.state_dict()
    out = loss(e, idx)
    # pull: (|a-c| + |b-e|) / 2 = (1 + sqrt(10)) / 2 = 2.081139 ; push (mined) = 3.5 ; L = pull + 0.5 * push
    assert out.pull.item() == pytest.approx(2.0811388, abs=1e-6)
    assert out.loss.item() == pytest.approx(2.0811388 + 1.75, abs=1e-6)
