"""Upright similarity (heading + scale + translation) and its RANSAC; prototype alignment."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semcorr_core.alignment import align_to_prototype, fit_upright_similarity, ransac_upright_similarity
from semcorr_core.errors import InputError
from semcorr_core.geometry import rotation_z


def _cloud(n=200, seed=0):
    return np.random.default_rng(seed).uniform(-0.05, 0.05, (n, 3)) + [0, 0, 0.05]


def test_exact_recovery_by_hand():
    # two points, quarter turn, scale 2, shift: (1,0,0)->(0,2,0)+t, (0,0,1)->(0,0,2)+t
    src = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    t = np.array([0.5, -1.0, 0.25])
    dst = 2.0 * src @ rotation_z(math.pi / 2).T + t
    m = fit_upright_similarity(src, dst)
    np.testing.assert_allclose(m.R, rotation_z(math.pi / 2), atol=1e-12)
    assert m.s == pytest.approx(2.0)
    np.testing.assert_allclose(m.t, t, atol=1e-12)


def test_floor_constraint_by_hand():
    # the target sits 0.5 above the plane z = 0 the fit is told about: t_z stays 0 and the scale
    # takes the heights, s = (sum q'.p' + sum p_z q_z) / (sum |p'_xy|^2 + sum p_z^2) = (2 + 1.5) / (2 + 1)
    src = np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    dst = src + np.array([0.0, 0.0, 0.5])
    m = fit_upright_similarity(src, dst, floor_z=0.0)
    np.testing.assert_allclose(m.R, np.eye(3), atol=1e-12)
    assert m.s == pytest.approx(7.0 / 6.0)
    np.testing.assert_allclose(m.t, [0.0, 0.0, 0.0], atol=1e-12)
    # consistent data: the constraint changes nothing
    t = np.array([0.3, -0.2, 0.1])
    exact = fit_upright_similarity(src, 1.5 * src @ rotation_z(0.4).T + t, floor_z=0.1)
    assert exact.s == pytest.approx(1.5) and np.allclose(exact.t, t)
    with pytest.raises(InputError, match="floor_z"):
        fit_upright_similarity(src, dst, floor_z=float("nan"))


def test_scale_clamp_and_degenerate_input():
    src = _cloud()
    dst = 3.0 * src
    assert fit_upright_similarity(src, dst, s_max=1.5).s == pytest.approx(1.5)
    vertical = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 2.0]])
    with pytest.raises(InputError, match="vertical line"):
        fit_upright_similarity(vertical, vertical + 1)
    with pytest.raises(InputError, match="at least 2"):
        fit_upright_similarity(src[:1], dst[:1])
    with pytest.raises(InputError, match="NaN"):
        fit_upright_similarity(np.full((3, 3), np.nan), dst[:3])


def test_ransac_ignores_outliers_and_is_deterministic():
    src = _cloud(300)
    dst = 1.2 * src @ rotation_z(2.0).T + [0.3, 0.1, -0.2]
    rng = np.random.default_rng(1)
    bad = rng.random(300) < 0.4
    dst[bad] = rng.uniform(-0.5, 0.5, (bad.sum(), 3))
    r1 = ransac_upright_similarity(src, dst, threshold=0.005, seed=3)
    r2 = ransac_upright_similarity(src, dst, threshold=0.005, seed=3)
    np.testing.assert_allclose(r1.model.R, rotation_z(2.0), atol=1e-9)
    assert r1.model.s == pytest.approx(1.2)
    assert np.array_equal(r1.inliers, ~bad) and np.array_equal(r1.inliers, r2.inliers)
    with pytest.raises(InputError, match="threshold"):
        ransac_upright_similarity(src, dst, threshold=0.0)


def test_ransac_scored_with_torch_on_a_device_equals_numpy():
    src = _cloud(400)
    dst = 0.9 * src @ rotation_z(-1.0).T + [0.1, -0.2, 0.05]
    rng = np.random.default_rng(2)
    bad = rng.random(400) < 0.5
    dst[bad] = rng.uniform(-0.5, 0.5, (bad.sum(), 3))
    w = rng.uniform(0.2, 1.0, 400)
    ref = ransac_upright_similarity(src, dst, threshold=0.01, weights=w, seed=5)
    dev = ransac_upright_similarity(src, dst, threshold=0.01, weights=w, seed=5, device="cpu")
    # the same hypotheses scored in float64 either way: the same winner, inliers and refit
    assert np.array_equal(dev.inliers, ref.inliers)
    np.testing.assert_allclose(dev.model.R, ref.model.R, atol=1e-12)
    np.testing.assert_allclose(dev.model.t, ref.model.t, atol=1e-12)
    assert dev.model.s == pytest.approx(ref.model.s, abs=1e-12)


def test_rotation_symmetric_fit_uses_radius_and_height_only():
    # a can of radius 3 cm, height 10 cm seen from one side; matches carry a random azimuth
    rng = np.random.default_rng(0)
    az = rng.uniform(-0.9 * math.pi / 2, 0.9 * math.pi / 2, 400) + math.pi  # the camera side (-x)
    z = rng.uniform(0.0, 0.1, 400)
    canon_true = np.stack([0.03 * np.cos(az), 0.03 * np.sin(az), z], 1)
    centre, floor, s = np.array([0.4, -0.1]), -0.3, 1.1
    observed = np.concatenate([s * canon_true[:, :2] + centre, (s * z + floor)[:, None]], 1)
    shuffled_az = rng.uniform(0, 2 * math.pi, 400)  # what an azimuth-blind embedding matches
    canon = np.stack([0.03 * np.cos(shuffled_az), 0.03 * np.sin(shuffled_az), z], 1)
    fit = align_to_prototype(observed, canon, np.ones(400), threshold=0.003, rotation_symmetric=True, floor_z=floor)
    np.testing.assert_allclose(fit.transform.t, [0.4, -0.1, floor], atol=1e-6)
    assert fit.transform.s == pytest.approx(1.1, abs=1e-6)
    assert fit.inlier_fraction == 1.0
    with pytest.raises(InputError, match="floor_z"):
        align_to_prototype(observed, canon, np.ones(400), threshold=0.003, rotation_symmetric=True)
    # matches that all say "the prototype's height" (z_c wrong by 20 %): the top of the observation
    # still gives the scale, 99.5th percentile of the heights 0.1 x 1.1 over a prototype 0.1 tall
    wrong = canon * np.array([1.0, 1.0, 0.8])
    top = align_to_prototype(observed, wrong, np.ones(400), threshold=0.003, rotation_symmetric=True, floor_z=floor,
                             top_height=0.1)
    assert top.transform.s == pytest.approx(np.percentile(s * z, 99.5) / 0.1, rel=1e-9)
    # a top beyond the scale range (a taller neighbour in the segment, here 30 cm of points beside
    # the can): the matched heights decide, as without top_height (s = 1.1 exactly)
    tall = np.concatenate([observed, np.stack([np.full(20, 0.5), np.full(20, -0.1), np.linspace(floor, floor + 0.3, 20)], 1)])
    tall_canon = np.concatenate([canon, canon[:20]])
    fallback = align_to_prototype(tall, tall_canon, np.ones(420), threshold=0.003, rotation_symmetric=True,
                                  floor_z=floor, top_height=0.1, scale_range=(0.6, 1.6))
    assert fallback.transform.s == pytest.approx(1.1, abs=1e-6)
    capped = align_to_prototype(observed, wrong, np.ones(400), threshold=0.003, rotation_symmetric=True, floor_z=floor,
                                top_height=0.01, scale_range=(0.6, 1.6))
    assert capped.transform.s <= 1.6  # a top 11x the prototype's: never above the range


def test_rotation_symmetric_fit_finds_the_axis_of_a_slimmer_instance():
    # the instance is 20 % slimmer than the prototype's proportions (radius 2.4 cm for 3 cm): with
    # the prototype's radius the axis would sit ~6 mm too far behind the visible wall
    rng = np.random.default_rng(1)
    az = rng.uniform(-0.8 * math.pi / 2, 0.8 * math.pi / 2, 400) + math.pi
    z = rng.uniform(0.0, 0.1, 400)
    centre, floor = np.array([0.4, -0.1]), -0.3
    observed = np.stack([0.024 * np.cos(az) + centre[0], 0.024 * np.sin(az) + centre[1], z + floor], 1)
    shuffled = rng.uniform(0, 2 * math.pi, 400)
    canon = np.stack([0.03 * np.cos(shuffled), 0.03 * np.sin(shuffled), z], 1)
    free = align_to_prototype(observed, canon, np.ones(400), threshold=0.01, rotation_symmetric=True, floor_z=floor)
    np.testing.assert_allclose(free.transform.t[:2], centre, atol=1e-6)
    assert free.transform.s == pytest.approx(1.0, abs=1e-6)
    fixed = align_to_prototype(observed, canon, np.ones(400), threshold=0.01, rotation_symmetric=True, floor_z=floor,
                               free_radius=False)
    assert np.linalg.norm(fixed.transform.t[:2] - centre) > 0.004


@pytest.mark.parametrize("floor_z", [None, -0.02])
def test_batched_pair_fits_equal_the_closed_form(floor_z):
    from semcorr_core.alignment.upright import _fit_pairs

    rng = np.random.default_rng(5)
    a_src, b_src = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    a_dst, b_dst = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    R, t, s = _fit_pairs(a_src, b_src, a_dst, b_dst, 0.5, 2.0, floor_z)
    k = 0
    for i in range(40):
        try:
            ref = fit_upright_similarity(np.stack([a_src[i], b_src[i]]), np.stack([a_dst[i], b_dst[i]]),
                                         s_min=0.5, s_max=2.0, floor_z=floor_z)
        except InputError:
            continue
        np.testing.assert_allclose(R[k], ref.R, atol=1e-9)
        np.testing.assert_allclose(t[k], ref.t, atol=1e-9)
        assert s[k] == pytest.approx(ref.s)
        k += 1
    assert k == len(R) > 30
