"""``semcorr bag eval BAG``: the detector over a bag's frames, scored against the bag's ground
truth with the pipeline bench's figures (:class:`~semcorr_core.bench.pipeline.PipelineScores`).

A bag carries no masks of the detections, so an estimate is matched to the annotated object by
its keypoints: the detection whose keypoints lie nearest the truth's on average (median over the
keypoints), when that is within ``match_radius`` of the object's keypoint extent. The same rule
scores what the ROS node published for the same bag (``semcorr bag eval --live``), so both runs
go through one scoring path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from semcorr_core.bags.ground_truth import FrameTruth
from semcorr_core.bags.read import read_bag_frames
from semcorr_core.bags.topics import BagTopics
from semcorr_core.bench.pipeline import ObjectEstimate, PipelineScores, estimate_of
from semcorr_core.bench.report import new_report
from semcorr_core.data.categories import get_category
from semcorr_core.data.rgbd import make_rgbd
from semcorr_core.errors import BagError, InputError, SemcorrError

__all__ = ["match_estimate", "score_bag_frames", "evaluate_bag"]


def match_estimate(estimates: Sequence[ObjectEstimate], truth_xyz: np.ndarray,
                   match_radius: float = 0.5) -> Optional[ObjectEstimate]:
    """The estimate whose keypoints (K, 3) lie nearest ``truth_xyz`` (K, 3) (median distance over
    the keypoints both have; NaN = missing, at least half must be there), if that median is within
    ``match_radius`` times the truth's keypoint extent (bounding-box diagonal); else None."""
    known = np.isfinite(truth_xyz).all(1)
    if known.sum() == 0:
        return None
    t = truth_xyz[known]
    extent = float(np.linalg.norm(t.max(0) - t.min(0)))
    best, best_d = None, match_radius * max(extent, 1e-3)
    for est in estimates:
        d = np.linalg.norm(np.asarray(est.xyz, np.float64)[known] - t, axis=1)
        ok = np.isfinite(d)  # a keypoint the estimate left out (NaN) does not decide the match
        if ok.sum() < max(1, (len(d) + 1) // 2):
            continue
        m = float(np.median(d[ok]))
        if m <= best_d:
            best, best_d = est, m
    return best


def score_bag_frames(category: str, keypoint_names: Sequence[str], truths: Sequence[FrameTruth],
                     estimates: Sequence[Union[Sequence[ObjectEstimate], SemcorrError, None]],
                     timings: Sequence[Optional[dict]] = ()) -> dict:
    """Figures over frames: ``estimates[f]`` the objects detected in frame ``f`` (None: the frame
    was lost; the error the detector refused it with: listed under ``refusals``; both are
    misses). Each frame's first object of ``category`` is scored."""
    spec = get_category(category)
    names = tuple(keypoint_names)
    K, F = len(names), len(truths)
    if len(estimates) != F:
        raise InputError(f"score_bag_frames: {F} ground-truth frames but {len(estimates)} estimate lists")
    scores = PipelineScores(F, K)
    gt = np.full((F, K, 3), np.nan)
    vis = np.zeros((F, K), bool)
    for f, truth in enumerate(truths):
        if f < len(timings) and timings[f]:
            scores.add_timings(timings[f])
        ann = next((o for o in truth.objects if o.category == spec.name), None)
        if ann is None:
            raise BagError(f"frame {f} (stamp {truth.stamp_ns}) has no {spec.name} in its ground truth")
        missing = [n for n in names if n not in ann.keypoint_names]
        if missing:
            raise BagError(f"frame {f}: the ground truth has no keypoint(s) {missing} of the detector's "
                           f"{list(names)} (another category file or bundle version?)")
        order = [ann.keypoint_names.index(n) for n in names]
        gt[f], vis[f] = ann.keypoints_cam[order], ann.keypoints_visible[order]
        ests = estimates[f]
        if isinstance(ests, SemcorrError):
            scores.add_error(f, ests)
            continue
        est = None if ests is None else match_estimate(ests, gt[f])
        scores.add(f, est, ann, order, gt[f], vis[f], spec.view_symmetry(ann.parts_seen), spec, names)
    return scores.figures(gt, vis, names)


def evaluate_bag(path: str | Path, category: Optional[str] = None, *, bundle_path: Optional[str] = None,
                 backend: str = "auto", topics: BagTopics = BagTopics(), slop_ns: int = 10_000_000,
                 seed: int = 0) -> dict:
    """Run the detector on every frame of the bag and report the figures (module docstring).
    ``category``: default the ground truth's first object's."""
    from semcorr_core.pipeline import Detector, DetectorConfig

    bag = read_bag_frames(path, topics, slop_ns=slop_ns, require_truth=True)
    if not bag.frames:
        raise BagError(f"bag {path} has no colour/depth/camera_info frames on {topics.color}, {topics.depth}, "
                       f"{topics.camera_info}")
    if category is None:
        first = bag.frames[0].truth.objects
        if not first:
            raise BagError(f"bag {path}: the first frame's ground truth has no object; pass the category")
        category = first[0].category
    detector = Detector.for_category(category, bundle_path, backend=backend, config=DetectorConfig(seed=seed))
    estimates, timings = [], []
    for fr in bag.frames:
        try:
            rgbd = make_rgbd(fr.color, fr.depth, fr.camera)
            result = detector.detect(rgbd)
        except SemcorrError as err:  # a frame the detector refuses counts as missed
            estimates.append(err)
            timings.append(None)
            continue
        estimates.append([estimate_of(o) for o in result.objects])
        timings.append(result.timings_ms)
    figures = score_bag_frames(detector.category, detector.keypoint_names, [f.truth for f in bag.frames],
                               estimates, timings)
    return new_report("bag_eval", bag=str(path), mode="offline", category=detector.category,
                      frames=len(bag.frames), unpaired_color_images=bag.unpaired, backend=detector.backend.name,
                      **figures)
