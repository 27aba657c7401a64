"""Keypoint transfer by nearest embedding, and the FPFH baseline descriptor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semcorr_core.errors import InputError
from semcorr_core.keypoints import nearest_embedding_transfer
from semcorr_core.models.fpfh import fpfh_descriptors


def test_hand_made_transfer():
    points = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [0, 1, 0]]])
    emb = torch.tensor([[[1.0, 0], [0, 1], [-1, 0]]])
    kp = torch.tensor([[0.0, 2.0], [-3.0, 0.1]])  # points 1 (cos 1) and 2 (cos ~0.998)
    out = nearest_embedding_transfer(kp, points, emb)
    assert out.index.tolist() == [[1, 2]]
    torch.testing.assert_close(out.position, torch.tensor([[[1.0, 0, 0], [0, 1, 0]]]))
    assert out.score[0, 0].item() == pytest.approx(1.0)
    assert out.score[0, 1].item() == pytest.approx(3.0 / np.hypot(3.0, 0.1))


def test_transfer_bad_shapes():
    with pytest.raises(InputError, match="points"):
        nearest_embedding_transfer(torch.rand(2, 4), torch.rand(5, 3), torch.rand(1, 5, 4))
    with pytest.raises(InputError, match="point_embeddings"):
        nearest_embedding_transfer(torch.rand(2, 4), torch.rand(1, 5, 3), torch.rand(1, 6, 4))
    with pytest.raises(InputError, match="keypoint_embeddings"):
        nearest_embedding_transfer(torch.rand(2, 8), torch.rand(1, 5, 3), torch.rand(1, 5, 4))


def test_transfer_gradient_reaches_embeddings():
    emb = torch.rand(1, 10, 4, requires_grad=True)
    out = nearest_embedding_transfer(torch.rand(3, 4), torch.rand(1, 10, 3), emb)
    out.score.sum().backward()
    assert emb.grad is not None and emb.grad.abs().sum() > 0


def test_fpfh_is_rigid_invariant_and_discriminative():
    rng = np.random.default_rng(0)
    # a box surface: corners and face centres have different local geometry
    pts = rng.uniform(-1, 1, (3000, 3))
    pts[np.arange(3000), rng.integers(0, 3, 3000)] = rng.choice([-1.0, 1.0], 3000)
    f = fpfh_descriptors(pts, radius=0.3)
    assert f.shape == (3000, 33) and np.isfinite(f).all()
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    q *= np.sign(np.linalg.det(q))
    g = fpfh_descriptors(pts @ q.T + [0.3, -2.0, 1.0], radius=0.3)
    # histogram bins can flip for points exactly on a cube edge; almost all points must agree
    rel = np.linalg.norm(f - g, axis=1) / np.maximum(np.linalg.norm(f, axis=1), 1e-9)
    assert np.median(rel) < 1e-4 and np.mean(rel < 0.05) > 0.95
    corner = np.argmin(np.linalg.norm(pts - 1.0, axis=1))
    face = np.argmin(np.linalg.norm(pts - [1.0, 0, 0], axis=1))
    assert np.linalg.norm(f[corner] - f[face]) > 0.2 * np.linalg.norm(f[face])
    with pytest.raises(InputError):
        fpfh_descriptors(pts[:3], radius=0.3)
