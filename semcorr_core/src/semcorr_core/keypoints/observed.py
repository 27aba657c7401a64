"""Keypoints found on the observed surface, where the category-level fit is only a prior.

A prototype keypoint carried through one similarity transform lands where the *mean* instance has
it: on a mug 1-1.5 cm (median) from where this instance has it, whatever the pose accuracy. The
learned keypoint descriptors know better where the observed surface shows the keypoint: nearest
embedding transfer (:func:`~semcorr_core.keypoints.nearest_embedding_transfer`) picks the point,
and a window soft-argmax (seed 004) over the points within ``window`` metres of it smooths the
choice of one sample among its neighbours.

The observation replaces the fitted position only where the two agree (within ``gate`` metres,
so a descriptor that fires on the wrong part keeps the prior) and the match is confident
(``min_similarity``):

* a keypoint on the surface takes the soft-argmax position;
* a keypoint on the category axis in the air (mug ``rim_center``: its descriptor finds the rim) keeps
  the fitted axis and takes the observed height, in the gravity frame (z up).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from semcorr_core.errors import InputError

__all__ = ["ObservedKeypoints", "observe_keypoints"]


class ObservedKeypoints(NamedTuple):
    """xyz ``(K, 3)`` gravity frame (the fitted position where not observed); observed ``(K,)``
    bool; similarity ``(K,)`` cosine similarity of the best-matching point."""

    xyz: np.ndarray
    observed: np.ndarray
    similarity: np.ndarray


def observe_keypoints(keypoint_embeddings: torch.Tensor, point_embeddings: torch.Tensor, points: np.ndarray,
                      fitted: np.ndarray, *, on_surface: np.ndarray, on_axis: np.ndarray, gate: float,
                      window: float = 0.01, temperature: float = 0.05, min_similarity: float = 0.5) -> ObservedKeypoints:
    """Refine ``fitted`` ``(K, 3)`` keypoints (gravity frame, metres) from the ``(N, 3)`` observed
    ``points`` and their ``(N, D)`` ``point_embeddings`` (module docstring).

    keypoint_embeddings: ``(K, D)``. on_surface / on_axis: ``(K,)`` bool (a keypoint that is neither
    keeps its fitted position). gate, window: metres. temperature: of the soft-argmax weights
    ``exp((sim - sim_max) / temperature)``.
    """
    pts = np.asarray(points, dtype=np.float64)
    fitted = np.asarray(fitted, dtype=np.float64)
    K = len(fitted)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0:
        raise InputError(f"points must be (N, 3) with N >= 1, got {pts.shape}")
    if point_embeddings.ndim != 2 or point_embeddings.shape[0] != len(pts):
        raise InputError(f"point_embeddings must be ({len(pts)}, D), got {tuple(point_embeddings.shape)}")
    if keypoint_embeddings.ndim != 2 or keypoint_embeddings.shape != (K, point_embeddings.shape[1]):
        raise InputError(f"keypoint_embeddings must be ({K}, {point_embeddings.shape[1]}) for {K} fitted keypoints, "
                         f"got {tuple(keypoint_embeddings.shape)}")
    on_surface, on_axis = np.asarray(on_surface, bool), np.asarray(on_axis, bool)
    if on_surface.shape != (K,) or on_axis.shape != (K,):
        raise InputError(f"on_surface and on_axis must be ({K},) bool")
    for name, v in (("gate", gate), ("window", window), ("temperature", temperature)):
        if not (np.isfinite(v) and v > 0):
            raise InputError(f"{name} must be a positive number, got {v}")
    q = F.normalize(keypoint_embeddings.float(), dim=-1)
    e = F.normalize(point_embeddings.float().to(q.device), dim=-1)
    sim = (q @ e.T).cpu().numpy().astype(np.float64)  # (K, N)
    best = sim.argmax(axis=1)
    xyz, observed = fitted.copy(), np.zeros(K, bool)
    for k in np.flatnonzero(on_surface | on_axis):
        if sim[k, best[k]] < min_similarity:
            continue
        near = np.linalg.norm(pts - pts[best[k]], axis=1) <= window
        w = np.exp((sim[k, near] - sim[k, best[k]]) / temperature)
        found = w @ pts[near] / w.sum()
        if on_surface[k]:
            if np.linalg.norm(found - fitted[k]) <= gate:
                xyz[k], observed[k] = found, True
        elif abs(found[2] - fitted[k, 2]) <= gate:
            xyz[k, 2], observed[k] = found[2], True
    return ObservedKeypoints(xyz, observed, sim[np.arange(K), best])
