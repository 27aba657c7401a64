"""Keypoints completed through a mirror plane measured on found left/right pairs (hand-computed cases)."""

from __future__ import annotations

import numpy as np
import pytest

from semcorr_core.errors import InputError
from semcorr_core.keypoints.mirror import (MirrorPlane, complete_by_mirror, mirror_plane_from_pairs,
                                           reflect_points)

# a chair's four leg contacts, left = +y: front-left, front-right, back-left, back-right; mirror plane y = 0.1
LEGS = np.array([[0.2, 0.35, 0.0], [0.2, -0.15, 0.0], [-0.2, 0.3, 0.0], [-0.2, -0.1, 0.0]])
PAIRS = [(0, 1), (2, 3)]


def test_plane_from_one_pair_is_its_perpendicular_bisector():
    plane = mirror_plane_from_pairs(LEGS, np.array([True, True, False, False]), PAIRS)
    np.testing.assert_allclose(plane.point, [0.2, 0.1, 0.0])
    np.testing.assert_allclose(plane.normal, [0.0, 1.0, 0.0])


def test_plane_from_two_pairs_averages_them_whatever_their_order():
    legs = LEGS.copy()
    legs[1, 0] = 0.22  # the front pair's bisector turned by atan(0.02 / 0.5)
    plane = mirror_plane_from_pairs(legs, np.ones(4, bool), [(0, 1), (3, 2)])  # second pair right -> left
    n_front = np.array([-0.02, 0.5, 0.0]) / np.hypot(0.02, 0.5)
    expected = n_front + np.array([0.0, 1.0, 0.0])
    np.testing.assert_allclose(plane.normal, expected / np.linalg.norm(expected))
    np.testing.assert_allclose(plane.point, [0.5 * (0.21 - 0.2), 0.1, 0.0])


def test_no_plane_without_a_pair_found_on_both_sides():
    assert mirror_plane_from_pairs(LEGS, np.array([True, False, False, True]), PAIRS) is None
    assert mirror_plane_from_pairs(LEGS, np.ones(4, bool), []) is None
    same = np.array([[0.1, 0.2, 0.0], [0.1, 0.2, 0.0]])
    assert mirror_plane_from_pairs(same, np.ones(2, bool), [(0, 1)]) is None  # coincident: no bisector


def test_reflect_points_hand_computed_and_an_involution():
    plane = MirrorPlane(np.array([0.0, 0.1, 0.0]), np.array([0.0, 1.0, 0.0]))
    np.testing.assert_allclose(reflect_points(np.array([[0.3, 0.5, 0.2]]), plane), [[0.3, -0.3, 0.2]])
    rng = np.random.default_rng(0)
    n = rng.normal(size=3)
    tilted = MirrorPlane(rng.normal(size=3), n / np.linalg.norm(n))
    pts = rng.normal(size=(20, 3))
    once = reflect_points(pts, tilted)
    np.testing.assert_allclose(reflect_points(once, tilted), pts, atol=1e-12)
    # an isometry that keeps the plane's points
    np.testing.assert_allclose(np.linalg.norm(once[0] - once[1]), np.linalg.norm(pts[0] - pts[1]))
    on_plane = tilted.point[None] + np.cross(tilted.normal, [1.0, 0.0, 0.0])[None]
    np.testing.assert_allclose(reflect_points(on_plane, tilted), on_plane, atol=1e-12)


def test_a_hidden_leg_takes_its_partners_reflection():
    found = np.array([True, True, True, False])
    guess = LEGS.copy()
    guess[3] = [-0.25, -0.05, 0.0]  # the fit's prediction of the hidden back-right leg
    plane = mirror_plane_from_pairs(guess, found, PAIRS)
    out = complete_by_mirror(guess, found, PAIRS, plane)
    np.testing.assert_allclose(out.xyz[3], [-0.2, -0.1, 0.0])  # back-left (y 0.3) through y = 0.1
    np.testing.assert_allclose(out.xyz[:3], guess[:3])
    assert out.filled.tolist() == [False, False, False, True] and not out.averaged.any()


def test_a_pair_found_on_both_sides_is_averaged_only_when_asked():
    found = np.ones(4, bool)
    legs = LEGS.copy()
    legs[2, 1] += 0.01  # back-left 1 cm out: its reflection puts back-right at y = -0.11
    plane = MirrorPlane(np.array([0.0, 0.1, 0.0]), np.array([0.0, 1.0, 0.0]))
    assert not complete_by_mirror(legs, found, PAIRS, plane).averaged.any()
    out = complete_by_mirror(legs, found, PAIRS, plane, average=True)
    np.testing.assert_allclose(out.xyz[2], [-0.2, 0.305, 0.0])  # (0.31 + 0.30) / 2
    np.testing.assert_allclose(out.xyz[3], [-0.2, -0.105, 0.0])  # (-0.10 - 0.11) / 2
    np.testing.assert_allclose(out.xyz[:2], LEGS[:2])  # already mirror images of each other
    assert out.averaged.all() and not out.filled.any()


def test_a_reflection_beyond_the_gate_or_without_a_plane_changes_nothing():
    found = np.array([True, True, True, False])
    reference = LEGS.copy()
    reference[3] = [-0.2, -0.2, 0.0]  # predicted 10 cm from where the reflection lands
    plane = mirror_plane_from_pairs(LEGS, found, PAIRS)
    kept = complete_by_mirror(LEGS, found, PAIRS, plane, reference=reference, gate=0.05)
    np.testing.assert_array_equal(kept.xyz, LEGS)
    assert not kept.filled.any()
    assert complete_by_mirror(LEGS, found, PAIRS, plane, reference=reference, gate=0.11).filled[3]
    none = complete_by_mirror(LEGS, found, PAIRS, None)
    np.testing.assert_array_equal(none.xyz, LEGS)
    assert not none.filled.any()


@pytest.mark.parametrize("call", [
    lambda: mirror_plane_from_pairs(LEGS, np.ones(4), PAIRS),  # found not boolean
    lambda: mirror_plane_from_pairs(LEGS[:, :2], np.ones(4, bool), PAIRS),
    lambda: mirror_plane_from_pairs(LEGS, np.ones(3, bool), PAIRS),
    lambda: mirror_plane_from_pairs(LEGS, np.ones(4, bool), [(0, 4)]),
    lambda: mirror_plane_from_pairs(LEGS, np.ones(4, bool), [(1, 1)]),
    lambda: complete_by_mirror(LEGS, np.ones(4, bool), PAIRS, None, gate=0.0),
    lambda: complete_by_mirror(LEGS, np.ones(4, bool), PAIRS, None, gate=float("nan")),
    lambda: complete_by_mirror(LEGS, np.ones(4, bool), PAIRS, None, reference=LEGS[:3]),
    lambda: reflect_points(np.zeros(3), MirrorPlane(np.zeros(3), np.array([0.0, 1.0, 0.0]))),
])
def test_bad_input_is_refused(call):
    with pytest.raises(InputError):
        call()
