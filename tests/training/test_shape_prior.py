"""`semcorr train shape_prior` end to end on a few frames; the detector with the file it writes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from semcorr_core.errors import ModelFileError
from semcorr_core.keypoints.shape_prior import MEDIAN_TO_SD_3D, KeypointShapePrior, load_shape_prior
from semcorr_core.pipeline import Detector, DetectorConfig
from semcorr_core.training.config import ConfigError, load_config
from semcorr_core.training.shape_prior import train_shape_prior

REPO = Path(__file__).resolve().parents[2]
SEMCORR = shutil.which("semcorr") or str(Path(sys.executable).with_name("semcorr"))
CONFIG = REPO / "training/configs/shape_prior/chair.yaml"


@pytest.fixture(scope="module")
def tiny_prior(tmp_path_factory):
    out = tmp_path_factory.mktemp("shape_prior") / "run"
    r = subprocess.run([SEMCORR, "train", "shape_prior", "--config", str(CONFIG), f"train.out_dir={out}",
                        "data.n_instances=6", "calibration.frames=4", "calibration.distractors=[0,0]"],
                       capture_output=True, text=True, cwd=REPO, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return out / "shape_prior.pt", r.stdout


def test_training_writes_a_prior_with_the_calibrated_noise(tiny_prior):
    path, stdout = tiny_prior
    assert "calibration" in stdout
    prior = load_shape_prior(path, category="chair")
    assert prior.metadata["instances"] == 6 and prior.metadata["config_hash"]
    cal = prior.metadata["calibration"]
    assert cal["frames"] == 4 and cal["detected"] >= 3 and cal["measured"]["samples"] >= 20
    assert prior.sigma_scale > 0 and "sigma_scale" in stdout
    # four frames: no keypoint has min_samples (8) errors of its own, so each takes its source's
    # pooled median over MEDIAN_TO_SD_3D; a source never seen takes 1.5x the measured noise
    np.testing.assert_allclose(prior.noise_sd["measured"], cal["measured"]["median_m"] / MEDIAN_TO_SD_3D)
    if cal["mirrored"]["samples"]:
        np.testing.assert_allclose(prior.noise_sd["mirrored"], cal["mirrored"]["median_m"] / MEDIAN_TO_SD_3D)
    else:
        np.testing.assert_allclose(prior.noise_sd["mirrored"], 1.5 * prior.noise_sd["measured"])


def test_the_detector_takes_the_prior_file_and_refuses_a_foreign_one(tiny_prior, tmp_path):
    path, _ = tiny_prior
    det = Detector.for_category("chair", shape_prior_path=str(path))
    assert det.shape_prior is not None and det.shape_prior.metadata["instances"] == 6
    assert Detector.for_category("chair", shape_prior_path=str(path),
                                 config=DetectorConfig(shape_prior=False)).shape_prior is None
    # the shipped prior comes with the shipped bundle, not with a bundle of the user's own
    assert Detector.for_category("chair").shape_prior is not None
    from semcorr_core.models.bundle import default_bundle_path

    assert Detector.for_category("chair", str(default_bundle_path("chair"))).shape_prior is None
    prior = load_shape_prior(path)
    renamed = KeypointShapePrior(prior.category, tuple(f"x{k}" for k in range(len(prior.keypoint_names))),
                                 prior.mean, prior.covariance, prior.noise_sd)
    with pytest.raises(ModelFileError, match="not the bundle's"):
        Detector(det.bundle, shape_prior=renamed)
    with pytest.raises(ModelFileError, match="category"):
        Detector.for_category("mug", shape_prior_path=str(path))


def test_a_config_without_its_sections_or_with_one_instance_is_refused(tmp_path):
    cfg = load_config([CONFIG])
    with pytest.raises(ConfigError, match="calibration"):
        train_shape_prior({k: v for k, v in cfg.items() if k != "calibration"})
    cfg["data"]["n_instances"] = 1
    with pytest.raises(ConfigError, match="n_instances"):
        train_shape_prior(cfg)


def test_a_round_category_does_not_use_a_shape_prior(caplog):
    from semcorr_core.keypoints.shape_prior import fit_shape_prior
    from semcorr_core.models.bundle import default_bundle_path, load_bundle

    bundle = load_bundle(default_bundle_path("mug"))
    names = bundle.prototype.keypoint_names
    sets = bundle.prototype.keypoints.numpy()[None] + np.random.default_rng(0).normal(0, 0.005, (4, len(names), 3))
    prior = fit_shape_prior("mug", names, sets, {"measured": np.full(len(names), 0.005),
                                                 "mirrored": np.full(len(names), 0.01)})
    with caplog.at_level("WARNING"):
        assert Detector(bundle, shape_prior=prior).shape_prior is None
    assert "round body" in caplog.text
