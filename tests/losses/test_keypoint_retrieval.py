"""Keypoint retrieval loss: softmax over the points for each keypoint descriptor."""

from __future__ import annotations

import math

import pytest
import torch

from semcorr_core.errors import InputError
from semcorr_core.losses import KeypointRetrieval, keypoint_retrieval_loss, keypoint_retrieval_targets


def test_targets_hand_computed():
    # points at 0 and 1 on a line, keypoint at 0, sigma 1: weights 1 and e^-1/2 over the points
    w = keypoint_retrieval_targets(torch.tensor([[[0.0], [1.0]]]), torch.zeros(1, 1, 1), 1.0)
    p0 = 1.0 / (1.0 + math.exp(-0.5))
    torch.testing.assert_close(w, torch.tensor([[[p0, 1.0 - p0]]]))
    assert w.shape == (1, 1, 2)  # (B, K, N): a distribution over the points


def test_loss_hand_computed():
    # two points; keypoint descriptor equals point 0's embedding, orthogonal to point 1's; tau 0.5:
    # logits over the points (2, 0); one-hot target on point 0 -> log(1 + e^-2)
    emb = torch.tensor([[[1.0, 0.0], [0.0, 5.0]]])
    desc = torch.tensor([[3.0, 0.0]])
    loss = keypoint_retrieval_loss(emb, desc, torch.tensor([[[1.0, 0.0]]]), 0.5)
    assert float(loss) == pytest.approx(math.log(1.0 + math.exp(-2.0)))
    # the same point wrong: target on point 1 -> log(1 + e^2)
    loss = keypoint_retrieval_loss(emb, desc, torch.tensor([[[0.0, 1.0]]]), 0.5)
    assert float(loss) == pytest.approx(math.log(1.0 + math.exp(2.0)))


def test_invalid_keypoints_left_out_and_empty_is_zero():
    emb = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    desc = torch.eye(2)
    targets = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])  # keypoint 1's target is the wrong point
    first = keypoint_retrieval_loss(emb, desc, targets, 0.5, valid=torch.tensor([[True, False]]))
    assert float(first) == pytest.approx(math.log(1.0 + math.exp(-2.0)))
    assert float(keypoint_retrieval_loss(emb, desc, targets, 0.5, valid=torch.zeros(1, 2, dtype=torch.bool))) == 0.0


@pytest.mark.parametrize("args, match", [
    ((torch.zeros(2, 3), torch.zeros(1, 3), torch.zeros(2, 1, 2)), "embeddings"),
    ((torch.zeros(1, 2, 3), torch.zeros(3), torch.zeros(1, 1, 2)), "descriptors"),
    ((torch.zeros(1, 2, 3), torch.zeros(1, 3), torch.zeros(1, 2, 1)), "targets"),
])
def test_bad_shapes(args, match):
    with pytest.raises(InputError, match=match):
        keypoint_retrieval_loss(*args, 0.5)


def test_bad_target_arguments():
    with pytest.raises(InputError, match="sigma"):
        keypoint_retrieval_targets(torch.zeros(1, 2, 3), torch.zeros(1, 1, 3), 0.0)
    with pytest.raises(InputError, match="keypoint_positions"):
        keypoint_retrieval_targets(torch.zeros(1, 2, 3), torch.zeros(2, 1, 3), 0.1)
    with pytest.raises(InputError, match="valid"):
        keypoint_retrieval_loss(torch.zeros(1, 2, 3), torch.ones(1, 3), torch.ones(1, 1, 2) / 2, 0.5,
                                valid=torch.ones(1, 1))


def test_module_gradient_reaches_embeddings_descriptors_and_temperature():
    torch.manual_seed(0)
    module = KeypointRetrieval(sigma=0.1)
    emb = torch.randn(2, 40, 8, requires_grad=True)
    desc = torch.randn(3, 8, requires_grad=True)
    loss = module(emb, desc, torch.rand(2, 40, 3), torch.rand(2, 3, 3), valid=torch.tensor([[1, 1, 0], [1, 0, 1]]).bool())
    loss.backward()
    assert loss.shape == () and emb.grad.abs().sum() > 0 and desc.grad.abs().sum() > 0
    assert module.log_temperature.grad != 0


def test_training_descriptors_makes_retrieval_find_the_keypoint():
    """Fixed random point embeddings; learning the descriptors alone makes the argmax land on
    each keypoint's own point."""
    torch.manual_seed(1)
    emb = torch.nn.functional.normalize(torch.randn(1, 30, 16), dim=-1)
    pos = torch.rand(1, 30, 2)
    kp_index = torch.tensor([3, 17, 25])
    desc = torch.nn.Parameter(torch.randn(3, 16))
    module = KeypointRetrieval(sigma=0.01)
    opt = torch.optim.Adam([desc, *module.parameters()], lr=0.05)
    first = None
    for _ in range(200):
        loss = module(emb, desc, pos, pos[:, kp_index])
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 0.2 * first
    assert ((torch.nn.functional.normalize(desc, dim=-1) @ emb[0].T).argmax(1) == kp_index).all()
