import numpy as np
import pytest
import torch

from semcorr_core.errors import InputError
from semcorr_core.geometry import random_rotation
from semcorr_core.losses import knn_neighbourhoods, local_alignment_loss

TETRA = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [0.0, 1, 0], [0.0, 0, 1]], dtype=torch.float64)


def _rot(seed, dtype=torch.float64):
    return torch.tensor(random_rotation(np.random.default_rng(seed)), dtype=dtype)


def test_hand_computed():
    # 4 points, k = 4: every neighbourhood is the whole cloud. canonical = 0.5 * posed (+ shift).
    posed = TETRA[None]
    canonical = (0.5 * TETRA + 1.0)[None]
    seeds = torch.tensor([[0]])
    # term 1, posed -> canonical needs s = 0.5 < 1: clamped to 1, R = I, residual = -0.5 (P - mu_P)
    #   per-point L1: 0.5 * [0.75, 1.25, 1.25, 1.25] = [0.375, 0.625, 0.625, 0.625], mean 2.25 / 4 = 0.5625
    # term 2, canonical -> posed needs s = 2 > 1: clamped to 1, residual = +0.5 (P - mu_P), mean 0.5625
    # total ("mean" of each term, summed) = 1.125 ; "sum" = 2.25 + 2.25 = 4.5
    assert local_alignment_loss(canonical, posed, seeds, k=4).item() == pytest.approx(1.125)
    assert local_alignment_loss(canonical, posed, seeds, k=4, reduction="sum").item() == pytest.approx(4.5)
    res = local_alignment_loss(canonical, posed, seeds, k=4, reduction="none")
    assert sorted(res.canonical.flatten().tolist()) == pytest.approx([0.375, 0.625, 0.625, 0.625])
    assert sorted(res.posed.flatten().tolist()) == pytest.approx([0.375, 0.625, 0.625, 0.625])
    # lifting both scale bounds: a similarity either way -> 0
    free = local_alignment_loss(canonical, posed, seeds, k=4, posed_to_canonical_s_min=None, canonical_to_posed_s_max=None)
    assert free.item() == pytest.approx(0.0, abs=1e-9)


def test_zero_for_global_similarity_with_canonical_larger():
    g = torch.Generator().manual_seed(0)
    posed = torch.randn(2, 40, 3, dtype=torch.float64, generator=g)
    canonical = 1.7 * posed @ _rot(1).T + torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
    seeds = torch.randint(0, 40, (2, 5), generator=g)
    assert local_alignment_loss(canonical, posed, seeds, k=8).item() == pytest.approx(0.0, abs=1e-9)
    # a non-rigid canonical map (random, independent) is penalised
    assert local_alignment_loss(torch.randn(2, 40, 3, dtype=torch.float64, generator=g), posed, seeds, k=8).item() > 0.1


def _two_sheets(spacing=0.01, gap=0.015, n=10):
    g = torch.arange(n, dtype=torch.float64) * spacing
    X, Y = torch.meshgrid(g, g, indexing="ij")
    sheet = torch.stack([X.flatten(), Y.flatten(), torch.zeros(n * n, dtype=torch.float64)], 1)
    # slight in-plane warp so that neighbourhood singular values are distinct
    sheet[:, 1] += 0.3 * sheet[:, 0] ** 2
    return torch.cat([sheet, sheet + torch.tensor([0.0, 0.0, gap], dtype=torch.float64)])


def test_pseudo_geodesic_posed_neighbourhoods_follow_the_surface():
    # posed: two parallel sheets 1.5 cm apart (1 cm sampling). canonical: sheet 0 unchanged, sheet 1 moved
    # rigidly 1 m away: locally the canonical map is rigid on each sheet, so Eq. 6 must be 0 - provided
    # the posed neighbourhoods stay on one sheet (pseudo-geodesic), which plain posed kNN does not.
    posed = _two_sheets()
    canonical = posed.clone()
    canonical[100:] = posed[100:] @ _rot(2).T + torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    seeds = torch.tensor([[0, 55, 109, 190]])
    k = 40
    loss = local_alignment_loss(canonical[None], posed[None], seeds, k=k)
    assert loss.item() == pytest.approx(0.0, abs=1e-9)
    knn_posed = knn_neighbourhoods(posed[None], seeds, k)
    assert ((knn_posed[0, 0] >= 100).any())  # Euclidean kNN in posed space mixes the sheets


