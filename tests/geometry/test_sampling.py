import numpy as np
import pytest
import torch

from semcorr_core.errors import InputError
from semcorr_core.geometry import farthest_point_sampling, farthest_point_sampling_torch


def test_hand_case_line():
    pts = np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [10, 0, 0], [4, 0, 0]])
    np.testing.assert_array_equal(farthest_point_sampling(pts, 3, start_index=0), [0, 3, 4])
    t = farthest_point_sampling_torch(torch.tensor(pts)[None], 3, start_index=0)
    np.testing.assert_array_equal(t[0].numpy(), [0, 3, 4])


def test_shapes_distinct_and_coverage():
    rng = np.random.default_rng(0)
    pts = rng.uniform(size=(500, 3))
    idx = farthest_point_sampling(pts, 64)
    assert idx.shape == (64,) and idx.dtype == np.int64 and len(set(idx.tolist())) == 64
    # FPS covers space better than a random subset: smaller covering radius
    def cover(ix):
        return np.linalg.norm(pts[:, None] - pts[ix][None], axis=-1).min(1).max()
    assert cover(idx) < cover(rng.choice(500, 64, replace=False))


def test_seeded_start_deterministic():
    pts = np.random.default_rng(1).standard_normal((100, 3))
    a = farthest_point_sampling(pts, 10, seed=3)
    np.testing.assert_array_equal(a, farthest_point_sampling(pts, 10, seed=3))
    x = torch.tensor(pts, dtype=torch.float32)[None].repeat(2, 1, 1)
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    torch.testing.assert_close(farthest_point_sampling_torch(x, 10, generator=g1), farthest_point_sampling_torch(x, 10, generator=g2))


def test_torch_matches_numpy_and_lengths():
    rng = np.random.default_rng(2)
    pts = rng.standard_normal((3, 50, 3))
    starts = torch.tensor([0, 5, 7])
    lengths = torch.tensor([50, 30, 20])
    out = farthest_point_sampling_torch(torch.tensor(pts), 16, lengths=lengths, start_index=starts)
    assert out.shape == (3, 16) and out.dtype == torch.int64
    for b in range(3):
        ref = farthest_point_sampling(pts[b, : lengths[b]], 16, start_index=int(starts[b]))
        np.testing.assert_array_equal(out[b].numpy(), ref)
        assert out[b].max() < lengths[b]


def test_duplicates_give_distinct_indices():
    pts = np.zeros((5, 3))
    assert len(set(farthest_point_sampling(pts, 5).tolist())) == 5
    assert len(set(farthest_point_sampling_torch(torch.zeros(1, 5, 3), 5)[0].tolist())) == 5


def test_bad_input():
    pts = np.zeros((5, 3))
    with pytest.raises(InputError, match="k must"):
        farthest_point_sampling(pts, 6)
    with pytest.raises(InputError, match="k must"):
        farthest_point_sampling(pts, 0)
    bad = pts.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        farthest_point_sampling(bad, 2)
    with pytest.raises(InputError, match="start_index"):
        farthest_point_sampling(pts, 2, start_index=9)
    with pytest.raises(InputError, match=r"points\[None\]"):
        farthest_point_sampling_torch(torch.zeros(5, 3), 2)
    with pytest.raises(InputError, match="k must"):
        farthest_point_sampling_torch(torch.zeros(2, 5, 3), 4, lengths=torch.tensor([5, 3]))


def test_voxel_subsample_spreads_points_and_is_seeded():
    from semcorr_core.geometry.sampling import voxel_subsample

    rng = np.random.default_rng(0)
    # a dense blob plus a sparse far region: random picks would ignore the sparse part
    dense = rng.normal(0, 0.01, (9000, 3))
    sparse = rng.uniform(0.5, 1.0, (1000, 3))
    pts = np.concatenate([dense, sparse])
    idx = voxel_subsample(pts, 500, np.random.default_rng(1))
    assert len(idx) == 500 and len(np.unique(idx)) == 500
    assert (idx >= 9000).mean() > 0.3  # the sparse 10 % of the points get a fair share of the picks
    np.testing.assert_array_equal(idx, voxel_subsample(pts, 500, np.random.default_rng(1)))
    few = voxel_subsample(pts[:10], 16, np.random.default_rng(0))
    assert len(few) == 16 and set(few) == set(range(10))  # all kept, repeats fill up
    with pytest.raises(InputError):
        voxel_subsample(np.zeros((0, 3)), 4, np.random.default_rng(0))
