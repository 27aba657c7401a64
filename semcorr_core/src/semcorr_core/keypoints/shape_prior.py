"""A category's keypoint shape prior: keypoints the observation did not measure, inferred from those it did.

Seed 003 keeps the geometry of a category's keypoints as distributions (angles, edge ratios) and
makes an alignment respect them. Here the same knowledge is kept in the form that answers the
detector's question in closed form: the joint Gaussian of the ``K`` keypoints' canonical
coordinates over the category's training instances (mean ``(K, 3)``, covariance ``(3K, 3K)``).
Given the keypoints found on the observed surface (each with its measurement noise), the
conditional (posterior) mean gives every keypoint, the found ones fused with what the others
say of them, and the posterior covariance its uncertainty.

The keypoints enter in the canonical frame of the *fitted* pose, which is itself off by a
centimetre and a degree or two. The covariance therefore carries the fitted pose's error modes
as well (:func:`keypoint_covariance`): a common translation, a turn about the up axis and a
scale. Measured keypoints then move the unmeasured ones with the pose error they show, not only
with the instance's proportions.

A chair's fit-only keypoints (those neither found on the surface nor mirrored) sat at median
4.7 cm; conditioned on the found ones, 2.8 cm (80 + 120 tuning frames, BENCHMARKS.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
import torch

from semcorr_core.data.categories import get_category
from semcorr_core.errors import InputError, ModelFileError
from semcorr_core.models.model_file import read_model_file

__all__ = ["KeypointShapePrior", "ShapePosterior", "keypoint_covariance", "fit_shape_prior", "condition_keypoints",
           "save_shape_prior", "load_shape_prior", "default_shape_prior_path", "SHAPE_PRIOR_FORMAT",
           "MEDIAN_TO_SD_3D"]

SHAPE_PRIOR_FORMAT, SHAPE_PRIOR_VERSION = "semcorr-shape-prior", 1
MEDIAN_TO_SD_3D = 1.5382
"""Median of the length of a 3D isotropic Gaussian error over its per-axis standard deviation
(the chi distribution with 3 degrees of freedom): a median error turns into a noise sd."""
_REMEDY = "fit one with `semcorr train shape_prior`"


class ShapePosterior(NamedTuple):
    """xyz: ``(K, 3)`` posterior mean of every keypoint (canonical metres); sd: ``(K,)`` its
    posterior per-axis standard deviation (root mean of the 3x3 block's diagonal)."""

    xyz: np.ndarray
    sd: np.ndarray


@dataclass(frozen=True)
class KeypointShapePrior:
    """category, keypoint_names (K); mean: ``(K, 3)`` canonical keypoints (metres); covariance:
    ``(3K, 3K)`` of the flattened keypoints (x0, y0, z0, x1, ...), shape variation plus the
    fitted pose's error modes; noise_sd: per keypoint source (``measured``, ``mirrored``) the
    ``(K,)`` per-axis measurement noise sd in canonical metres (the detector's errors on
    calibration frames); sigma_scale: the posterior sd times this is the keypoint's reported
    uncertainty (the errors are heavier-tailed than the Gaussian says; calibrated so that the
    median error is :data:`MEDIAN_TO_SD_3D` sigmas on the calibration frames); robust_dof,
    robust_iterations: the found keypoints' errors are heavy-tailed (a corner put on the wrong
    face), so :meth:`condition` reweights them as a Student-t with ``robust_dof`` degrees of
    freedom over ``robust_iterations`` rounds (0: the plain Gaussian); metadata: how it was made."""

    category: str
    keypoint_names: tuple[str, ...]
    mean: np.ndarray
    covariance: np.ndarray
    noise_sd: dict[str, np.ndarray]
    sigma_scale: float = 1.0
    robust_dof: float = 3.0
    robust_iterations: int = 3
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        K = len(self.keypoint_names)
        mean, cov = np.asarray(self.mean, np.float64), np.asarray(self.covariance, np.float64)
        if K == 0 or mean.shape != (K, 3) or cov.shape != (3 * K, 3 * K):
            raise InputError(f"shape prior: mean must be (K, 3) and covariance (3K, 3K) for K={K} keypoint names, "
                             f"got {mean.shape} and {cov.shape}")
        if not (np.isfinite(mean).all() and np.isfinite(cov).all()) or not np.allclose(cov, cov.T, atol=1e-12):
            raise InputError("shape prior: mean and covariance must be finite and the covariance symmetric")
        for source, sd in self.noise_sd.items():
            sd = np.asarray(sd, np.float64)
            if sd.shape != (K,) or not (np.isfinite(sd).all() and (sd > 0).all()):
                raise InputError(f"shape prior: noise_sd[{source!r}] must be (K,) finite and > 0, got {sd}")
        if not (np.isfinite(self.sigma_scale) and float(self.sigma_scale) > 0):
            raise InputError(f"shape prior: sigma_scale must be finite and > 0, got {self.sigma_scale}")
        if not (np.isfinite(self.robust_dof) and float(self.robust_dof) > 0) or int(self.robust_iterations) < 0:
            raise InputError(f"shape prior: robust_dof must be > 0 and robust_iterations >= 0, got "
                             f"{self.robust_dof} and {self.robust_iterations}")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "covariance", cov)
        object.__setattr__(self, "noise_sd", {s: np.asarray(v, np.float64) for s, v in self.noise_sd.items()})

    def condition(self, xyz: np.ndarray, measured: np.ndarray, mirrored: np.ndarray, *,
                  robust: bool = True) -> ShapePosterior:
        """Posterior of every keypoint given the ``measured`` and ``mirrored`` ones (``(K,)`` bool)
        of ``xyz`` ``(K, 3)`` (canonical frame), each with its source's noise; ``sd`` times
        ``sigma_scale``. ``robust``: Student-t reweighting (iteratively reweighted least squares):
        a found keypoint ``r`` noise sds from the posterior gets its noise variance divided by
        ``w = (dof + 3) / (dof + r^2)`` where that is below 1 (never trusted more than calibrated)."""
        measured, mirrored = np.asarray(measured, bool), np.asarray(mirrored, bool)
        observed = measured | mirrored
        noise = np.where(measured, self.noise_sd["measured"], self.noise_sd["mirrored"])
        post = condition_keypoints(self.mean, self.covariance, xyz, observed, noise)
        dof = float(self.robust_dof)
        for _ in range(int(self.robust_iterations) if robust else 0):
            r2 = np.sum((np.asarray(xyz, np.float64) - post.xyz) ** 2, axis=1) / noise ** 2
            weight = np.minimum((dof + 3.0) / (dof + np.where(observed, r2, 0.0)), 1.0)
            post = condition_keypoints(self.mean, self.covariance, xyz, observed, noise / np.sqrt(weight))
        return ShapePosterior(post.xyz, post.sd * float(self.sigma_scale))


