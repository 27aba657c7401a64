import numpy as np
import pytest
import torch

from semcorr_core.errors import InputError
from semcorr_core.geometry import (
    random_rotation,
    ransac_iterations_needed,
    ransac_similarity,
    ransac_similarity_torch,
)


def _outlier_problem(seed=0, n=100, frac=0.5, noise=0.002):
    rng = np.random.default_rng(seed)
    R = random_rotation(rng)
    t = rng.standard_normal(3)
    s = 1.4
    src = rng.uniform(-1, 1, (n, 3))
    dst = s * src @ R.T + t + noise * rng.standard_normal((n, 3))
    n_out = int(frac * n)
    out = rng.permutation(n)[:n_out]
    dst[out] = rng.uniform(-3, 3, (n_out, 3))
    truth = np.ones(n, bool)
    truth[out] = False
    return R, t, s, src, dst, truth


def test_recovers_with_half_outliers():
    R, t, s, src, dst, truth = _outlier_problem()
    res = ransac_similarity(src, dst, threshold=0.02, seed=0)
    assert np.linalg.norm(res.model.R - R) < 0.01
    assert res.model.s == pytest.approx(s, rel=0.01)
    np.testing.assert_allclose(res.model.t, t, atol=0.01)
    assert res.inliers.dtype == bool and res.inliers.shape == (100,)
    assert (res.inliers & truth).sum() >= 48 and (res.inliers & ~truth).sum() <= 2
    # adaptive stop: far fewer than the cap (50 % inliers, 0.999 -> ~52 draws)
    assert res.n_iterations < 200


def test_deterministic_given_seed():
    *_, src, dst, _ = _outlier_problem(1)
    a = ransac_similarity(src, dst, threshold=0.02, seed=5)
    b = ransac_similarity(src, dst, threshold=0.02, seed=5)
    assert a.n_iterations == b.n_iterations
    np.testing.assert_array_equal(a.inliers, b.inliers)
    np.testing.assert_array_equal(a.model.R, b.model.R)


def test_iterations_needed():
    assert ransac_iterations_needed(1.0, 0.99) == 1.0
    assert ransac_iterations_needed(0.0, 0.99) == float("inf")
    assert ransac_iterations_needed(0.5, 0.999) == pytest.approx(np.log(0.001) / np.log(1 - 0.125))


def test_scale_bounds_and_rigid():
    R, t, s, src, dst, truth = _outlier_problem(2, frac=0.3)
    free = ransac_similarity(src, dst, threshold=0.02)
    inactive = ransac_similarity(src, dst, threshold=0.02, s_min=1.0)  # bound not active
    np.testing.assert_allclose(inactive.model.R, free.model.R)
    active = ransac_similarity(src, dst, threshold=1.0, s_max=1.2)  # bound active: clamped
    assert active.model.s == 1.2
    clean = ransac_similarity(src[truth] * s, dst[truth], threshold=0.02, with_scale=False)
    assert clean.model.s == 1.0 and clean.inliers.all()


def test_bad_input():
    src = np.random.default_rng(0).standard_normal((10, 3))
    with pytest.raises(InputError, match="threshold"):
        ransac_similarity(src, src, threshold=0.0)
    with pytest.raises(InputError, match="confidence"):
        ransac_similarity(src, src, threshold=0.1, confidence=1.0)
    with pytest.raises(InputError):
        ransac_similarity(src[:2], src[:2], threshold=0.1)
    with pytest.raises(InputError):
        ransac_similarity(src, src[:, :2], threshold=0.1)
    line = np.zeros((10, 3))
    line[:, 0] = np.arange(10)
    with pytest.raises(InputError, match="no hypothesis"):
        ransac_similarity(line, line, threshold=0.1, max_iterations=20)


def test_torch_batched_recovers_and_is_deterministic():
    probs = [_outlier_problem(seed) for seed in (0, 3)]
    src = torch.tensor(np.stack([p[3] for p in probs]))
    dst = torch.tensor(np.stack([p[4] for p in probs]))
    res = ransac_similarity_torch(src, dst, threshold=0.02, n_hypotheses=128, generator=torch.Generator().manual_seed(0))
    assert res.model.R.shape == (2, 3, 3) and res.inliers.shape == (2, 100) and res.n_iterations == 128
    for b, (R, t, s, *_rest, truth) in enumerate(probs):
        assert np.linalg.norm(res.model.R[b].numpy() - R) < 0.01
        assert res.model.s[b].item() == pytest.approx(s, rel=0.01)
        assert (res.inliers[b].numpy() & truth).sum() >= 48
    res2 = ransac_similarity_torch(src, dst, threshold=0.02, n_hypotheses=128, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(res.model.R, res2.model.R, rtol=0, atol=0)
    with pytest.raises(InputError):
        ransac_similarity_torch(src[0], dst[0], threshold=0.02)
