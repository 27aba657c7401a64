import numpy as np
import pytest
import torch

from semcorr_core.errors import InputError
from semcorr_core.geometry import (
    SimilarityTransform,
    fit_similarity,
    fit_similarity_torch,
    random_rotation,
    similarity_residuals,
)


def _problem(seed=0, n=20, s=1.7):
    rng = np.random.default_rng(seed)
    R = random_rotation(rng)
    t = rng.standard_normal(3)
    src = rng.standard_normal((n, 3))
    dst = s * src @ R.T + t
    return rng, R, t, s, src, dst


def test_exact_recovery():
    _, R, t, s, src, dst = _problem()
    T = fit_similarity(src, dst)
    assert isinstance(T, SimilarityTransform)
    assert T.R.shape == (3, 3) and T.t.shape == (3,) and isinstance(T.s, float)
    np.testing.assert_allclose(T.R, R, atol=1e-10)
    np.testing.assert_allclose(T.t, t, atol=1e-10)
    assert T.s == pytest.approx(s)
    np.testing.assert_allclose(T.apply(src), dst, atol=1e-10)
    np.testing.assert_allclose(T.inverse().apply(dst), src, atol=1e-10)
    M = T.matrix()
    np.testing.assert_allclose(src @ M[:3, :3].T + M[:3, 3], dst, atol=1e-10)
    np.testing.assert_allclose(similarity_residuals(T, src, dst), 0.0, atol=1e-10)


def test_noise_and_weights_downweight_outliers():
    rng, R, t, s, src, dst = _problem(1, n=200)
    noisy = dst + 0.01 * rng.standard_normal(dst.shape)
    T = fit_similarity(src, noisy)
    assert np.linalg.norm(T.R - R) < 0.02 and abs(T.s - s) < 0.02 and np.linalg.norm(T.t - t) < 0.02
    # 20 gross outliers: zero weight ignores them exactly
    bad = dst.copy()
    bad[:20] += rng.uniform(-5, 5, (20, 3))
    w = np.ones(200)
    w[:20] = 0.0
    T = fit_similarity(src, bad, w)
    np.testing.assert_allclose(T.R, R, atol=1e-9)
    assert T.s == pytest.approx(s)
    # weights are scale-invariant
    T2 = fit_similarity(src, bad, 7.0 * w)
    np.testing.assert_allclose(T2.R, T.R, atol=1e-12)


def test_rigid_mode():
    _, R, t, _, src, _ = _problem(2)
    dst = src @ R.T + t
    T = fit_similarity(src, dst, with_scale=False)
    assert T.s == 1.0
    np.testing.assert_allclose(T.R, R, atol=1e-10)
    with pytest.raises(InputError, match="with_scale"):
        fit_similarity(src, dst, with_scale=False, s_min=1.0)


def test_reflection_yields_proper_rotation():
    rng = np.random.default_rng(3)
    src = rng.standard_normal((30, 3))
    dst = src * np.array([1.0, 1.0, -1.0])  # mirror image: best orthogonal map is a reflection
    T = fit_similarity(src, dst)
    assert np.linalg.det(T.R) == pytest.approx(1.0)
    np.testing.assert_allclose(T.R @ T.R.T, np.eye(3), atol=1e-12)
    Tt = fit_similarity_torch(torch.from_numpy(src)[None], torch.from_numpy(dst)[None])
    assert torch.linalg.det(Tt.R)[0].item() == pytest.approx(1.0)
    np.testing.assert_allclose(Tt.R[0].numpy(), T.R, atol=1e-9)


def test_scale_clamp_recomputes_translation():
    _, R, t, _, src, _ = _problem(4, s=0.5)
    dst = 0.5 * src @ R.T + t
    T = fit_similarity(src, dst, s_min=1.0)
    assert T.s == 1.0
    np.testing.assert_allclose(T.R, R, atol=1e-10)  # rotation is independent of the scale
    # translation is optimal for the clamped scale: weighted centroids coincide
    np.testing.assert_allclose(T.apply(src).mean(0), dst.mean(0), atol=1e-12)
    # and it beats a perturbed translation / any other admissible scale
    def cost(Tx):
        return ((Tx.apply(src) - dst) ** 2).sum()
    assert cost(T) < cost(SimilarityTransform(T.R, T.t + 1e-3, 1.0))
    assert cost(T) < cost(SimilarityTransform(T.R, dst.mean(0) - 1.01 * T.R @ src.mean(0), 1.01))
    T = fit_similarity(src, dst, s_max=0.25)
    assert T.s == 0.25
    Tt = fit_similarity_torch(torch.from_numpy(src)[None], torch.from_numpy(dst)[None], s_min=1.0)
    assert Tt.s.item() == 1.0
    np.testing.assert_allclose(Tt.t[0].numpy(), fit_similarity(src, dst, s_min=1.0).t, atol=1e-10)
    with pytest.raises(InputError):
        fit_similarity(src, dst, s_min=2.0, s_max=1.0)
    with pytest.raises(InputError):
        fit_similarity(src, dst, s_min=-1.0)


