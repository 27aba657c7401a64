"""Depth-sensor noise: what separates a rendered depth map from a structured-light/stereo one.

Effects, each switchable: axial noise growing with distance, missing readings at depth edges and
grazing angles, random holes, disparity quantisation, and a working range.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class DepthNoiseConfig:
    """Parameters of the depth noise model. ``enabled=False`` returns the clean depth unchanged.

    Axial noise: sigma(z) = ``sigma_base + sigma_quadratic * (z - 0.4)**2`` metres — the shape of
    the Kinect-class model reported in the structured-light literature.
    Quantisation: the sensor measures disparity d = f * baseline / z in steps of
    ``disparity_step_px`` pixels, so depth steps grow with z**2.
    """

    enabled: bool = True
    sigma_base: float = 0.0012
    sigma_quadratic: float = 0.0019
    edge_threshold: float = 0.02  # m jump to a neighbour that marks a depth edge
    edge_dropout_prob: float = 0.5  # chance an edge pixel loses its reading
    edge_width_px: int = 1
    grazing_cos: float = 0.17  # readings where |cos(view, normal)| is below this are lost (~80 deg)
    holes_per_frame: float = 3.0  # mean of a Poisson draw
    hole_radius_px: tuple[int, int] = (2, 12)
    baseline_m: float = 0.05
    disparity_step_px: float = 1.0 / 8.0
    min_range_m: float = 0.15
    max_range_m: float = 4.0

    def to_dict(self) -> dict:
        return asdict(self)


class GaussianNoisePool:
    """Standard-normal images for a fixed image size, served as random crops of one pre-drawn
    field twice the size: per-frame noise at the cost of an index, reproducible from ``rng``."""

    def __init__(self, shape: tuple[int, int], seed: int = 0):
        h, w = shape
        self._field = np.random.default_rng(seed).standard_normal((2 * h, 2 * w), dtype=np.float32)

    def sample(self, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        h, w = shape
        fh, fw = self._field.shape
        if h > fh // 2 or w > fw // 2:
            raise ValueError(f"noise pool is for images up to {fw // 2}x{fh // 2}, asked {w}x{h}")
        y, x = int(rng.integers(0, fh - h + 1)), int(rng.integers(0, fw - w + 1))
        field = self._field[y : y + h, x : x + w]
        return field if rng.random() < 0.5 else -field


def apply_depth_noise(
    depth: np.ndarray,
    focal_px: float,
    rng: np.random.Generator,
    config: DepthNoiseConfig = DepthNoiseConfig(),
    normal_cos: np.ndarray | None = None,
    gaussian: GaussianNoisePool | None = None,
) -> np.ndarray:
    """Return a noisy copy of ``depth`` ((H, W) float metres, 0 = no surface).

    ``normal_cos`` ((H, W), optional) is |cos| of the angle between the viewing ray and the surface
    normal; where given, grazing readings are dropped.
    """
    if not config.enabled:
        return depth.astype(np.float32, copy=True)
    d = depth.astype(np.float32, copy=True)
    valid = d > 0
    h, w = d.shape

    # Depth edges: a pixel whose 3x3 neighbourhood spans more than edge_threshold.
    big = np.where(valid, d, np.float32(1e3))
    small = np.where(valid, d, np.float32(0.0))
    k = np.ones((2 * config.edge_width_px + 1,) * 2, np.uint8)
    spread = cv2.dilate(small, k) - cv2.erode(big, k)
    edge = valid & (spread > config.edge_threshold)
    drop = np.zeros((h, w), bool)
    edge_idx = np.flatnonzero(edge)
    drop.flat[edge_idx[rng.random(len(edge_idx)) < config.edge_dropout_prob]] = True

    if normal_cos is not None:
        drop |= valid & (normal_cos < config.grazing_cos)

    n_holes = rng.poisson(config.holes_per_frame)
    if n_holes:
        hole_mask = np.zeros((h, w), np.uint8)
        for _ in range(n_holes):
            c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            ax = tuple(int(a) for a in rng.integers(config.hole_radius_px[0], config.hole_radius_px[1] + 1, 2))
            cv2.ellipse(hole_mask, c, ax, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        drop |= hole_mask.astype(bool)

    sigma = config.sigma_base + config.sigma_quadratic * (d - 0.4) ** 2
    unit = gaussian.sample(rng, (h, w)) if gaussian is not None else rng.standard_normal((h, w), dtype=np.float32)
    d = d + unit * sigma.astype(np.float32)

    if config.disparity_step_px > 0:
        fb = focal_px * config.baseline_m
        with np.errstate(divide="ignore"):
            disparity = np.where(d > 0, fb / d, 0.0)
        disparity = np.round(disparity / config.disparity_step_px) * config.disparity_step_px
        with np.errstate(divide="ignore"):
            d = np.where(disparity > 0, fb / disparity, 0.0).astype(np.float32)

    out_of_range = (d < config.min_range_m) | (d > config.max_range_m)
    d[~valid | drop | out_of_range] = 0.0
    return d
