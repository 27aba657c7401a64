import numpy as np
import pytest
import torch

from semcorr_core.errors import InputError
from semcorr_core.geometry import random_rotation
from semcorr_core.losses import ProcrustesPrototype, align_to_prototype, procrustes_prototype_loss

# unit "corner" tetrahedron: centroid (1/4, 1/4, 1/4)
TETRA = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [0.0, 1, 0], [0.0, 0, 1]], dtype=torch.float64)


def _rot(seed):
    return torch.tensor(random_rotation(np.random.default_rng(seed)), dtype=torch.float64)


def test_hand_computed_scale_clamped_to_one():
    # posed keypoints are the prototype enlarged 2x and shifted: the posed -> canonical map needs s = 0.5,
    # which s >= 1 forbids. With s = 1: R = I (cross-covariance 2 * Cov(P) is symmetric PSD),
    # t = mu_P - mu_k, aligned = 2P - mu_P, residual P - aligned = mu_P - P.
    # L1 norms: (0,0,0) -> 3 * 0.25 = 0.75 ; (1,0,0) -> 0.75 + 0.25 + 0.25 = 1.25 ; same for the other two
    # mean over the 4 visible keypoints: (0.75 + 3 * 1.25) / 4 = 1.125 ; sum = 4.5
    kp = (2.0 * TETRA + torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64))[None]
    vis = torch.ones(1, 4, dtype=torch.bool)
    assert procrustes_prototype_loss(TETRA, kp, vis).item() == pytest.approx(1.125)
    assert procrustes_prototype_loss(TETRA, kp, vis, reduction="sum").item() == pytest.approx(4.5)
    assert procrustes_prototype_loss(TETRA, kp, vis, reduction="none")[0].tolist() == pytest.approx([0.75, 1.25, 1.25, 1.25])
    # without the constraint the (shrinking) similarity is exact
    assert procrustes_prototype_loss(TETRA, kp, vis, s_min=None).item() == pytest.approx(0.0, abs=1e-9)
    assert align_to_prototype(TETRA, kp, vis).transform.s.item() == pytest.approx(1.0)


def test_zero_for_similarity_with_scale_at_least_one_positive_otherwise():
    g = torch.Generator().manual_seed(0)
    P = torch.randn(6, 3, dtype=torch.float64, generator=g)
    B = 5
    kps, scales = [], [1.0, 1.5, 3.0, 0.5, 0.8]  # canonical = s R posed + t
    for b, s in enumerate(scales):
        R = _rot(b)
        t = torch.randn(3, dtype=torch.float64, generator=g)
        kps.append(((P - t) @ R) / s)  # inverse of P = s R k + t
    kp = torch.stack(kps)
    vis = torch.ones(B, 6, dtype=torch.bool)
    per = procrustes_prototype_loss(P, kp, vis, reduction="none").sum(-1)
    assert per[:3].max().item() < 1e-9  # s >= 1: exact alignment
    assert per[3:].min().item() > 1e-2  # s < 1 needed: clamped, residual left
    T = align_to_prototype(P, kp, vis).transform
    assert T.s.tolist() == pytest.approx([1.0, 1.5, 3.0, 1.0, 1.0])


def test_shape_contract_visibility_and_skipped_samples():
    g = torch.Generator().manual_seed(1)
    P = torch.randn(7, 3, generator=g)
    kp = torch.randn(4, 7, 3, generator=g)
    vis = torch.rand(4, 7, generator=g) > 0.2
    vis[0] = True
    vis[1] = False
    vis[1, :2] = True  # only 2 visible: skipped
    kp[~vis] = float("nan")  # invisible keypoints may have no depth
    kp[2, :, 0] = torch.linspace(0.0, 1.0, 7)
    kp[2, :, 1] = 2.0 * kp[2, :, 0]
    kp[2, :, 2] = 0.0  # collinear posed keypoints: skipped
    vis[2] = True
    out = procrustes_prototype_loss(P, kp, vis, reduction="none")
    assert out.shape == (4, 7) and torch.isfinite(out).all()
    assert (out[1] == 0).all() and (out[2] == 0).all() and (out[~vis] == 0).all()
    al = align_to_prototype(P, kp, vis)
    assert al.used.tolist() == [True, False, False, bool(vis[3].sum() >= 3)]
    assert al.transform.R.shape == (4, 3, 3) and al.transform.t.shape == (4, 3) and al.transform.s.shape == (4,)
    mean = procrustes_prototype_loss(P, kp, vis)
    assert mean.shape == () and mean.item() == pytest.approx((out.sum() / (vis & al.used[:, None]).sum()).item(), rel=1e-5)
    # per-sample prototypes (B, K, 3) are accepted too
    assert procrustes_prototype_loss(P.expand(4, 7, 3), kp, vis).item() == pytest.approx(mean.item(), rel=1e-6)


