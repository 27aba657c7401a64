"""``semcorr bench categories``: which category each object gets when several are detected at once.

Frames: 640x480 tabletop scenes holding 1-3 held-out instances drawn from all the listed categories
(never trained on), 0-2 distractors, camera elevation 5-80 deg, sensor noise on. One
:class:`~semcorr_core.pipeline.MultiCategoryDetector` over the categories in the order given.

Figures: ``confusion[true][answer]`` counts per ground-truth object (``answer`` a category or
``missed``: no output object overlaps it with IoU >= 0.3; objects with fewer than
``DetectorConfig.min_points`` valid depth pixels are not counted); ``accuracy`` = right category over
objects found; ``recall`` = right category over all objects; ``false_objects_per_frame`` = output
objects that overlap no category object (a distractor or a piece of background given a
category); latency per stage (median ms).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from semcorr_core.bench.embed3d import TEST_SEED_OFFSET
from semcorr_core.bench.pipeline import MATCH_IOU, mask_iou
from semcorr_core.bench.report import new_report
from semcorr_core.data.categories import get_category
from semcorr_core.data.render import DepthNoiseConfig, RaycastRenderer, SceneConfig, sample_scene
from semcorr_core.data.rgbd import make_rgbd
from semcorr_core.data.shapes import generate_shapes
from semcorr_core.errors import InputError, SemcorrError
from semcorr_core.pipeline import Detector, DetectorConfig, MultiCategoryDetector, multi_category_descriptors

__all__ = ["run_category_bench"]

MIN_PIXELS = DetectorConfig.min_points
"""A ground-truth object with fewer valid depth pixels (hidden behind another, out of the picture)
is not counted: the detector skips segments that small by design."""


def run_category_bench(categories: Sequence[str], frames: int = 40, seed: int = 0, *, backend: str = "auto",
                       n_instances: int = 8, objects: tuple[int, int] = (1, 3),
                       distractors: tuple[int, int] = (0, 2), tolerance_fraction: float = 0.05,
                       free_space_weight: float = 1.0, bound_penalty: float = 0.15) -> dict:
    """Run the multi-category detector on ``frames`` rendered scenes; figures as the module docstring."""
    if frames < 1:
        raise InputError(f"frames must be >= 1, got {frames}")
    names = [get_category(c).name for c in categories]
    if len(names) < 2:
        raise InputError(f"bench categories compares at least two categories, got {names}")
    config = DetectorConfig(seed=seed, descriptors=multi_category_descriptors(len(names), "auto"))
    detector = MultiCategoryDetector([Detector.for_category(c, backend=backend, config=config) for c in names],
                                     tolerance_fraction=tolerance_fraction, free_space_weight=free_space_weight,
                                     bound_penalty=bound_penalty)
    pool = [s for c in names for s in generate_shapes(c, n_instances, TEST_SEED_OFFSET + 2000 + seed)]
    cfg = SceneConfig(width=640, height=480, objects_per_scene=objects, distractors_per_scene=distractors,
                      elevation_deg=(5.0, 80.0))
    renderer = RaycastRenderer(cfg.camera())
    answers = ["missed"] + names
    confusion = {t: {a: 0 for a in answers} for t in names}
    false_objects, too_small, errors = 0, 0, []
    timings: dict[str, list[float]] = {}
    for f in range(frames):
        rng = np.random.default_rng([seed, 0xCA7, f])
        scene = sample_scene(pool, rng, cfg)
        fr = renderer.render(scene, rng, DepthNoiseConfig(enabled=True))
        all_masks = [(ann.category, fr.instance_mask == ann.instance_index) for ann in fr.objects]
        gt_masks = [(c, m) for c, m in all_masks if int((m & (fr.depth > 0)).sum()) >= MIN_PIXELS]
        try:
            result = detector.detect(make_rgbd(fr.color, fr.depth, fr.camera))
        except SemcorrError as err:  # e.g. no support plane in view: every object of the frame missed
            errors.append({"frame": f, "error": f"{type(err).__name__}: {err}"})
            for category, _ in gt_masks:
                confusion[category]["missed"] += 1
            continue
        for k, v in result.timings_ms.items():
            timings.setdefault(k, []).append(float(v))
        too_small += len(all_masks) - len(gt_masks)
        claimed = set()
        for category, gt in gt_masks:
            ious = [mask_iou(o.mask, gt) for o in result.objects]
            j = int(np.argmax(ious)) if ious else -1
            if j < 0 or ious[j] < MATCH_IOU:
                confusion[category]["missed"] += 1
                continue
            claimed.add(j)
            confusion[category][result.objects[j].category] += 1
        false_objects += sum(1 for j in range(len(result.objects)) if j not in claimed
                             and max((mask_iou(result.objects[j].mask, gt) for _, gt in gt_masks), default=0.0) < MATCH_IOU)
    total = sum(sum(row.values()) for row in confusion.values())
    found = total - sum(row["missed"] for row in confusion.values())
    right = sum(confusion[c][c] for c in names)
    per_category = {c: {"objects": sum(confusion[c].values()), "right": confusion[c][c],
                        "recall": confusion[c][c] / max(sum(confusion[c].values()), 1)} for c in names}
    return new_report(
        "categories", categories=names, frames=frames, seed=seed, objects_per_frame=list(objects),
        distractors=list(distractors), backend=detector.detectors[0].backend.name,
        tolerance_fraction=detector.tolerance_fraction, tie_margin=detector.tie_margin,
        free_space_weight=detector.free_space_weight, bound_penalty=detector.bound_penalty,
        objects=total, objects_too_small=too_small, found=found, accuracy=right / found if found else None, recall=right / total if total else None,
        false_objects_per_frame=false_objects / frames, confusion=confusion, per_category=per_category,
        latency_ms={k: float(np.median(v)) for k, v in timings.items()}, errors=errors,
    )
