"""Dense outputs of one frame: canonical-coordinate image, per-pixel confidence, correspondence cloud.

The detector gives, per object, the canonical coordinates of its pixels (the observed points taken
through the inverse of the fitted canonical -> camera similarity). How far such a canonical point
lies from the category prototype's surface says whether the pixel fits the category shape at all
(segmentation bleeding onto the table, a misfit): the per-pixel confidence is the object score
times ``exp(-d^2 / (2 sigma^2))``, ``d`` the distance in canonical metres to the nearest prototype
surface sample, ``sigma`` 2 cm by default (instances differ from the prototype by about that).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Optional

import numpy as np

__all__ = ["CLOUD_FIELDS", "DenseOutputs", "PrototypeConfidence", "dense_outputs"]

CLOUD_FIELDS = ("x", "y", "z", "cx", "cy", "cz", "confidence")
"""~/correspondence_cloud fields (all float32): camera xyz [m], canonical xyz [canonical m], confidence."""


class PrototypeConfidence:
    """Agreement of canonical points with the prototype surface, in [0, 1] (module docstring)."""

    def __init__(self, prototype_points: np.ndarray, sigma: float = 0.02) -> None:
        from scipy.spatial import cKDTree

        pts = np.asarray(prototype_points, dtype=np.float64).reshape(-1, 3)
        pts = pts[np.isfinite(pts).all(axis=1)]
        if len(pts) == 0 or not sigma > 0:
            raise ValueError("PrototypeConfidence needs prototype points and sigma > 0")
        self.tree = cKDTree(pts)
        self.sigma = float(sigma)

    def __call__(self, canonical: np.ndarray) -> np.ndarray:
        c = np.asarray(canonical, dtype=np.float64).reshape(-1, 3)
        if len(c) == 0:
            return np.zeros(0, np.float32)
        d, _ = self.tree.query(c, k=1)
        return np.exp(-0.5 * (d / self.sigma) ** 2).astype(np.float32)


@dataclass
class DenseOutputs:
    canonical: np.ndarray  # (H, W, 3) float32, NaN off the objects
    confidence: np.ndarray  # (H, W) float32, 0 off the objects
    cloud: np.ndarray  # (N, 7) float32, rows in CLOUD_FIELDS order, one per object pixel with depth


def dense_outputs(objects: Iterable, points_cam: np.ndarray,
                  confidence: Optional[PrototypeConfidence | Mapping[str, PrototypeConfidence]] = None) -> DenseOutputs:
    """Merge the objects' canonical maps into one image (a later object wins an overlapping pixel),
    score every object pixel, and list those with a valid 3D point as the correspondence cloud.
    ``confidence``: one for all objects, or one per category (objects of a category without one
    get the object score)."""
    h, w = points_cam.shape[:2]
    canon = np.full((h, w, 3), np.nan, np.float32)
    conf = np.zeros((h, w), np.float32)
    for obj in objects:
        cmap = np.asarray(obj.canonical_map, dtype=np.float32)
        m = np.asarray(obj.mask, dtype=bool) & np.isfinite(cmap).all(axis=-1)
        if not m.any():
            continue
        canon[m] = cmap[m]
        judge = confidence.get(obj.category) if isinstance(confidence, Mapping) else confidence
        fit = judge(cmap[m]) if judge is not None else np.ones(int(m.sum()), np.float32)
        conf[m] = np.float32(obj.score) * fit
    valid = np.isfinite(canon).all(axis=-1) & np.isfinite(points_cam).all(axis=-1)
    cloud = np.concatenate([points_cam[valid].astype(np.float32), canon[valid], conf[valid][:, None]], axis=1)
    return DenseOutputs(canon, conf, np.ascontiguousarray(cloud, dtype=np.float32))