def test_knn_neighbourhoods():
    pts = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0], [0.2, 0, 0], [5.0, 0, 0], [0.2, 0, 0]]])
    # seed 4 first (it duplicates point 2), then by distance: 2 (0), 0 (0.2), 1 (0.8); ties by index
    assert knn_neighbourhoods(pts, torch.tensor([[4, 3]]), 4).tolist() == [[[4, 2, 0, 1], [3, 1, 2, 4]]]
    # padding (lengths) is never selected
    assert knn_neighbourhoods(pts, torch.tensor([[3]]), 3, lengths=torch.tensor([4])).tolist() == [[[3, 1, 2]]]


def test_shape_contract_and_lengths():
    g = torch.Generator().manual_seed(3)
    B, N, S = 2, 30, 4
    c = torch.randn(B, N, 3, generator=g)
    p = torch.randn(B, N, 3, generator=g)
    seeds = torch.randint(0, 20, (B, S), generator=g)
    out = local_alignment_loss(c, p, seeds, k=6)
    assert out.shape == () and out.dtype == torch.float32
    res = local_alignment_loss(c, p, seeds, k=6, posed_seeds=seeds[:, :3], reduction="none")
    assert res.canonical.shape == (B, S, 6) and res.posed.shape == (B, 3, 6)
    # padded points (beyond lengths) may be NaN and are never used
    c2, p2 = c.clone(), p.clone()
    c2[:, 20:] = float("nan")
    p2[:, 20:] = float("nan")
    lengths = torch.tensor([20, 20])
    assert torch.isfinite(local_alignment_loss(c2, p2, seeds, k=6, lengths=lengths))


@pytest.mark.parametrize(
    "c, p, seeds, kw, match",
    [
        (torch.rand(10, 3), torch.rand(10, 3), torch.zeros(1, 1, dtype=torch.long), {}, r"\(B, N, 3\)"),
        (torch.rand(1, 10, 3), torch.rand(1, 11, 3), torch.zeros(1, 1, dtype=torch.long), {}, "same shape"),
        (torch.rand(1, 10, 3), torch.rand(1, 10, 3), torch.zeros(1, 1), {}, "integer point indices"),
        (torch.rand(1, 10, 3), torch.rand(1, 10, 3), torch.full((1, 1), 10), {}, "out of range"),
        (torch.rand(1, 10, 3), torch.rand(1, 10, 3), torch.zeros(1, 1, dtype=torch.long), {"k": 2}, r"\[3, "),
        (torch.rand(1, 10, 3), torch.rand(1, 10, 3), torch.zeros(1, 1, dtype=torch.long), {"k": 11}, r"\[3, "),
        (torch.full((1, 10, 3), float("nan")), torch.rand(1, 10, 3), torch.zeros(1, 1, dtype=torch.long), {"k": 4}, "NaN"),
        (torch.rand(1, 10, 3), torch.rand(1, 10, 3), torch.zeros(1, 1, dtype=torch.long), {"k": 4, "reduction": "x"}, "reduction"),
    ],
)
def test_bad_input(c, p, seeds, kw, match):
    with pytest.raises(InputError, match=match):
        local_alignment_loss(c, p, seeds, **kw)


def test_gradcheck():
    g = torch.Generator().manual_seed(4)
    c = torch.randn(1, 10, 3, dtype=torch.float64, generator=g, requires_grad=True)
    p = torch.randn(1, 10, 3, dtype=torch.float64, generator=g)
    seeds = torch.tensor([[0, 7]])
    assert torch.autograd.gradcheck(lambda x: local_alignment_loss(x, p, seeds, k=5), (c,))


def test_collapsed_canonical_is_penalised_with_finite_gradient():
    g = torch.Generator().manual_seed(5)
    p = torch.randn(2, 20, 3, generator=g)
    c = torch.zeros(2, 20, 3, requires_grad=True)  # every canonical coordinate at the same point
    loss = local_alignment_loss(c, p, torch.tensor([[0, 5], [3, 9]]), k=6)
    loss.backward()
    assert loss.item() > 0.1 and torch.isfinite(c.grad).all() and c.grad.abs().sum() > 0
    # detached transforms: finite, non-zero gradient as well
    c2 = torch.randn(2, 20, 3, generator=g, requires_grad=True)
    local_alignment_loss(c2, p, torch.tensor([[0, 5], [3, 9]]), k=6, detach_transform=True).backward()
    assert torch.isfinite(c2.grad).all() and c2.grad.abs().sum() > 0
