"""``semcorr bench tracking``: keypoint jitter on static-camera sequences, with and without the
tracker (issue #4 item 6).

Each sequence is one held-out scene (one object of the category, 0-2 distractors) rendered
``frames`` times from the same camera with fresh sensor noise, as a camera on a tripod sees it.
The detector runs on every frame; the same detections then go through a
:class:`~semcorr_core.keypoints.KeypointTracker`. Jitter of a keypoint: the RMS distance of its
positions from their mean over the sequence (after the tracker's warm-up of ``warmup`` frames),
for the object matched to the ground truth; figures are medians over keypoints and sequences.
The 3D error against the ground truth is reported too: smoothing must not buy steadiness with
accuracy.
"""

from __future__ import annotations

import numpy as np

from semcorr_core.bench.embed3d import TEST_SEED_OFFSET
from semcorr_core.bench.report import new_report
from semcorr_core.data.categories import get_category
from semcorr_core.data.render import DepthNoiseConfig, RaycastRenderer, SceneConfig, sample_scene
from semcorr_core.data.rgbd import make_rgbd
from semcorr_core.data.shapes import generate_shapes
from semcorr_core.errors import InputError
from semcorr_core.keypoints import KeypointTracker
from semcorr_core.pipeline import Detector, DetectorConfig

__all__ = ["run_tracking_bench"]


def _best(objects, gt_mask):
    scored = [((o.mask & gt_mask).sum(), o) for o in objects]
    scored = [s for s in scored if s[0] > 0]
    return max(scored, key=lambda s: s[0])[1] if scored else None


def run_tracking_bench(category: str, sequences: int = 5, frames: int = 20, seed: int = 0, *, alpha: float = 0.3,
                       warmup: int = 5, backend: str = "auto", bundle_path: str | None = None) -> dict:
    if sequences < 1 or frames < warmup + 2:
        raise InputError(f"need sequences >= 1 and frames >= warmup + 2 ({warmup + 2}), got {sequences}, {frames}")
    spec = get_category(category)
    detector = Detector.for_category(spec.name, bundle_path, backend=backend, config=DetectorConfig(seed=seed))
    shapes = generate_shapes(spec.name, sequences, TEST_SEED_OFFSET + 2000 + seed)
    cfg = SceneConfig(width=640, height=480, objects_per_scene=(1, 1), distractors_per_scene=(0, 2),
                      elevation_deg=(20.0, 60.0))
    renderer = RaycastRenderer(cfg.camera())
    jitter = {"raw": [], "tracked": []}
    error = {"raw": [], "tracked": []}
    for q in range(sequences):
        scene = sample_scene([], np.random.default_rng([seed, 0x7A, q]), cfg, primary=shapes[q])
        tracker = KeypointTracker(alpha=alpha)
        track = {"raw": [], "tracked": []}
        gt = None
        for f in range(frames):
            fr = renderer.render(scene, np.random.default_rng([seed, 0x7B, q, f]), DepthNoiseConfig(enabled=True))
            ann = fr.objects[0]
            order = [ann.keypoint_names.index(n) for n in detector.keypoint_names]
            gt = ann.keypoints_cam[order]
            gt_mask = fr.instance_mask == ann.instance_index
            result = detector.detect(make_rgbd(fr.color, fr.depth, fr.camera))
            tracked = tracker.update(result, fr.camera)
            for kind, res in (("raw", result), ("tracked", tracked)):
                obj = _best(res.objects, gt_mask)
                track[kind].append(None if obj is None else np.stack([k.xyz for k in obj.keypoints]))
        for kind in track:
            xyz = [x for x in track[kind][warmup:] if x is not None]
            if len(xyz) < 2:
                continue
            xyz = np.stack(xyz)  # (F, K, 3)
            jitter[kind].extend(np.sqrt(((xyz - xyz.mean(0)) ** 2).sum(-1).mean(0)).tolist())
            error[kind].extend(np.linalg.norm(xyz - gt, axis=-1).ravel().tolist())

    def med(v):
        return float(np.median(v)) if v else None

    raw_j, tr_j = med(jitter["raw"]), med(jitter["tracked"])
    return new_report(
        "tracking", category=spec.name, sequences=sequences, frames=frames, warmup=warmup, alpha=alpha,
        backend=detector.backend.name,
        jitter_m_median_raw=raw_j, jitter_m_median_tracked=tr_j,
        jitter_ratio=(tr_j / raw_j) if raw_j and tr_j is not None else None,
        error_m_median_raw=med(error["raw"]), error_m_median_tracked=med(error["tracked"]),
    )
