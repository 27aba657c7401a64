import math

import pytest
import torch

from semcorr_core.errors import InputError
from semcorr_core.losses import KeypointCrossEntropy, keypoint_ce_loss, keypoint_logits


def _hand_case():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)  # descriptors of keypoints 0 and 1
    f = torch.tensor([[[2.0, 0.0], [1.0, 1.0]]], dtype=torch.float64)  # features at keypoint 0 and 1 of one image
    return f, z


def test_hand_computed():
    f, z = _hand_case()
    vis = torch.ones(1, 2, dtype=torch.bool)
    # keypoint 0: cos = (1, 0), tau = 0.5 -> logits (2, 0) -> -log(e^2 / (e^2 + 1)) = log(1 + e^-2) = 0.126928011
    # keypoint 1: cos = (1/sqrt2, 1/sqrt2) -> equal logits -> log 2 = 0.693147181
    # Eq. 4 (sum over keypoints, mean over the 1 image): 0.820075192 ; mean over keypoints: 0.410037596
    assert keypoint_ce_loss(f, z, vis, 0.5).item() == pytest.approx(0.820075192)
    assert keypoint_ce_loss(f, z, vis, 0.5, reduction="mean").item() == pytest.approx(0.410037596)
    assert keypoint_ce_loss(f, z, vis, 0.5, reduction="none")[0].tolist() == pytest.approx([0.126928011, 0.693147181])
    # keypoint 1 not annotated -> only the first term
    vis1 = torch.tensor([[True, False]])
    assert keypoint_ce_loss(f, z, vis1, 0.5).item() == pytest.approx(0.126928011)
    # a padded class slot leaves the softmax: keypoint 0 alone -> loss 0
    assert keypoint_ce_loss(f, z, vis1, 0.5, class_mask=torch.tensor([True, False])).item() == pytest.approx(0.0, abs=1e-12)


def test_shape_contract():
    B, K, D = 3, 5, 8
    f = torch.randn(B, K, D)
    vis = torch.rand(B, K) > 0.3
    z = torch.randn(K, D)
    assert keypoint_ce_loss(f, z, vis, 0.1).shape == ()
    assert keypoint_ce_loss(f, z, vis, 0.1, reduction="none").shape == (B, K)
    assert keypoint_ce_loss(f, z.expand(B, K, D), vis, 0.1).item() == pytest.approx(keypoint_ce_loss(f, z, vis, 0.1).item())
    # invisible rows may hold NaN (e.g. no feature sampled there)
    f2 = f.clone()
    f2[~vis] = float("nan")
    assert torch.isfinite(keypoint_ce_loss(f2, z, vis, 0.1))
    # logits for arbitrary query pixels (Eq. 5 attention)
    assert keypoint_logits(torch.randn(B, 11, D), z, 0.1).shape == (B, 11, K)
    m = KeypointCrossEntropy(K, D)
    assert m(f, vis).shape == () and m.logits(torch.randn(B, 11, D)).shape == (B, 11, K)


@pytest.mark.parametrize(
    "f, z, vis, tau, kw, match",
    [
        (torch.randn(2, 8), torch.randn(2, 8), torch.ones(1, 2, dtype=torch.bool), 0.1, {}, r"\(B, K, D\)"),
        (torch.randn(1, 2, 8), torch.randn(3, 8), torch.ones(1, 2, dtype=torch.bool), 0.1, {}, r"\(2, 8\)"),
        (torch.randn(1, 2, 8), torch.randn(2, 8), torch.ones(1, 2), 0.1, {}, "visible must be a bool"),
        (torch.randn(1, 2, 8), torch.randn(2, 8), torch.ones(1, 2, dtype=torch.bool), 0.0, {}, "> 0"),
        (torch.randn(1, 2, 8), torch.randn(2, 8), torch.ones(1, 2, dtype=torch.bool), torch.ones(2), {}, "one-element"),
        (torch.full((1, 2, 8), float("nan")), torch.randn(2, 8), torch.ones(1, 2, dtype=torch.bool), 0.1, {}, "NaN"),
        (torch.randn(1, 2, 8), torch.randn(2, 8), torch.ones(1, 2, dtype=torch.bool), 0.1,
         {"class_mask": torch.tensor([True, False])}, "padded"),
        (torch.randn(1, 2, 8), torch.randn(2, 8), torch.ones(1, 2, dtype=torch.bool), 0.1, {"reduction": "avg"}, "reduction"),
    ],
)
def test_bad_input(f, z, vis, tau, kw, match):
    with pytest.raises(InputError, match=match):
        keypoint_ce_loss(f, z, vis, tau, **kw)


def test_module_bad_input():
    with pytest.raises(InputError, match="init_temperature"):
        KeypointCrossEntropy(3, 4, init_temperature=-1.0)
    with pytest.raises(InputError, match="dim"):
        KeypointCrossEntropy(3, 0)


def test_gradcheck_features_descriptors_log_temperature():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(2, 3, 4, dtype=torch.float64, generator=g, requires_grad=True)
    z = torch.randn(3, 4, dtype=torch.float64, generator=g, requires_grad=True)
    log_tau = torch.tensor(math.log(0.3), dtype=torch.float64, requires_grad=True)
    vis = torch.tensor([[True, True, False], [True, False, True]])
    assert torch.autograd.gradcheck(lambda a, b, c: keypoint_ce_loss(a, b, vis, c.exp()), (f, z, log_tau))


def test_learned_temperature_receives_gradient_and_training_reduces_loss():
    g = torch.Generator().manual_seed(1)
    K, D = 4, 6
    m = KeypointCrossEntropy(K, D, init_temperature=0.5, generator=g)
    assert m.temperature.item() == pytest.approx(0.5)
    # features equal to their own descriptor: correctly classified -> lowering tau lowers the loss,
    # so d loss / d log_tau > 0
    f = m.descriptors.detach()[None].repeat(2, 1, 1)
    vis = torch.ones(2, K, dtype=torch.bool)
    m(f, vis).backward()
    assert m.log_temperature.grad is not None and m.log_temperature.grad.item() > 0
    assert m.descriptors.grad is not None and torch.isfinite(m.descriptors.grad).all()
    # fixed temperature: a buffer, no parameter
    fixed = KeypointCrossEntropy(K, D, learn_temperature=False)
    assert [n for n, _ in fixed.named_parameters()] == ["descriptors"] and "log_temperature" in fixed.state_dict()
    # a few steps on random features: loss decreases, temperature moves
    feats = torch.randn(8, K, D, generator=g)
    opt = torch.optim.Adam(m.parameters(), lr=0.05)
    l0 = m(feats, vis.repeat(4, 1)).item()
    for _ in range(30):
        opt.zero_grad()
        loss = m(feats, vis.repeat(4, 1))
        loss.backward()
        opt.step()
    assert loss.item() < l0 and m.temperature.item() != pytest.approx(0.5)


def test_min_temperature_floor():
    m = KeypointCrossEntropy(2, 2, init_temperature=0.1, min_temperature=0.05)
    with torch.no_grad():
        m.log_temperature.fill_(math.log(0.01))
    assert m.temperature.item() == pytest.approx(0.05)
