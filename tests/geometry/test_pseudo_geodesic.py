import numpy as np
import pytest
import torch

from semcorr_core.errors import InputError
from semcorr_core.geometry import pseudo_geodesic_neighbourhood, pseudo_geodesic_neighbourhoods


def _two_sheets(spacing=0.01, gap=0.015, n=10):
    """Two parallel n x n grids (z = 0 and z = gap) with in-sheet spacing < gap."""
    g = np.arange(n) * spacing
    X, Y = np.meshgrid(g, g, indexing="ij")
    sheet = np.stack([X.ravel(), Y.ravel(), np.zeros(n * n)], 1)
    return np.concatenate([sheet, sheet + [0.0, 0.0, gap]])


def test_two_sheets_pseudo_geodesic_stays_on_sheet_knn_does_not():
    pts = _two_sheets()
    seed, k = 0, 40  # corner of the lower sheet (indices 0..99)
    nb = pseudo_geodesic_neighbourhood(pts, seed, k)
    assert nb[0] == seed and len(set(nb.tolist())) == k
    assert (nb < 100).all()  # never jumps the 1.5 cm gap while 1 cm steps remain
    knn = np.argsort(np.linalg.norm(pts - pts[seed], axis=1), kind="stable")[:k]
    assert (knn >= 100).any()  # Euclidean kNN picks up the other sheet
    assert set(nb.tolist()) != set(knn.tolist())
    # once the lower sheet is exhausted, the set must bridge the gap
    nb_all = pseudo_geodesic_neighbourhood(pts, seed, 110)
    assert set(nb_all[:100].tolist()) == set(range(100))


def test_hand_case_order_follows_nearest_to_set():
    # chain 0 -- 1 -- 2 with steps 1.0, plus point 3 at distance 1.5 from the seed only
    pts = np.array([[0.0, 0, 0], [1.0, 0, 0], [2.0, 0, 0], [0.0, 1.5, 0]])
    # nearest-to-set: 1 (1.0), then 2 (1.0 from point 1) before 3 (1.5 from seed)
    np.testing.assert_array_equal(pseudo_geodesic_neighbourhood(pts, 0, 4), [0, 1, 2, 3])
    # plain kNN order from the seed would be 0, 1, 3, 2
    np.testing.assert_array_equal(np.argsort(np.linalg.norm(pts, axis=1)), [0, 1, 3, 2])


def test_torch_batched_matches_numpy():
    rng = np.random.default_rng(0)
    pts = rng.standard_normal((2, 60, 3))
    seeds = torch.tensor([[0, 5, 59], [1, 2, 3]])
    out = pseudo_geodesic_neighbourhoods(torch.tensor(pts, dtype=torch.float64), seeds, 12)
    assert out.shape == (2, 3, 12) and out.dtype == torch.int64
    for b in range(2):
        for s in range(3):
            np.testing.assert_array_equal(out[b, s].numpy(), pseudo_geodesic_neighbourhood(pts[b], int(seeds[b, s]), 12))
    # two sheets, torch
    sheets = torch.tensor(_two_sheets(), dtype=torch.float32)[None]
    nb = pseudo_geodesic_neighbourhoods(sheets, torch.tensor([[0, 150]]), 40)
    assert (nb[0, 0] < 100).all() and (nb[0, 1] >= 100).all()


def test_lengths_exclude_padding():
    pts = torch.zeros(1, 6, 3)
    pts[0, :, 0] = torch.tensor([0.0, 1.0, 2.0, 3.0, 0.1, 0.2])  # 4 and 5 are padding
    out = pseudo_geodesic_neighbourhoods(pts, torch.tensor([[0]]), 4, lengths=torch.tensor([4]))
    np.testing.assert_array_equal(out[0, 0].numpy(), [0, 1, 2, 3])


def test_bad_input():
    pts = torch.zeros(1, 5, 3)
    with pytest.raises(InputError, match="k must"):
        pseudo_geodesic_neighbourhoods(pts, torch.tensor([[0]]), 6)
    with pytest.raises(InputError, match="out of range"):
        pseudo_geodesic_neighbourhoods(pts, torch.tensor([[5]]), 2)
    with pytest.raises(InputError, match="integer"):
        pseudo_geodesic_neighbourhoods(pts, torch.tensor([[0.0]]), 2)
    with pytest.raises(InputError, match="seeds"):
        pseudo_geodesic_neighbourhoods(pts, torch.tensor([0]), 2)
    with pytest.raises(InputError, match=r"points\[None\]"):
        pseudo_geodesic_neighbourhoods(pts[0], torch.tensor([[0]]), 2)
    bad = pts.clone()
    bad[0, 1, 1] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        pseudo_geodesic_neighbourhoods(bad, torch.tensor([[0]]), 2)
    with pytest.raises(InputError):
        pseudo_geodesic_neighbourhood(np.zeros((5, 3)), 7, 2)
    with pytest.raises(InputError):
        pseudo_geodesic_neighbourhood(np.zeros((5, 3)), 0, 0)
