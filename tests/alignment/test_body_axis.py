"""Axis of a round body with a symmetry-breaking part (semcorr_core.alignment.body_axis)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semcorr_core.alignment.body_axis import body_radius_profile, refine_body_axis
from semcorr_core.errors import InputError
from semcorr_core.geometry.similarity import SimilarityTransform


def _mug_prototype(rng, n=4000, radius=0.04, height=0.1):
    """A cylinder of ``radius`` plus a handle: points at radius 0.04-0.07 on the +x side."""
    az = rng.uniform(0, 2 * math.pi, n)
    z = rng.uniform(0, height, n)
    body = np.stack([radius * np.cos(az), radius * np.sin(az), z], 1)
    handle = np.stack([rng.uniform(radius, radius + 0.03, 400), rng.uniform(-0.005, 0.005, 400),
                       rng.uniform(0.02, 0.08, 400)], 1)
    return np.concatenate([body, handle])


def test_profile_is_the_body_radius_without_the_handle():
    proto = _mug_prototype(np.random.default_rng(0))
    prof = body_radius_profile(proto, bins=10)
    assert prof.edges.shape == (11,) and prof.radius.shape == (10,)
    np.testing.assert_allclose(prof.radius, 0.04, atol=2e-4)  # max of the -x half: the cylinder
    np.testing.assert_allclose(prof.at(np.array([-1.0, 0.05, 5.0])), 0.04, atol=2e-4)  # ends clamp
    with pytest.raises(InputError):
        body_radius_profile(np.zeros((5, 2)))
    with pytest.raises(InputError):
        body_radius_profile(proto, bins=0)


def _observed(rng, centre, s, k, heading):
    """The camera-side half of a body of radius k * s * 0.04 around ``centre`` plus its handle, with
    exact canonical matches (azimuths as the prototype has them)."""
    az = rng.uniform(0.6 * math.pi, 1.4 * math.pi, 600)  # the -x half faces the camera
    z = rng.uniform(0.0, 0.1, 600)
    canon = np.stack([0.04 * np.cos(az), 0.04 * np.sin(az), z], 1)
    c, sn = math.cos(heading), math.sin(heading)
    Rz = np.array([[c, -sn, 0.0], [sn, c, 0.0], [0.0, 0.0, 1.0]])
    local = canon * np.array([k * s, k * s, s])
    pts = local @ Rz.T + np.array([centre[0], centre[1], -0.3])
    handle_c = np.stack([np.full(60, 0.06), np.zeros(60), np.linspace(0.02, 0.08, 60)], 1)
    # this instance's handle reaches 25 % farther out than the prototype's: its matches do not
    # obey the body's radius proportion
    handle = (handle_c * np.array([1.25, 1.0, 1.0]) * s) @ Rz.T + np.array([centre[0], centre[1], -0.3])
    return np.concatenate([pts, handle]), np.concatenate([canon, handle_c]), Rz


def test_axis_moves_onto_the_observed_body_heading_and_scale_kept():
    rng = np.random.default_rng(1)
    prof = body_radius_profile(_mug_prototype(rng))
    centre, s = np.array([0.5, 0.1]), 1.1
    # a mug 15 % wider than the prototype's proportion: its body's axis is where the points say
    pts, canon, Rz = _observed(rng, centre, s, 1.15, 0.4)
    start = SimilarityTransform(Rz, np.array([0.49, 0.105, -0.3]), s)  # the similarity fit, 11 mm off
    out = refine_body_axis(pts, canon, start, -0.3, 0.01, prof)
    np.testing.assert_allclose(out.transform.t[:2], centre, atol=1e-6)
    assert out.transform.t[2] == -0.3 and out.transform.s == s
    np.testing.assert_allclose(out.transform.R, Rz)
    assert out.radial_scale == pytest.approx(1.15, abs=1e-6)  # the body's radii over the prototype's


def test_handle_matches_are_left_out_and_bad_cases_keep_the_input():
    rng = np.random.default_rng(2)
    prof = body_radius_profile(_mug_prototype(rng))
    centre = np.array([0.5, 0.1])
    pts, canon, Rz = _observed(rng, centre, 1.0, 1.0, 0.0)
    start = SimilarityTransform(Rz, np.array([0.495, 0.1, -0.3]), 1.0)
    # the handle's 60 matches lie outside the body profile and are left out; taken in (a profile
    # as wide as the handle) they pull the axis off
    np.testing.assert_allclose(refine_body_axis(pts, canon, start, -0.3, 0.01, prof).transform.t[:2], centre,
                               atol=1e-6)
    wide = prof._replace(radius=np.full_like(prof.radius, 0.07))
    assert np.linalg.norm(refine_body_axis(pts, canon, start, -0.3, 0.01, wide).transform.t[:2] - centre) > 1e-4
    # too few matches on the body: unchanged
    few = refine_body_axis(pts[:20], canon[:20], start, -0.3, 0.01, prof)
    assert few.transform is start and few.radial_scale == 1.0
    # an axis farther from the start than max_shift body radii is not trusted (5 cm here: 1.25 radii)
    far = SimilarityTransform(Rz, np.array([0.45, 0.1, -0.3]), 1.0)
    assert refine_body_axis(pts, canon, far, -0.3, 0.01, prof).transform is far
    moved = refine_body_axis(pts, canon, far, -0.3, 0.01, prof, max_shift=2.0)
    np.testing.assert_allclose(moved.transform.t[:2], centre, atol=1e-6)
    with pytest.raises(InputError):
        refine_body_axis(pts, canon[:, :2], start, -0.3, 0.01, prof)
