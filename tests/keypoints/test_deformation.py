"""deform_keypoints: the median local residual of the matches near a keypoint moves it."""

from __future__ import annotations

import numpy as np
import pytest

from semcorr_core.errors import InputError
from semcorr_core.geometry.similarity import SimilarityTransform
from semcorr_core.keypoints.deformation import deform_keypoints

T = SimilarityTransform(np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), np.array([1.0, 0.0, 0.5]), 2.0)


def test_a_keypoint_moves_by_the_median_residual_of_its_neighbours():
    rng = np.random.default_rng(0)
    kps = np.array([[0.1, 0.0, 0.2], [-0.3, 0.0, 0.0]])  # the second has no match near it
    near = kps[0] + rng.uniform(-0.01, 0.01, (10, 3))
    points = T.apply(near) + np.array([0.0, 0.004, -0.002])  # the instance: 4 mm over, 2 mm down there
    points[:3] += np.array([0.5, 0.0, 0.0])  # three wrong matches: the median ignores them
    out = deform_keypoints(kps, T, points, near, radius=0.02)
    np.testing.assert_allclose(out.xyz[0], T.apply(kps[:1])[0] + [0.0, 0.004, -0.002], atol=1e-12)
    np.testing.assert_allclose(out.xyz[1], T.apply(kps[1:])[0])
    assert out.moved.tolist() == [True, False] and out.support.tolist() == [10, 0]
    # too few neighbours: the fit stays
    few = deform_keypoints(kps, T, points, near, radius=0.02, min_points=11)
    np.testing.assert_allclose(few.xyz, T.apply(kps))
    assert not few.moved.any()


def test_no_points_and_bad_input():
    kps = np.zeros((2, 3))
    empty = deform_keypoints(kps, T, np.zeros((0, 3)), np.zeros((0, 3)), radius=0.1)
    np.testing.assert_allclose(empty.xyz, T.apply(kps))
    with pytest.raises(InputError):
        deform_keypoints(np.zeros((2, 2)), T, np.zeros((1, 3)), np.zeros((1, 3)), radius=0.1)
    with pytest.raises(InputError):
        deform_keypoints(kps, T, np.zeros((2, 3)), np.zeros((3, 3)), radius=0.1)
    with pytest.raises(InputError):
        deform_keypoints(kps, T, np.full((1, 3), np.nan), np.zeros((1, 3)), radius=0.1)
    for radius in (0.0, float("nan")):
        with pytest.raises(InputError):
            deform_keypoints(kps, T, np.zeros((1, 3)), np.zeros((1, 3)), radius=radius)
    with pytest.raises(InputError):
        deform_keypoints(kps, T, np.zeros((1, 3)), np.zeros((1, 3)), radius=0.1, min_points=0)
