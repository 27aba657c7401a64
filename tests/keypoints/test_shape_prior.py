"""The keypoint shape prior: its Gaussian, the conditioning on found keypoints (hand-computed
cases), its file, and the shipped chair prior."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semcorr_core.errors import InputError, ModelFileError
from semcorr_core.keypoints.shape_prior import (KeypointShapePrior, condition_keypoints, default_shape_prior_path,
                                               fit_shape_prior, keypoint_covariance, load_shape_prior,
                                               save_shape_prior)


def test_covariance_of_two_instances_plus_the_pose_modes_by_hand():
    sets = np.array([[[0.0, 0.0, 0.0]], [[2.0, 0.0, 0.0]]])  # one keypoint, two instances
    mean, cov = keypoint_covariance(sets)
    np.testing.assert_allclose(mean, [[1.0, 0.0, 0.0]])
    np.testing.assert_allclose(cov, np.diag([2.0, 0.0, 0.0]))  # sample variance ((-1)^2 + 1^2) / (2 - 1)
    _, cov = keypoint_covariance(sets, translation_sd=0.5, yaw_sd=0.1, scale_sd=0.2)
    # translation: 0.25 on every axis; a turn about z moves (1, 0, 0) along y: 0.1^2;
    # a scale moves it along x: 0.2^2
    np.testing.assert_allclose(cov, np.diag([2.0 + 0.25 + 0.04, 0.25 + 0.01, 0.25]))


def test_translation_mode_couples_every_keypoint_on_each_axis():
    sets = np.zeros((3, 2, 3))
    _, cov = keypoint_covariance(sets, translation_sd=0.1)
    assert cov[0, 3] == pytest.approx(0.01) and cov[1, 4] == pytest.approx(0.01)  # x0-x1, y0-y1
    assert cov[0, 4] == 0.0  # x0-y1


def test_conditioning_hand_computed():
    mean = np.zeros((2, 3))
    cov = np.eye(6)
    cov[0, 3] = cov[3, 0] = 0.5  # x of keypoint 0 and x of keypoint 1 covary
    xyz = np.array([[1.0, 0.0, 0.0], [np.nan, np.nan, np.nan]])
    post = condition_keypoints(mean, cov, xyz, np.array([True, False]), np.array([1.0, 0.0]))
    # observed x0 = 1 with noise variance 1: x0 -> 1 / (1 + 1) = 0.5, x1 -> 0.5 / 2 = 0.25
    np.testing.assert_allclose(post.xyz, [[0.5, 0.0, 0.0], [0.25, 0.0, 0.0]])
    # variances: keypoint 0: 1 - 1/2 on each axis; keypoint 1: x 1 - 0.5^2 / 2 = 0.875, y and z 1
    np.testing.assert_allclose(post.sd, [np.sqrt(0.5), np.sqrt((0.875 + 1 + 1) / 3)])


def test_nothing_observed_gives_the_prior():
    mean = np.arange(6.0).reshape(2, 3)
    cov = np.diag([1.0, 1.0, 1.0, 4.0, 4.0, 4.0])
    post = condition_keypoints(mean, cov, np.full((2, 3), np.nan), np.zeros(2, bool), np.ones(2))
    np.testing.assert_allclose(post.xyz, mean)
    np.testing.assert_allclose(post.sd, [1.0, 2.0])


def test_a_measured_pose_error_moves_the_unmeasured_keypoints_with_it():
    # a rigid family (no shape variation) and a translation mode: a found keypoint 3 cm off the
    # fit carries the others the same 3 cm (nearly: its noise is small against the mode)
    sets = np.repeat(np.array([[[0.0, 0.0, 0.0], [0.3, 0.0, 0.5], [0.0, 0.4, 0.0]]]), 4, axis=0)
    prior = fit_shape_prior("chair", ("a", "b", "c"), sets, {"measured": np.full(3, 1e-3), "mirrored": np.full(3, 2e-3)},
                            translation_sd=0.05, yaw_sd=0.0, scale_sd=0.0)
    xyz = prior.mean.copy()
    xyz[0] += [0.03, -0.01, 0.0]
    post = condition_keypoints(prior.mean, prior.covariance, xyz, np.array([True, False, False]),
                               prior.noise_sd["measured"])
    np.testing.assert_allclose(post.xyz - prior.mean, np.tile([0.03, -0.01, 0.0], (3, 1)), atol=2e-5)
    assert post.sd[1] < 0.002 < 0.05  # the mode is measured: little uncertainty left


def test_robust_conditioning_discounts_an_outlier():
    # a rigid family with a translation mode; three keypoints found 2 cm off along x, one of them
    # 20 cm off (a corner put on the wrong face): the Gaussian posterior follows it part way, the
    # Student-t reweighting lets the other two decide
    sets = np.repeat(np.array([[[0.0, 0.0, 0.0], [0.4, 0.0, 0.0], [0.0, 0.4, 0.0], [0.0, 0.0, 0.8]]]), 3, axis=0)
    prior = fit_shape_prior("chair", ("a", "b", "c", "d"), sets, {"measured": np.full(4, 0.01),
                                                                 "mirrored": np.full(4, 0.01)},
                            translation_sd=0.1, yaw_sd=0.0, scale_sd=0.0)
    xyz = prior.mean + [0.02, 0.0, 0.0]
    xyz[2, 0] += 0.18
    measured, mirrored = np.array([True, True, True, False]), np.zeros(4, bool)
    robust = prior.condition(xyz, measured, mirrored)
    gauss = prior.condition(xyz, measured, mirrored, robust=False)
    err = lambda post: abs(post.xyz[3, 0] - 0.02)  # the unfound keypoint's shift should be 2 cm
    assert err(gauss) == pytest.approx(0.06, abs=0.005)  # the mean of 2, 2 and 20 cm
    assert err(robust) < 0.2 * err(gauss)
    from dataclasses import replace

    plain = replace(prior, robust_iterations=0).condition(xyz, measured, mirrored)
    np.testing.assert_allclose(plain.xyz, gauss.xyz)
    with pytest.raises(InputError, match="robust"):
        replace(prior, robust_dof=0.0)


@pytest.mark.parametrize("bad", ["xyz_shape", "nan_observed", "zero_noise", "cov_shape"])
def test_bad_conditioning_input_is_an_input_error(bad):
    mean, cov = np.zeros((2, 3)), np.eye(6)
    xyz, observed, noise = np.zeros((2, 3)), np.array([True, False]), np.ones(2)
    if bad == "xyz_shape":
        xyz = np.zeros((3, 3))
    elif bad == "nan_observed":
        xyz[0, 1] = np.nan
    elif bad == "zero_noise":
        noise = np.array([0.0, 1.0])
    else:
        cov = np.eye(5)
    with pytest.raises(InputError):
        condition_keypoints(mean, cov, xyz, observed, noise)


@pytest.mark.parametrize("sets", [np.zeros((1, 2, 3)), np.zeros((3, 2)), np.full((3, 2, 3), np.nan)])
def test_bad_keypoint_sets_are_input_errors(sets):
    with pytest.raises(InputError, match="keypoint_sets"):
        keypoint_covariance(sets)


def test_bad_prior_fields_are_input_errors():
    good = dict(category="chair", keypoint_names=("a",), mean=np.zeros((1, 3)), covariance=np.eye(3),
                noise_sd={"measured": np.ones(1)})
    KeypointShapePrior(**good)
    for field, value in (("mean", np.zeros((2, 3))), ("covariance", np.eye(4)),
                         ("covariance", np.array([[1.0, 0.1, 0], [0, 1, 0], [0, 0, 1]])),
                         ("noise_sd", {"measured": np.zeros(1)}), ("noise_sd", {"measured": np.ones(2)})):
        with pytest.raises(InputError, match="shape prior"):
            KeypointShapePrior(**{**good, field: value})
    with pytest.raises(InputError, match="translation_sd"):
        keypoint_covariance(np.zeros((2, 1, 3)), translation_sd=-1.0)


def test_condition_uses_each_sources_noise_and_scales_the_sd():
    sets = np.random.default_rng(1).normal(0.0, 0.05, size=(40, 3, 3))
    prior = fit_shape_prior("chair", ("a", "b", "c"), sets, {"measured": np.full(3, 0.002),
                                                            "mirrored": np.full(3, 0.02)})
    xyz = prior.mean + 0.01
    measured, mirrored = np.array([True, False, False]), np.array([False, True, False])
    post = prior.condition(xyz, measured, mirrored)
    by_hand = condition_keypoints(prior.mean, prior.covariance, xyz, measured | mirrored, np.array([0.002, 0.02, 1.0]))
    np.testing.assert_allclose(post.xyz, by_hand.xyz)
    np.testing.assert_allclose(post.sd, by_hand.sd)
    from dataclasses import replace

    wider = replace(prior, sigma_scale=2.0).condition(xyz, measured, mirrored)
    np.testing.assert_allclose(wider.xyz, post.xyz)
    np.testing.assert_allclose(wider.sd, 2.0 * post.sd)
    with pytest.raises(InputError, match="sigma_scale"):
        replace(prior, sigma_scale=0.0)


def _small_prior() -> KeypointShapePrior:
    sets = np.random.default_rng(0).normal(size=(5, 2, 3))
    return fit_shape_prior("chair", ("a", "b"), sets, {"measured": np.array([0.01, 0.02]),
                                                      "mirrored": np.array([0.02, 0.03])}, metadata={"note": "test"})


def test_file_round_trip(tmp_path):
    prior = _small_prior()
    back = load_shape_prior(save_shape_prior(tmp_path / "p.pt", prior), category="chair")
    assert back.keypoint_names == ("a", "b") and back.metadata["note"] == "test" and back.metadata["instances"] == 5
    np.testing.assert_allclose(back.mean, prior.mean)
    np.testing.assert_allclose(back.covariance, prior.covariance)
    np.testing.assert_allclose(back.noise_sd["mirrored"], [0.02, 0.03])
    assert back.sigma_scale == 1.0
    from dataclasses import replace

    assert load_shape_prior(save_shape_prior(tmp_path / "q.pt", replace(prior, sigma_scale=1.7))).sigma_scale == 1.7


def test_bad_files_are_model_file_errors(tmp_path):
    path = save_shape_prior(tmp_path / "p.pt", _small_prior())
    with pytest.raises(ModelFileError, match="category"):
        load_shape_prior(path, category="mug")
    with pytest.raises(ModelFileError, match="not found"):
        load_shape_prior(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ModelFileError, match="corrupt"):
        load_shape_prior(tmp_path / "junk.pt")
    d = torch.load(path, weights_only=True)
    d["mean"] = torch.zeros(3, 3)  # three keypoints' mean for two names
    torch.save(d, tmp_path / "inconsistent.pt")
    with pytest.raises(ModelFileError, match="inconsistent"):
        load_shape_prior(tmp_path / "inconsistent.pt")


def test_the_shipped_chair_prior_fits_the_shipped_bundle():
    from semcorr_core.models.bundle import default_bundle_path, load_bundle

    prior = load_shape_prior(default_shape_prior_path("chair"), category="chair")
    bundle = load_bundle(default_bundle_path("chair"))
    assert prior.keypoint_names == bundle.prototype.keypoint_names
    # the mean of 200 training instances is near the prototype's (the mean of its 32)
    assert np.abs(prior.mean - bundle.prototype.keypoints.numpy()).max() < 0.03
    noise = prior.noise_sd
    assert set(noise) == {"measured", "mirrored"} and all(((v > 1e-3) & (v < 0.05)).all() for v in noise.values())
    assert prior.metadata["calibration"]["detected"] >= 100
    assert 1.0 < prior.sigma_scale < 2.5 and prior.metadata["sigma_scale"] == prior.sigma_scale
    assert not default_shape_prior_path("mug").is_file()  # only the chair ships one