def test_torch_batched_matches_numpy():
    g = torch.Generator().manual_seed(0)
    B, N = 5, 12
    src = torch.randn(B, N, 3, generator=g, dtype=torch.float64)
    dst = torch.randn(B, N, 3, generator=g, dtype=torch.float64)
    w = torch.rand(B, N, generator=g, dtype=torch.float64)
    for kw in (dict(), dict(with_scale=False), dict(s_min=1.0)):
        Tt = fit_similarity_torch(src, dst, w, **kw)
        assert Tt.R.shape == (B, 3, 3) and Tt.t.shape == (B, 3) and Tt.s.shape == (B,)
        for b in range(B):
            Tn = fit_similarity(src[b].numpy(), dst[b].numpy(), w[b].numpy(), **kw)
            np.testing.assert_allclose(Tt.R[b].numpy(), Tn.R, atol=1e-9)
            np.testing.assert_allclose(Tt.t[b].numpy(), Tn.t, atol=1e-9)
            assert Tt.s[b].item() == pytest.approx(Tn.s)
    # helpers on batched tensors
    Tt = fit_similarity_torch(src, dst, w)
    y = Tt.apply(src)
    assert y.shape == (B, N, 3)
    torch.testing.assert_close(Tt.inverse().apply(y), src)
    M = Tt.matrix()
    assert M.shape == (B, 4, 4)
    torch.testing.assert_close(src @ M[:, :3, :3].transpose(1, 2) + M[:, None, :3, 3], y)
    assert similarity_residuals(Tt, src, dst).shape == (B, N)


def test_torch_exact_recovery_float32():
    _, R, t, s, src, dst = _problem(5)
    Tt = fit_similarity_torch(torch.tensor(src, dtype=torch.float32)[None], torch.tensor(dst, dtype=torch.float32)[None])
    assert Tt.R.dtype == torch.float32
    np.testing.assert_allclose(Tt.R[0].numpy(), R, atol=1e-4)
    assert Tt.s.item() == pytest.approx(s, rel=1e-4)


def test_gradcheck():
    g = torch.Generator().manual_seed(1)
    src = torch.randn(2, 6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    dst = (src.detach() * 1.3 + 0.2 * torch.randn(2, 6, 3, generator=g, dtype=torch.float64)).requires_grad_(True)
    w = (torch.rand(2, 6, generator=g, dtype=torch.float64) + 0.5).requires_grad_(True)
    probe = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)

    def f(a, b, ww):
        T = fit_similarity_torch(a, b, ww)
        return T.apply(probe)

    assert torch.autograd.gradcheck(f, (src, dst, w), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize(
    "src,dst,w,match",
    [
        (np.zeros((5, 2)), np.zeros((5, 2)), None, r"\(N, 3\)"),
        (np.ones((2, 3)), np.ones((2, 3)), None, "at least 3"),
        (np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0.0]]), np.eye(4, 3), None, "collinear"),
        (np.eye(3), np.eye(3), np.zeros(3), "zero"),
        (np.eye(3), np.eye(3), -np.ones(3), ">= 0"),
        (np.eye(3), np.eye(3), np.ones(4), "weights"),
        (np.full((3, 3), np.nan), np.eye(3), None, "NaN"),
    ],
)
def test_bad_input_numpy(src, dst, w, match):
    with pytest.raises(InputError, match=match):
        fit_similarity(src, dst, w)


def test_collinear_after_weighting_is_degenerate():
    src = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 1, 0.0]])
    fit_similarity(src, src)  # fine
    with pytest.raises(InputError, match="collinear"):
        fit_similarity(src, src, np.array([1.0, 1.0, 1.0, 0.0]))


def test_bad_input_torch():
    x = torch.randn(2, 5, 3)
    with pytest.raises(InputError, match="batch"):
        fit_similarity_torch(x[0], x[0])
    with pytest.raises(InputError):
        fit_similarity_torch(x, x.double())
    with pytest.raises(InputError):
        fit_similarity_torch(x.numpy(), x.numpy())
    y = x.clone()
    y[1, 2, 0] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        fit_similarity_torch(y, x)
    with pytest.raises(InputError, match=r"\[1\]"):
        fit_similarity_torch(x, x, torch.stack([torch.ones(5), torch.zeros(5)]))
    line = torch.zeros(2, 5, 3)
    line[:, :, 0] = torch.arange(5.0)
    with pytest.raises(InputError, match="collinear"):
        fit_similarity_torch(line, line)
    T = fit_similarity_torch(line, line, check_degenerate=False)  # caller handles it
    torch.testing.assert_close(torch.linalg.det(T.R), torch.ones(2))
    with pytest.raises(InputError, match="weights"):
        fit_similarity_torch(x, x, torch.ones(2, 4))
