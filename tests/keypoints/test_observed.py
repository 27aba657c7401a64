"""observe_keypoints: descriptor matches on the observed surface refine the fitted keypoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semcorr_core.errors import InputError
from semcorr_core.keypoints import observe_keypoints


def _scene():
    # five observed points on a line (gravity frame, z up); embeddings one-hot per point
    points = np.array([[0.0, 0, 0.10], [0.005, 0, 0.10], [0.1, 0, 0.0], [0.2, 0, 0.0], [0.3, 0, 0.05]])
    emb = torch.eye(5)
    return points, emb


def test_surface_keypoint_moves_to_its_match_and_axis_keypoint_takes_its_height():
    points, emb = _scene()
    # keypoint 0 (surface) matches points 0 and 1 equally; keypoint 1 (axis) matches point 4;
    # keypoint 2 (surface) matches point 3, which is farther from its fit than the gate
    kp_emb = torch.tensor([[1.0, 1.0, 0, 0, 0], [0, 0, 0, 0, 1.0], [0, 0, 0, 1.0, 0]])
    fitted = np.array([[0.01, 0.0, 0.09], [0.5, 0.5, 0.07], [0.0, 0.0, 0.0]])
    r = observe_keypoints(kp_emb, emb, points, fitted, on_surface=np.array([True, False, True]),
                          on_axis=np.array([False, True, False]), gate=0.05, window=0.01)
    # soft-argmax of two equally similar points within the window: their midpoint
    np.testing.assert_allclose(r.xyz[0], [0.0025, 0.0, 0.10], atol=1e-12)
    # on the axis: fitted x, y kept, the observed height 0.05 taken
    np.testing.assert_allclose(r.xyz[1], [0.5, 0.5, 0.05], atol=1e-12)
    # 0.2 m away from the fit: the prior stays
    np.testing.assert_allclose(r.xyz[2], fitted[2])
    assert r.observed.tolist() == [True, True, False]
    np.testing.assert_allclose(r.similarity, [1 / np.sqrt(2), 1.0, 1.0], atol=1e-6)


def test_low_similarity_and_unflagged_keypoints_keep_the_fit():
    points, emb = _scene()
    kp_emb = torch.tensor([[1.0, 0, 0, 0, 0], [1.0, 0, 0, 0, 0]])
    fitted = np.array([[0.0, 0.0, 0.1], [0.0, 0.0, 0.1]])
    r = observe_keypoints(kp_emb, emb, points, fitted, on_surface=np.array([True, False]),
                          on_axis=np.array([False, False]), gate=0.05, min_similarity=1.01)
    assert not r.observed.any()
    np.testing.assert_array_equal(r.xyz, fitted)


def test_bad_input():
    points, emb = _scene()
    kp = torch.ones(2, 5)
    fitted = np.zeros((2, 3))
    flags = dict(on_surface=np.array([True, True]), on_axis=np.array([False, False]))
    with pytest.raises(InputError, match="points"):
        observe_keypoints(kp, emb, np.zeros((0, 3)), fitted, gate=0.05, **flags)
    with pytest.raises(InputError, match="point_embeddings"):
        observe_keypoints(kp, emb[:3], points, fitted, gate=0.05, **flags)
    with pytest.raises(InputError, match="keypoint_embeddings"):
        observe_keypoints(torch.ones(3, 5), emb, points, fitted, gate=0.05, **flags)
    with pytest.raises(InputError, match="on_surface"):
        observe_keypoints(kp, emb, points, fitted, gate=0.05, on_surface=np.array([True]), on_axis=np.array([False]))
    with pytest.raises(InputError, match="gate"):
        observe_keypoints(kp, emb, points, fitted, gate=0.0, **flags)
