"""Several categories in one frame: one segmentation, every category's fit per segment, the best one kept.

Each :class:`~semcorr_core.pipeline.Detector` already refuses a segment its category does not explain
(``min_explained``), but a can-shaped segment is explained by a can, a bottle and a mug whose
handle is out of sight alike. The per-category scores (alignment inlier fractions) are not
comparable across categories, so the choice uses a measure that is, with one tolerance ``tol`` =
``tolerance_fraction`` x the segment's own bounding-box diagonal for every candidate:

    support(c) - free_space_weight * violation(c)

``support``: fraction of the segment's points within ``tol`` of the fitted surface
(:meth:`Detector.surface_support`); ``violation``: fraction of the fitted surface the sensor saw
through by more than ``tol`` (:meth:`Detector.free_space_violation`: a bottle fitted to a mug puts
a neck where the camera sees the wall behind). A tie within ``tie_margin`` goes to the category
listed first (the user's priority order). Defaults from 16 tuning frames (seed 1 of
``semcorr bench categories``; the reported figures use seed 0): right category 0.78 at
tolerance 0.03, 0.85 at 0.05, 0.78 at 0.08; the free-space weight 1 or 2 changed nothing there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from semcorr_core.data.rgbd import RGBDFrame
from semcorr_core.errors import InputError
from semcorr_core.pipeline.detector import DetectedObject, Detections, Detector, segment_frame

__all__ = ["MultiCategoryDetector", "CategoryChoice"]


@dataclass(frozen=True)
class CategoryChoice:
    """Why a segment got its category: ``support`` per category that fitted it (fraction of the
    segment's points on the fitted surface), and the chosen one (None: no category fitted)."""

    instance_id: int
    support: dict[str, float]
    chosen: Optional[str]


class MultiCategoryDetector:
    """Detect objects of any of ``detectors``' categories (listed in priority order) in one frame."""

    def __init__(self, detectors: Sequence[Detector], *, tolerance_fraction: float = 0.05,
                 tie_margin: float = 0.02, free_space_weight: float = 1.0) -> None:
        if not detectors:
            raise InputError("MultiCategoryDetector needs at least one category detector")
        names = [d.category for d in detectors]
        if len(set(names)) != len(names):
            raise InputError(f"each category may be listed once, got {names}")
        if not 0.0 < tolerance_fraction < 1.0:
            raise InputError(f"tolerance_fraction must be in (0, 1), got {tolerance_fraction}")
        if tie_margin < 0.0:
            raise InputError(f"tie_margin must be >= 0, got {tie_margin}")
        self.detectors = list(detectors)
        self.tolerance_fraction, self.tie_margin = float(tolerance_fraction), float(tie_margin)
        self.free_space_weight = float(free_space_weight)
        self.last_choices: list[CategoryChoice] = []

    @classmethod
    def for_categories(cls, categories: Sequence[str], bundle_paths: Optional[Sequence[Optional[str]]] = None,
                       **detector_kwargs) -> "MultiCategoryDetector":
        """One :meth:`Detector.for_category` per category (``bundle_paths[i]`` or the shipped bundle)."""
        paths = list(bundle_paths) if bundle_paths is not None else [None] * len(categories)
        if len(paths) != len(categories):
            raise InputError(f"{len(categories)} categories but {len(paths)} bundle paths")
        return cls([Detector.for_category(c, p, **detector_kwargs) for c, p in zip(categories, paths)])

    @property
    def categories(self) -> list[str]:
        return [d.category for d in self.detectors]

    def detector(self, category: str) -> Detector:
        for d in self.detectors:
            if d.category == category:
                return d
        raise InputError(f"category {category!r} is not among {self.categories}")

    def detect(self, frame: RGBDFrame) -> Detections:
        """As :meth:`Detector.detect`, each object of the category that explains its segment best
        (one category: exactly that detector's result). :attr:`last_choices` tells why."""
        t0 = time.perf_counter()
        first = self.detectors[0]
        segments = segment_frame(frame, seed=first.config.seed)
        timings = {"segment": segments.segment_ms, "embed": 0.0, "align": 0.0, "keypoints": 0.0}
        per_category = [d.detect_segments(frame, segments, timings) for d in self.detectors]
        t = time.perf_counter()
        objects: list[DetectedObject] = []
        choices: list[CategoryChoice] = []
        for i, mask in enumerate(segments.masks):
            candidates = [(d, found[i]) for d, found in zip(self.detectors, per_category) if found[i] is not None]
            if not candidates:
                choices.append(CategoryChoice(i + 1, {}, None))
                continue
            if len(candidates) == 1:
                best = candidates[0][1]
                support = {best.category: float("nan")}  # nothing to compare: not computed
            else:
                points = segments.points_cam[mask & (frame.depth > 0)]
                points = points[:: max(1, len(points) // 4000)]  # a support fraction needs no more
                diag = float(np.linalg.norm(np.ptp(points, axis=0)))
                tol = self.tolerance_fraction * diag
                support = {obj.category: d.surface_support(points, obj, tol)
                           - self.free_space_weight * d.free_space_violation(frame, obj, tol)
                           for d, obj in candidates}
                top = max(support.values())
                # listed order breaks near-ties: the user's priority, and a stable answer under noise
                best = next(obj for _, obj in candidates if support[obj.category] >= top - self.tie_margin)
            objects.append(best)
            choices.append(CategoryChoice(i + 1, support, best.category))
        timings["choose"] = (time.perf_counter() - t) * 1e3
        timings["total"] = (time.perf_counter() - t0) * 1e3
        self.last_choices = choices
        return Detections(objects, np.asarray(segments.plane.normal, dtype=np.float64), timings)