@pytest.mark.parametrize(
    "P, kp, vis, kw, match",
    [
        (torch.rand(4, 3), torch.rand(4, 3), torch.ones(1, 4, dtype=torch.bool), {}, r"\(B, K, 3\)"),
        (torch.rand(5, 3), torch.rand(1, 4, 3), torch.ones(1, 4, dtype=torch.bool), {}, r"prototype must be a float \(4, 3\)"),
        (torch.rand(4, 3).double(), torch.rand(1, 4, 3), torch.ones(1, 4, dtype=torch.bool), {}, "dtype"),
        (torch.rand(4, 3), torch.rand(1, 4, 3), torch.ones(1, 4), {}, "visible must be a bool"),
        (torch.rand(4, 3), torch.full((1, 4, 3), float("nan")), torch.ones(1, 4, dtype=torch.bool), {}, "NaN"),
        (torch.rand(4, 3), torch.rand(1, 4, 3), torch.ones(1, 4, dtype=torch.bool), {"s_min": -1.0}, "s_min"),
        (torch.rand(4, 3), torch.rand(1, 4, 3), torch.ones(1, 4, dtype=torch.bool), {"min_visible": 2}, "min_visible"),
        (torch.rand(4, 3), torch.rand(1, 4, 3), torch.ones(1, 4, dtype=torch.bool), {"reduction": "avg"}, "reduction"),
    ],
)
def test_bad_input(P, kp, vis, kw, match):
    with pytest.raises(InputError, match=match):
        procrustes_prototype_loss(P, kp, vis, **kw)


def test_module_bad_input():
    with pytest.raises(InputError, match="num_keypoints"):
        ProcrustesPrototype(2)
    with pytest.raises(InputError, match="init"):
        ProcrustesPrototype(4, init=torch.rand(3, 3))


def test_gradcheck_through_the_fit():
    g = torch.Generator().manual_seed(2)
    P = torch.randn(5, 3, dtype=torch.float64, generator=g, requires_grad=True)
    kp = torch.randn(2, 5, 3, dtype=torch.float64, generator=g)
    vis = torch.ones(2, 5, dtype=torch.bool)
    vis[1, 4] = False
    assert torch.autograd.gradcheck(lambda p: procrustes_prototype_loss(p, kp, vis), (P,))


def test_detached_transform_gives_finite_nonzero_gradient_and_degenerate_prototype_is_safe():
    g = torch.Generator().manual_seed(3)
    P = torch.randn(5, 3, generator=g, requires_grad=True)
    kp = torch.randn(3, 5, 3, generator=g)
    vis = torch.ones(3, 5, dtype=torch.bool)
    procrustes_prototype_loss(P, kp, vis, detach_transform=True).backward()
    assert torch.isfinite(P.grad).all() and P.grad.abs().sum() > 0
    # a collapsed prototype (all keypoints equal) is still penalised, with a finite gradient
    P0 = torch.zeros(5, 3, requires_grad=True)
    loss = procrustes_prototype_loss(P0, kp, vis)
    loss.backward()
    assert loss.item() > 0 and torch.isfinite(P0.grad).all() and P0.grad.abs().sum() > 0


def test_module_learns_prototype_up_to_similarity():
    # noisy, rotated, shrunken copies of a shape; GPA with s >= 1 recovers the shape, as large as the largest copy
    g = torch.Generator().manual_seed(4)
    shape = torch.randn(6, 3, generator=g)
    kps = []
    for b in range(8):
        s = 1.0 if b == 0 else float(torch.empty(()).uniform_(0.5, 1.0, generator=g))
        kps.append(s * shape @ _rot(10 + b).float().T + torch.randn(3, generator=g))
    kp = torch.stack(kps)
    vis = torch.rand(8, 6, generator=g) > 0.15
    vis[:, :3] = True
    proto = ProcrustesPrototype(6, generator=torch.Generator().manual_seed(5), init_scale=0.05)
    opt = torch.optim.Adam(proto.parameters(), lr=0.05)
    first = None
    for _ in range(300):
        opt.zero_grad()
        loss = proto(kp, vis)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.05 * first
    # the learned prototype is a similarity image of the true shape (up to the s >= 1 scale)
    full = torch.ones(1, 6, dtype=torch.bool)
    residual = procrustes_prototype_loss(proto.prototype.detach(), shape[None], full, s_min=None)
    assert residual.item() < 0.05
