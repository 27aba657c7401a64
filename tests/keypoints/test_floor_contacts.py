"""find_floor_contacts: a leg contact goes to the leg stub beside its prediction, pushed off the camera."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semcorr_core.errors import InputError
from semcorr_core.keypoints.floor_contacts import find_floor_contacts


def _leg_front(centre, radius, floor_z, n=200, seed=0):
    """The camera-facing half of a round leg (camera at the origin) from 2 to 15 cm above the floor."""
    rng = np.random.default_rng(seed)
    towards = -np.asarray(centre, float) / np.linalg.norm(centre)
    base = math.atan2(towards[1], towards[0])
    az = base + rng.uniform(-math.pi / 2, math.pi / 2, n)
    z = floor_z + rng.uniform(0.02, 0.15, n)
    return np.stack([centre[0] + radius * np.cos(az), centre[1] + radius * np.sin(az), z], 1)


def test_contacts_take_the_nearest_stub_and_hidden_ones_stay():
    floor = -0.4
    legs = [np.array([1.0, 0.2]), np.array([1.0, -0.2])]
    pts = np.concatenate([_leg_front(c, 0.02, floor, seed=i) for i, c in enumerate(legs)])
    pts = np.concatenate([pts, [[1.0, 0.0, floor + 0.45]]])  # the seat, far above the band
    predicted = np.array([[1.03, 0.23, floor], [0.98, -0.17, floor], [1.3, 0.2, floor]])  # the last: hidden
    out = find_floor_contacts(predicted, pts, floor)
    assert out.found.tolist() == [True, True, False]
    # the centroid of the seen half sits 2/pi r = 1.3 cm nearer the camera; pushed back by 0.6 x r
    for k, c in enumerate(legs):
        assert np.linalg.norm(out.xyz[k, :2] - c) < 0.006
        assert out.xyz[k, 2] == floor
    np.testing.assert_array_equal(out.xyz[2], predicted[2])
    # one stub for two predictions: the nearer takes it
    both = find_floor_contacts(np.array([[1.0, 0.21, floor], [1.0, 0.26, floor]]), pts[:200], floor)
    assert both.found.tolist() == [True, False]
    # beyond the gate: not found
    assert not find_floor_contacts(predicted + [0.2, 0, 0], pts, floor).found.any()


def test_no_points_in_the_band_and_bad_input():
    assert not find_floor_contacts(np.zeros((2, 3)), np.zeros((0, 3)), 0.0).found.any()
    with pytest.raises(InputError):
        find_floor_contacts(np.zeros((2, 2)), np.zeros((1, 3)), 0.0)
    with pytest.raises(InputError):
        find_floor_contacts(np.zeros((2, 3)), np.zeros((1, 2)), 0.0)
    with pytest.raises(InputError):
        find_floor_contacts(np.zeros((2, 3)), np.zeros((1, 3)), 0.0, band=(0.1, 0.05))
    with pytest.raises(InputError):
        find_floor_contacts(np.zeros((2, 3)), np.zeros((1, 3)), float("nan"))
