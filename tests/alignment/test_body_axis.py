"""Axis of a round body with a symmetry-breaking part (semcorr_core.alignment.body_axis)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semcorr_core.alignment.body_axis import (PartSide, body_radius_profile, face_part_side, observed_part_side,
                                              refine_body_axis)
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


def _rz(theta):
    c, sn = math.cos(theta), math.sin(theta)
    return np.array([[c, -sn, 0.0], [sn, c, 0.0], [0.0, 0.0, 1.0]])


def test_part_side_is_where_the_points_stick_out_of_the_body():
    rng = np.random.default_rng(2)
    prof = body_radius_profile(_mug_prototype(rng))  # body radius 0.04, height 0.1
    heading, s, k, origin = 2.0, 1.2, 1.1, np.array([0.3, -0.1, 0.02])
    fit = SimilarityTransform(_rz(heading + math.pi), origin, s)  # the fit has the handle on the wrong side
    az = rng.uniform(0, 2 * math.pi, 500)
    body = np.stack([0.04 * k * s * np.cos(az), 0.04 * k * s * np.sin(az), rng.uniform(0, 0.1 * s, 500)], 1)
    # 30 handle points straight out at the heading, 6.6-8 cm from the axis (body 5.3 cm + 15 % + 3 mm = 6.4), mid height
    r = rng.uniform(0.066, 0.08, 30)
    handle = np.stack([r * math.cos(heading), r * math.sin(heading), rng.uniform(0.03, 0.08, 30) * s], 1)
    pts = np.concatenate([body, handle]) + origin
    side = observed_part_side(pts, fit, k, prof, reach=0.07)
    assert side.n_points == 30 and side.concentration == pytest.approx(1.0)
    assert side.heading == pytest.approx(heading)
    turned, did = face_part_side(fit, side)
    assert did
    np.testing.assert_allclose(turned.R, _rz(heading), atol=1e-12)
    np.testing.assert_array_equal(turned.t, origin)
    assert turned.s == s
    # a fit within 90 degrees of the part keeps its heading
    kept, did = face_part_side(SimilarityTransform(_rz(heading + 1.2), origin, s), side)
    assert not did and np.allclose(kept.R, _rz(heading + 1.2))
    # beyond 1.3 x the reach (canonical 0.07 x 1.2 x 1.3 = 10.9 cm) a point is something else
    far = np.array([[0.2 * math.cos(heading), 0.2 * math.sin(heading), 0.05]]) + origin
    assert observed_part_side(np.concatenate([pts, np.repeat(far, 50, 0)]), fit, k, prof, reach=0.07).n_points == 30


def test_no_part_side_from_too_few_or_spread_points():
    rng = np.random.default_rng(3)
    prof = body_radius_profile(_mug_prototype(rng))
    fit = SimilarityTransform(np.eye(3), np.zeros(3), 1.0)
    out = np.array([[0.06, 0.0, 0.05], [-0.06, 0.0, 0.05]])  # one each side: concentration 0
    assert observed_part_side(np.repeat(out, 20, 0), fit, 1.0, prof, reach=0.07) is None
    assert observed_part_side(np.repeat(out[:1], 9, 0), fit, 1.0, prof, reach=0.07) is None  # 9 < 10
    assert observed_part_side(np.repeat(out[:1], 10, 0), fit, 1.0, prof, reach=0.07).heading == pytest.approx(0.0)
    # within the margin (15 % + 3 mm over the 4 cm body) a point is silhouette noise of the body
    assert observed_part_side(np.repeat([[0.048, 0.0, 0.05]], 20, 0), fit, 1.0, prof, reach=0.07) is None
    assert observed_part_side(np.repeat([[0.0, 0.048, 0.05]], 20, 0), fit, 1.0, prof, reach=0.07) is None
    with pytest.raises(InputError):
        observed_part_side(np.zeros((4, 2)), fit, 1.0, prof, reach=0.07)
    with pytest.raises(InputError):
        observed_part_side(np.zeros((4, 3)), fit, 1.0, prof, reach=0.0)
    assert isinstance(PartSide(0.0, 1, 1.0), tuple)
