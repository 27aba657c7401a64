"""``semcorr train shape_prior``: a category's keypoint shape prior and its measurement noise.

Two steps, both on the category's *training* instances (never the bench's held-out ones):

1. the Gaussian of the instances' canonical keypoints plus the fitted pose's error modes
   (:func:`~semcorr_core.keypoints.shape_prior.fit_shape_prior`);
2. calibration: the detector (its shape prior off) runs on ``calibration.frames`` frames rendered
   as on the pipeline bench (:func:`~semcorr_core.bench.pipeline.bench_frames`) with those
   instances, and each keypoint's error by how it was found (measured on the surface, mirrored)
   gives its measurement noise: median error / :data:`~semcorr_core.keypoints.shape_prior.MEDIAN_TO_SD_3D`,
   in canonical metres (over the fitted scale). A keypoint with fewer than ``min_samples`` errors
   of a source takes that source's pooled median; mirrored keypoints never seen take 1.5x the
   measured noise (a reflection adds the plane's error to its partner's);
3. the reported uncertainty: on the same detections, every keypoint's posterior against its
   truth; ``sigma_scale`` makes the median error :data:`MEDIAN_TO_SD_3D` posterior sds (the
   errors are heavier-tailed than the Gaussian: the posterior alone was 1.3-1.8x too confident
   on 200 tuning detections).

Writes ``<train.out_dir>/shape_prior.pt``; the shipped ``models/default/shape_prior_<category>.pt``
is this file (scripts/train_default_models.sh).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import numpy as np

from semcorr_core.data.categories import get_category
from semcorr_core.errors import InputError, SemcorrError
from semcorr_core.keypoints.shape_prior import MEDIAN_TO_SD_3D, KeypointShapePrior, fit_shape_prior, save_shape_prior
from semcorr_core.training.config import ConfigError, config_hash

log = logging.getLogger(__name__)

__all__ = ["CalibrationDetection", "calibrate_keypoint_noise", "calibrate_sigma_scale", "train_shape_prior"]

MIRRORED_OVER_MEASURED = 1.5


class CalibrationDetection(NamedTuple):
    """One calibration detection in its fitted canonical frame: keypoints ``xyz`` and the truth
    ``truth`` ``(K, 3)``, which keypoints were ``measured`` and ``mirrored`` ``(K,)``."""

    xyz: np.ndarray
    truth: np.ndarray
    measured: np.ndarray
    mirrored: np.ndarray


def calibrate_keypoint_noise(detector, shapes: list, frames: int, seed: int, *, noise: bool = True,
                             distractors: tuple[int, int] = (0, 4), min_samples: int = 8
                             ) -> tuple[dict, dict, list[CalibrationDetection]]:
    """Per-keypoint measurement noise sd (canonical metres) of ``detector`` by source
    (``measured``, ``mirrored``) on ``frames`` bench frames of ``shapes``; returns it, the
    figures it came from (per source: samples, median error in metres, detected frames) and the
    detections."""
    from semcorr_core.bench.pipeline import bench_frames, match_object
    from semcorr_core.data.rgbd import make_rgbd

    names = detector.keypoint_names
    K = len(names)
    errors: dict[str, list[list[float]]] = {"measured": [[] for _ in range(K)], "mirrored": [[] for _ in range(K)]}
    detections: list[CalibrationDetection] = []
    for _, _, fr in bench_frames(shapes, frames, seed, noise=noise, distractors=distractors):
        ann = fr.objects[0]
        order = [ann.keypoint_names.index(n) for n in names]
        try:
            result = detector.detect(make_rgbd(fr.color, fr.depth, fr.camera))
        except SemcorrError:  # a frame the detector refuses (beyond the sensor's range) says nothing of the noise
            continue
        obj = match_object(result.objects, fr.instance_mask == ann.instance_index)
        if obj is None:
            continue
        gt = ann.keypoints_cam[order]
        to_canonical = obj.pose.inverse()
        sources = np.array([kp.source for kp in obj.keypoints])
        detections.append(CalibrationDetection(to_canonical.apply(np.stack([kp.xyz for kp in obj.keypoints])),
                                               to_canonical.apply(gt), sources == "measured", sources == "mirrored"))
        for k, kp in enumerate(obj.keypoints):
            if kp.source in errors:
                errors[kp.source][k].append(float(np.linalg.norm(kp.xyz - gt[k])) / float(obj.pose.s))
    pooled = {s: [e for per_k in v for e in per_k] for s, v in errors.items()}
    if not pooled["measured"]:
        raise InputError(f"calibration: the detector measured no keypoint on {frames} frames; render more frames "
                         "(calibration.frames) or check the bundle")
    sd: dict[str, np.ndarray] = {}
    for source in ("measured", "mirrored"):
        if not pooled[source]:
            continue
        fallback = float(np.median(pooled[source]))
        sd[source] = np.array([np.median(e) if len(e) >= min_samples else fallback for e in errors[source]]) \
            / MEDIAN_TO_SD_3D
    if "mirrored" not in sd:
        sd["mirrored"] = MIRRORED_OVER_MEASURED * sd["measured"]
    sd = {s: np.maximum(v, 1e-4) for s, v in sd.items()}  # a perfect calibration keypoint still has some noise
    figures = {"frames": int(frames), "detected": len(detections),
               **{s: {"samples": len(v), "median_m": float(np.median(v)) if v else None} for s, v in pooled.items()}}
    return sd, figures, detections


def calibrate_sigma_scale(prior: KeypointShapePrior, detections: list[CalibrationDetection]) -> float:
    """The factor on ``prior``'s posterior sd (taken with its ``sigma_scale`` at 1) that makes the
    median keypoint error over ``detections`` :data:`MEDIAN_TO_SD_3D` sds (the median of a 3D
    Gaussian error's length)."""
    prior = replace(prior, sigma_scale=1.0)
    ratios = []
    for d in detections:
        if not (d.measured | d.mirrored).any():
            continue
        post = prior.condition(d.xyz, d.measured, d.mirrored)
        ratios.append(np.linalg.norm(post.xyz - d.truth, axis=1) / np.maximum(post.sd, 1e-9))
    if not ratios:
        raise InputError("calibration: no detection with a measured keypoint to calibrate the uncertainty on")
    return float(np.median(np.concatenate(ratios))) / MEDIAN_TO_SD_3D


def train_shape_prior(cfg: Mapping[str, Any]) -> dict:
    """Fit, calibrate and write the shape prior of ``cfg`` (training/configs/shape_prior/base.yaml)."""
    from semcorr_core.data.shapes import generate_shapes
    from semcorr_core.pipeline import Detector, DetectorConfig

    for section in ("data", "prior", "calibration", "train"):
        if section not in cfg:
            raise ConfigError(f"shape_prior config needs a {section!r} section "
                              "(see training/configs/shape_prior/base.yaml)")
    data, prior_cfg, cal, train = cfg["data"], cfg["prior"], cfg["calibration"], cfg["train"]
    category = get_category(data["category"]).name
    n_instances, shape_seed = int(data["n_instances"]), int(data["shape_seed"])
    if n_instances < 2:
        raise ConfigError(f"data.n_instances must be >= 2 (a covariance), got {n_instances}")
    frames = int(cal["frames"])
    if frames < 1:
        raise ConfigError(f"calibration.frames must be >= 1, got {frames}")
    detector = Detector.for_category(category, data.get("bundle"),
                                     config=DetectorConfig(seed=int(cal["seed"]), shape_prior=False))
    shapes = generate_shapes(category, n_instances, shape_seed)
    names = detector.keypoint_names
    keypoint_sets = np.stack([s.keypoint_array[[s.keypoint_names.index(n) for n in names]] for s in shapes])
    log.info("calibrating the %s detector's keypoint noise on %d frames", category, frames)
    noise_sd, figures, detections = calibrate_keypoint_noise(detector, shapes, frames, int(cal["seed"]),
                                                 noise=bool(cal.get("noise", True)),
                                                 distractors=tuple(cal.get("distractors", (0, 4))),
                                                 min_samples=int(cal.get("min_samples", 8)))
    prior = fit_shape_prior(category, names, keypoint_sets, noise_sd,
                            translation_sd=float(prior_cfg["translation_sd"]), yaw_sd=float(prior_cfg["yaw_sd"]),
                            scale_sd=float(prior_cfg["scale_sd"]),
                            robust_dof=float(prior_cfg.get("robust_dof", 3.0)),
                            robust_iterations=int(prior_cfg.get("robust_iterations", 3)),
                            metadata={"config": dict(cfg), "config_hash": config_hash(cfg), "calibration": figures,
                                      "bundle": str(data.get("bundle") or "shipped")})
    sigma_scale = calibrate_sigma_scale(prior, detections)
    prior = replace(prior, sigma_scale=sigma_scale, metadata={**prior.metadata, "sigma_scale": sigma_scale})
    out = save_shape_prior(Path(train["out_dir"]) / "shape_prior.pt", prior)
    log.info("shape prior of %d %s instances, calibrated on %d detections: %s", n_instances, category,
             figures["detected"], out)
    return {"shape_prior": str(out), "calibration": {**figures, "sigma_scale": sigma_scale}}
