"""Several categories in one frame: one segmentation, every category's fit per segment, the best one kept.

Each :class:`~semcorr_core.pipeline.Detector` already refuses a segment its category does not explain
(``min_explained``), but a can-shaped segment is explained by a can, a bottle and a mug whose
handle is out of sight alike. The per-category scores (alignment inlier fractions) are not
comparable across categories, so the choice uses a measure that is, with one tolerance ``tol`` =
``tolerance_fraction`` x the segment's own bounding-box diagonal for every candidate:

    support(c) - free_space_weight * violation(c) - bound_penalty * pinned(c)

``support``: fraction of the segment's points within ``tol`` of the fitted surface
(:meth:`Detector.surface_support`); ``violation``: fraction of the fitted surface the sensor saw
through by more than ``tol`` (:meth:`Detector.free_space_violation`: a bottle fitted to a mug puts
a neck where the camera sees the wall behind); ``pinned``: how many of the fit's shape parameters
(scale, and the radius proportion of a rotation-symmetric fit) ended within 2 % of the range the
fit allows: a category that can explain a segment only stretched to its limits is a poor
explanation (a bottle fitted to a mug comes out at scale 0.6 and radii x 2.5). A tie within
``tie_margin`` goes to the category listed first (the user's priority order).

Defaults from tuning frames of ``semcorr bench categories`` seeds 1 and 2 (the reported figures
use seed 0): right category 0.78 / 0.85 / 0.78 at tolerance 0.03 / 0.05 / 0.08 (16 frames);
free-space weight 1 or 2 the same; tighter tolerances favour the bottle's flexible fit (support at
1-3 % of the diagonal: 0.58-0.66 on 76 segments); ``bound_penalty`` 0 / 0.1 / 0.15 / 0.3: 0.805 /
0.844 / 0.852 / 0.844 on 128 segments.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Optional, Sequence

import numpy as np

from semcorr_core.alignment.prototype import RADIUS_RATIO
from semcorr_core.data.rgbd import RGBDFrame
from semcorr_core.errors import InputError
from semcorr_core.pipeline.detector import DetectedObject, Detections, Detector, DetectorConfig, segment_frame

__all__ = ["MultiCategoryDetector", "CategoryChoice", "pinned_parameters", "multi_category_descriptors"]

PINNED_MARGIN = 1.02
"""A shape parameter within this factor of a bound of its range counts as pinned there."""


def multi_category_descriptors(n_categories: int, descriptors: str) -> str:
    """The descriptor mode each category's detector gets when ``n_categories`` share a frame:
    ``auto`` means ``3d`` for several categories (fused descriptors fit the wrong category more
    often: right category 0.87 -> 0.82 for mug, bottle, bowl, can and 0.94 -> 0.84 with the chair,
    ``semcorr bench categories`` seed 0, 2026-12-01), else as given."""
    return "3d" if n_categories > 1 and descriptors == "auto" else descriptors


def pinned_parameters(detector: Detector, obj: DetectedObject) -> int:
    """How many of ``obj``'s fitted shape parameters sit at a bound of the range ``detector``'s fit
    allows: the scale (``DetectorConfig.scale_range``) and, for a rotation-symmetric category, the
    radius proportion (:data:`~semcorr_core.alignment.prototype.RADIUS_RATIO`)."""
    def at_bound(value: float, lo: float, hi: float) -> bool:
        return value <= lo * PINNED_MARGIN or value >= hi / PINNED_MARGIN

    n = int(at_bound(float(obj.pose.s), *detector.config.scale_range))
    if detector.rotation_symmetric:
        n += int(at_bound(float(obj.radial_scale), *RADIUS_RATIO))
    return n


@dataclass(frozen=True)
class CategoryChoice:
    """Why a segment got its category: the selection score (module docstring) of each category
    that fitted it (NaN when only one did: nothing to compare), and the chosen one (None: no
    category fitted)."""

    instance_id: int
    scores: dict[str, float]
    chosen: Optional[str]


def _drop_joined_pieces(objects: list[DetectedObject], choices: list[CategoryChoice]
                        ) -> tuple[list[DetectedObject], list[CategoryChoice]]:
    """Without the objects that lie mostly (half their pixels) inside a larger chosen object's
    mask: one category joined their segment to its object (``DetectorConfig.join_explained``)
    while another category fitted the piece alone. Their choices say ``chosen=None``."""
    keep = [not any(p is not o and p.mask.sum() > o.mask.sum() and 2 * (o.mask & p.mask).sum() >= o.mask.sum()
                    for p in objects) for o in objects]
    dropped = {o.instance_id for o, k in zip(objects, keep) if not k}
    return ([o for o, k in zip(objects, keep) if k],
            [replace(c, chosen=None) if c.instance_id in dropped else c for c in choices])


class MultiCategoryDetector:
    """Detect objects of any of ``detectors``' categories (listed in priority order) in one frame."""

    def __init__(self, detectors: Sequence[Detector], *, tolerance_fraction: float = 0.05,
                 tie_margin: float = 0.02, free_space_weight: float = 1.0, bound_penalty: float = 0.15) -> None:
        if not detectors:
            raise InputError("MultiCategoryDetector needs at least one category detector")
        names = [d.category for d in detectors]
        if len(set(names)) != len(names):
            raise InputError(f"each category may be listed once, got {names}")
        if not 0.0 < tolerance_fraction < 1.0:
            raise InputError(f"tolerance_fraction must be in (0, 1), got {tolerance_fraction}")
        if tie_margin < 0.0 or free_space_weight < 0.0 or bound_penalty < 0.0:
            raise InputError(f"tie_margin, free_space_weight and bound_penalty must be >= 0, got "
                             f"{tie_margin}, {free_space_weight}, {bound_penalty}")
        self.detectors = list(detectors)
        self.tolerance_fraction, self.tie_margin = float(tolerance_fraction), float(tie_margin)
        self.free_space_weight, self.bound_penalty = float(free_space_weight), float(bound_penalty)
        self.last_choices: list[CategoryChoice] = []

    @classmethod
    def for_categories(cls, categories: Sequence[str], bundle_paths: Optional[Sequence[Optional[str]]] = None,
                       **detector_kwargs) -> "MultiCategoryDetector":
        """One :meth:`Detector.for_category` per category (``bundle_paths[i]`` or the shipped bundle)."""
        paths = list(bundle_paths) if bundle_paths is not None else [None] * len(categories)
        if len(paths) != len(categories):
            raise InputError(f"{len(categories)} categories but {len(paths)} bundle paths")
        config = detector_kwargs.pop("config", DetectorConfig())
        config = replace(config, descriptors=multi_category_descriptors(len(categories), config.descriptors))
        return cls([Detector.for_category(c, p, config=config, **detector_kwargs) for c, p in zip(categories, paths)])

    @property
    def categories(self) -> list[str]:
        return [d.category for d in self.detectors]

    def detect(self, frame: RGBDFrame) -> Detections:
        """As :meth:`Detector.detect`, each object of the category that explains its segment best
        (one category: exactly that detector's result). :attr:`last_choices` tells why."""
        t0 = time.perf_counter()
        first = self.detectors[0]
        segments = segment_frame(frame, seed=first.config.seed)
        timings = {"segment": segments.segment_ms}
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
                scores = {best.category: float("nan")}
            else:
                points = segments.points_cam[mask & (frame.depth > 0)]
                points = points[:: max(1, len(points) // 4000)]  # a support fraction needs no more
                diag = float(np.linalg.norm(np.ptp(points, axis=0)))
                tol = self.tolerance_fraction * diag
                scores = {obj.category: d.surface_support(points, obj, tol)
                          - self.free_space_weight * d.free_space_violation(frame, obj, tol)
                          - self.bound_penalty * pinned_parameters(d, obj)
                          for d, obj in candidates}
                top = max(scores.values())
                # listed order breaks near-ties: the user's priority, and a stable answer under noise
                best = next(obj for _, obj in candidates if scores[obj.category] >= top - self.tie_margin)
            objects.append(best)
            choices.append(CategoryChoice(i + 1, scores, best.category))
        objects, choices = _drop_joined_pieces(objects, choices)
        timings["choose"] = (time.perf_counter() - t) * 1e3
        timings["total"] = (time.perf_counter() - t0) * 1e3
        self.last_choices = choices
        return Detections(objects, np.asarray(segments.plane.normal, dtype=np.float64), timings)