def keypoint_covariance(keypoint_sets: np.ndarray, *, translation_sd: float = 0.0, yaw_sd: float = 0.0,
                        scale_sd: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(K, 3)`` and covariance ``(3K, 3K)`` of ``(M, K, 3)`` keypoint sets (M >= 2), plus
    the pose-error modes about the mean shape: a common translation with per-axis sd
    ``translation_sd`` (metres), a turn about +z with sd ``yaw_sd`` (radians; the first-order
    displacement ``(-y, x, 0)``) and a scale about the origin with relative sd ``scale_sd``."""
    X = np.asarray(keypoint_sets, np.float64)
    if X.ndim != 3 or X.shape[2] != 3 or X.shape[0] < 2 or X.shape[1] < 1:
        raise InputError(f"keypoint_sets must be (M >= 2, K, 3), got {X.shape}")
    if not np.isfinite(X).all():
        raise InputError("keypoint_sets must be finite (every instance needs every keypoint)")
    for name, v in (("translation_sd", translation_sd), ("yaw_sd", yaw_sd), ("scale_sd", scale_sd)):
        if not float(v) >= 0.0:
            raise InputError(f"{name} must be >= 0, got {v}")
    M, K, _ = X.shape
    mean = X.mean(axis=0)
    flat = X.reshape(M, 3 * K)
    cov = np.cov(flat, rowvar=False).reshape(3 * K, 3 * K)
    modes = []
    for axis in range(3):
        shift = np.zeros((K, 3))
        shift[:, axis] = 1.0
        modes.append(float(translation_sd) * shift.ravel())
    modes.append(float(yaw_sd) * np.column_stack([-mean[:, 1], mean[:, 0], np.zeros(K)]).ravel())
    modes.append(float(scale_sd) * mean.ravel())
    for mode in modes:
        cov += np.outer(mode, mode)
    return mean, cov


def fit_shape_prior(category: str, keypoint_names: tuple[str, ...], keypoint_sets: np.ndarray,
                    noise_sd: dict[str, np.ndarray], *, translation_sd: float = 0.01, yaw_sd: float = 0.03,
                    scale_sd: float = 0.04, robust_dof: float = 3.0, robust_iterations: int = 3,
                    metadata: Optional[dict] = None) -> KeypointShapePrior:
    """The :class:`KeypointShapePrior` of ``(M, K, 3)`` canonical keypoint sets of ``category``'s
    training instances (in ``keypoint_names`` order). The pose-error defaults are the chair's
    measured pose errors on the pipeline bench (rotation 1.5 deg, translation 1.5 cm, scale 4 %,
    medians; per axis about a centimetre)."""
    name = get_category(category).name
    mean, cov = keypoint_covariance(keypoint_sets, translation_sd=translation_sd, yaw_sd=yaw_sd, scale_sd=scale_sd)
    meta = {"instances": int(np.asarray(keypoint_sets).shape[0]), "translation_sd": float(translation_sd),
            "yaw_sd": float(yaw_sd), "scale_sd": float(scale_sd), **(metadata or {})}
    return KeypointShapePrior(name, tuple(keypoint_names), mean, cov, dict(noise_sd), robust_dof=float(robust_dof),
                              robust_iterations=int(robust_iterations), metadata=meta)


def condition_keypoints(mean: np.ndarray, covariance: np.ndarray, xyz: np.ndarray, observed: np.ndarray,
                        noise_sd: np.ndarray) -> ShapePosterior:
    """Posterior of all ``K`` keypoints given the ``observed`` ones (``(K,)`` bool) at ``xyz``
    ``(K, 3)`` with per-axis Gaussian noise ``noise_sd`` ``(K,)`` (ignored where not observed),
    under the Gaussian prior ``mean`` ``(K, 3)``, ``covariance`` ``(3K, 3K)``. Nothing observed:
    the prior itself."""
    mean = np.asarray(mean, np.float64)
    K = len(mean)
    cov = np.asarray(covariance, np.float64)
    xyz, observed = np.asarray(xyz, np.float64), np.asarray(observed, bool)
    noise_sd = np.asarray(noise_sd, np.float64)
    if mean.shape != (K, 3) or cov.shape != (3 * K, 3 * K) or xyz.shape != (K, 3) or observed.shape != (K,) \
            or noise_sd.shape != (K,):
        raise InputError(f"condition_keypoints: mean (K, 3), covariance (3K, 3K), xyz (K, 3), observed (K,) and "
                         f"noise_sd (K,) with K={K}; got {mean.shape}, {cov.shape}, {xyz.shape}, {observed.shape}, "
                         f"{noise_sd.shape}")
    if not np.isfinite(xyz[observed]).all():
        raise InputError("condition_keypoints: observed keypoints must be finite")
    if not (noise_sd[observed] > 0).all():
        raise InputError("condition_keypoints: observed keypoints need a noise sd > 0")
    obs = np.repeat(observed, 3)
    if not obs.any():
        return ShapePosterior(mean.copy(), np.sqrt(np.diag(cov).reshape(K, 3).mean(axis=1)))
    C_oo = cov[np.ix_(obs, obs)] + np.diag(np.repeat(noise_sd[observed], 3) ** 2)
    C_ao = cov[:, obs]
    innovation = xyz.ravel()[obs] - mean.ravel()[obs]
    gain = np.linalg.solve(C_oo, C_ao.T).T  # (3K, n_obs); C_oo is positive definite (noise > 0)
    post_mean = mean.ravel() + gain @ innovation
    post_var = np.diag(cov) - np.einsum("ij,ij->i", gain, C_ao)
    return ShapePosterior(post_mean.reshape(K, 3), np.sqrt(np.clip(post_var, 0.0, None).reshape(K, 3).mean(axis=1)))


def save_shape_prior(path: str | Path, prior: KeypointShapePrior) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": SHAPE_PRIOR_FORMAT, "version": SHAPE_PRIOR_VERSION, "category": prior.category,
                "keypoint_names": list(prior.keypoint_names), "mean": torch.as_tensor(prior.mean),
                "covariance": torch.as_tensor(prior.covariance),
                "noise_sd": {s: torch.as_tensor(v) for s, v in prior.noise_sd.items()},
                "sigma_scale": float(prior.sigma_scale), "robust_dof": float(prior.robust_dof),
                "robust_iterations": int(prior.robust_iterations),
                "metadata": dict(prior.metadata)}, path)
    return path


def load_shape_prior(path: str | Path, category: Optional[str] = None) -> KeypointShapePrior:
    """The shape prior in ``path`` (of ``category`` when given). Raises
    :class:`~semcorr_core.errors.ModelFileError` for a missing, corrupt, foreign or inconsistent file."""
    d = read_model_file(path, what="keypoint shape prior", file_format=SHAPE_PRIOR_FORMAT,
                        version=SHAPE_PRIOR_VERSION, remedy=_REMEDY,
                        category=None if category is None else get_category(category).name)
    try:
        return KeypointShapePrior(d["category"], tuple(d["keypoint_names"]), d["mean"].numpy(),
                                  d["covariance"].numpy(), {s: v.numpy() for s, v in d["noise_sd"].items()},
                                  float(d.get("sigma_scale", 1.0)), float(d.get("robust_dof", 3.0)),
                                  int(d.get("robust_iterations", 3)), dict(d.get("metadata", {})))
    except (KeyError, AttributeError, TypeError, InputError) as e:
        raise ModelFileError(f"{path} is an inconsistent keypoint shape prior ({e}): {_REMEDY}") from None


def default_shape_prior_path(category: str) -> Path:
    """Where the shipped shape prior of ``category`` lives (it may not exist: not every category ships one)."""
    from semcorr_core.models.bundle import DEFAULT_BUNDLE_DIR

    return DEFAULT_BUNDLE_DIR / f"shape_prior_{get_category(category).name}.pt"
