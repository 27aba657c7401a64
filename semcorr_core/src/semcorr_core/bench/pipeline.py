"""``semcorr bench pipeline``: the detector on held-out synthetic RGB-D frames (issue #4 figures).

Frames: ``frames`` scenes of one category object each, instances from the bench's held-out seed
range (never trained on), 640x480, camera elevation 5-80 deg, 0-4 distractors, sensor noise on.
Each frame is run through :class:`~semcorr_core.pipeline.Detector` (its own segmenter unless
``gt_mask``), the detection whose mask overlaps the ground-truth object most is matched to it
(IoU >= 0.3, else the object counts as missed: every keypoint error is ``inf``). A frame the
detector refuses with a typed error (e.g. no support plane in view) counts as missed too and is
listed under ``refusals``.

Figures: 3D keypoint error (median, PCK-3D @ 1 / 2 cm) for visible and occluded keypoints
(ground-truth visibility); 2D PCK @ 0.05 / 0.1 of the ground-truth box (visible keypoints,
per-image mean); rotation error modulo the symmetry the view shows (a mug with its handle out of
sight is rotation-symmetric, :meth:`CategorySpec.view_symmetry`; ``_strict``: modulo the category
symmetry only), translation and scale error;
left/right flip rate (categories with keypoint swaps: a swap fits better; the mug: the handle on
the wrong side, :func:`~semcorr_core.metrics.heading_flipped`, counted in views that show the
handle); per-stage latency medians; detection rate; and the 3D keypoint figures by the camera's
range to the object (``by_range``, :data:`RANGE_BINS_M`: the scene framing puts a lone chair
2-5 m away, partly beyond the simulated sensor's 4 m, where its depth steps reach 6 cm), and the
3D error by how each detected keypoint was found (``by_source``: measured / mirrored / fit, what
the keypoint scores weigh).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from semcorr_core.alignment.energy import EnergyConfig
from semcorr_core.bench.embed3d import TEST_SEED_OFFSET
from semcorr_core.bench.report import new_report
from semcorr_core.data.categories import get_category
from semcorr_core.data.point_clouds import parts_seen
from semcorr_core.data.render import DepthNoiseConfig, RaycastRenderer, SceneConfig, sample_scene
from semcorr_core.data.rgbd import make_rgbd
from semcorr_core.data.shapes import generate_shapes
from semcorr_core.errors import InputError, InvalidDepthError, SemcorrError
from semcorr_core.models.dense2d_bundle import default_dense2d_path, load_dense2d_bundle
from semcorr_core.metrics import heading_flipped, keypoint3d_errors, left_right_flip, pose_error
from semcorr_core.pipeline import Detector, DetectorConfig

__all__ = ["ABLATIONS", "bench_frames", "mask_iou", "match_object", "ObjectEstimate", "PipelineScores", "RANGE_BINS_M", "estimate_of", "run_pipeline_bench"]


class ObjectEstimate(NamedTuple):
    """What the scores read of one detected object, from a :class:`DetectedObject` or from a
    ``semcorr_msgs/SemanticObject`` received from the node: keypoints ``xyz`` (K, 3) metres and
    ``uv`` (K, 2) pixels in the detector's keypoint order, pose ``R`` (3, 3), ``t`` (3,), ``s``;
    ``sources`` (K,) how each keypoint was found (:data:`~semcorr_core.pipeline.KEYPOINT_SOURCES`;
    None where the estimate does not say, e.g. a message from the node); ``sigmas`` (K,) their
    reported uncertainty (per-axis sd, metres; NaN where none; None where not said)."""

    xyz: np.ndarray
    uv: np.ndarray
    R: np.ndarray
    t: np.ndarray
    s: float
    sources: tuple[str, ...] | None = None
    sigmas: np.ndarray | None = None


def estimate_of(obj) -> ObjectEstimate:
    """:class:`ObjectEstimate` of a :class:`~semcorr_core.pipeline.DetectedObject`."""
    return ObjectEstimate(np.stack([k.xyz for k in obj.keypoints]), np.array([[k.u, k.v] for k in obj.keypoints]),
                          np.asarray(obj.pose.R), np.asarray(obj.pose.t), float(obj.pose.s),
                          tuple(k.source for k in obj.keypoints),
                          np.array([np.nan if k.sigma is None else k.sigma for k in obj.keypoints]))


SIGMA_90 = 2.5003
"""A 3D isotropic Gaussian error lies within this many per-axis sds 90 % of the time (chi, 3 dof)."""

RANGE_BINS_M = (0.0, 1.0, 2.0, 3.0, 4.0, float("inf"))
"""Edges of the bins of the camera's range to the object's origin (metres) the figures are also given by."""

MATCH_IOU = 0.3
"""An output object answers for a ground-truth object when their masks overlap this much."""


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (0 when both are empty)."""
    return int((a & b).sum()) / max(int((a | b).sum()), 1)


def match_object(objects, gt_mask: np.ndarray):
    """The object of ``objects`` whose mask overlaps ``gt_mask`` most, with IoU >= :data:`MATCH_IOU`; else None."""
    best, best_iou = None, MATCH_IOU
    for obj in objects:
        iou = mask_iou(obj.mask, gt_mask)
        if iou >= best_iou:
            best, best_iou = obj, iou
    return best


ABLATIONS = {
    "prior_only": {"observe": False},
    "no_refinement": {"observe": False, "refine_body_axis": False, "resolve_part_side": False, "deform_radius": 0.0,
                      "floor_contacts": False, "corners": False, "mirror_completion": False, "shape_prior": False},
    "descriptors_3d": {"descriptors": "3d"},
    "descriptors_2d": {"descriptors": "2d"},
    "fused": {"descriptors": "fused"},
    "energy": {"refine_energy": True},
    "energy_soft_iou": {"refine_energy": True, "energy": EnergyConfig(soft_iou_iterations=10)},
    "no_segment_join": {"join_explained": float("inf"), "join_inside": float("inf")},
    "no_join_inside": {"join_inside": float("inf")},
    "no_part_side": {"resolve_part_side": False},
    "no_deformation": {"deform_radius": 0.0},
    "no_floor_contacts": {"floor_contacts": False},
    "no_corners": {"corners": False},
    "no_corner_face_patch": {"corner_face_patch": 0.0},
    "no_mirror": {"mirror_completion": False},
    "no_shape_prior": {"shape_prior": False},
    "no_corner_retry": {"corner_retry": False},
    "corner_measured_normals": {"corner_plane_normals": "measured"},
    "corner_declared_normals": {"corner_plane_normals": "declared"},
    "no_corner_edge_outset": {"corner_edge_outset_px": 0.0},
    "corner_outer_top_layer": {"corner_top_layer_fraction": 0.5},
    "no_corner_top_seed": {"corner_top_seed": False},
    "corner_support_15mm": {"corner_support": 0.015},
    "corner_declared_step_2px": {"corner_declared_step_px": 2},
    "prior_gaussian": {"prior_robust": False},
}
"""Detector variants the bench can run on the same frames: ``prior_only`` places every keypoint
by the category-level fit (no descriptor match on the observed surface); ``no_refinement`` is the
robust fit alone (RANSAC + Umeyama, or the axis fit of a round category: neither the mug's body
axis and handle side nor the per-keypoint deformation, leg contacts and box corners nor keypoints
found on the surface);
``descriptors_3d`` / ``descriptors_2d`` / ``fused`` match points to the prototype with the 3D
embeddings only, the 2D dense descriptors only, or both with square-root weights
(:class:`~semcorr_core.pipeline.DetectorConfig` ``descriptors``);
``energy`` adds the multi-start alignment-energy refinement
(:mod:`semcorr_core.alignment.energy`) after the robust fit, ``energy_soft_iou`` that and its
soft-IoU silhouette stage; ``no_segment_join`` keeps every
segment apart (``DetectorConfig.join_explained``, ``join_inside``); ``no_join_inside`` joins only the
pieces on an object's fitted surface, not those inside its bounding box
(``DetectorConfig.join_inside``); ``no_part_side`` leaves the mug's handle side
to the descriptors (``DetectorConfig.resolve_part_side``); ``no_deformation`` keeps the keypoints
where the similarity fit puts them before they are looked for on the surface
(``DetectorConfig.deform_radius``); ``no_floor_contacts`` leaves a chair's leg contacts where the
fit puts them (``DetectorConfig.floor_contacts``); ``no_corners`` does not look for a chair's seat
and backrest corners on their faces (``DetectorConfig.corners``); ``no_mirror`` does not complete
a chair's leg contacts and corners through the mirror plane of its found leg pairs
(``DetectorConfig.mirror_completion``); ``no_shape_prior`` leaves the keypoints where they were
found or fitted, without the category's keypoint shape prior (``DetectorConfig.shape_prior``);
``no_corner_retry`` does not look again for the box corners the prior moved (``DetectorConfig.corner_retry``);
``corner_measured_normals`` / ``corner_declared_normals`` put every corner's seen faces along
their points' own normals / the declared ones, not as the category says
(``DetectorConfig.corner_plane_normals``); ``no_corner_edge_outset`` ends a corner's unseen faces at
the outermost reading (``DetectorConfig.corner_edge_outset_px``); ``corner_outer_top_layer`` puts a
seat's top face in its outermost layer holding half the densest one's points, as every other face
(``DetectorConfig.corner_top_layer_fraction``); ``no_corner_top_seed`` looks for a backrest's top
corners where the fit puts them, not first at the observed top (``DetectorConfig.corner_top_seed``);
``corner_support_15mm`` accepts a corner's face only with a point within 1.5 cm of the corner, not 2 cm
(``DetectorConfig.corner_support``); ``corner_declared_step_2px`` sorts a seat corner's points into
its faces by 2-pixel-stencil normals, not 3 (``DetectorConfig.corner_declared_step_px``);
``no_corner_face_patch`` finds a backrest top's front face on its points' normals near the corner,
without the plane fitted over a wider patch first (``DetectorConfig.corner_face_patch``);
``prior_gaussian`` conditions on the found keypoints as plain Gaussian measurements (``DetectorConfig.prior_robust``)."""


def _group(s) -> dict | None:
    return None if s is None or s.count == 0 else {"n": s.count, "median_m": s.median,
                                                   "pck3d_1cm": s.pck[0.01], "pck3d_2cm": s.pck[0.02]}


class PipelineScores:
    """Per-detector accumulator of the figures over the bench frames (also :mod:`semcorr_core.bags`)."""

    def __init__(self, frames: int, K: int) -> None:
        self.pred = np.full((frames, K, 3), np.nan)
        self.sources = np.full((frames, K), "", dtype=object)  # "" where missed or not said
        self.sigmas = np.full((frames, K), np.nan)  # NaN where missed or not said
        self.pck2d = {0.05: [], 0.1: []}
        self.rot, self.rot_strict, self.trans, self.scale, self.flips = [], [], [], [], []
        self.timings: dict[str, list[float]] = {}
        self.detected = 0
        self.errors: list[str] = []

    def add_error(self, f: int, err: Exception) -> None:
        """The detector refused frame ``f`` (a typed error): the object counts as missed."""
        self.pred[f] = np.inf
        self.errors.append(f"frame {f}: {err}")

    def add_timings(self, timings_ms: dict) -> None:
        for k, v in timings_ms.items():
            self.timings.setdefault(k, []).append(v)

    def add(self, f, est: ObjectEstimate | None, ann, order, gt_f, vis_f, view_symmetry, spec, names) -> None:
        """Frame ``f``'s matched estimate (None: missed) against annotation ``ann`` (an
        :class:`~semcorr_core.data.render.ObjectAnnotation` or anything with its ``pose``,
        ``keypoints_uv`` and ``bbox_xywh``); ``order`` maps the detector's keypoints to ``ann``'s."""
        if est is None:
            self.pred[f] = np.inf
            return
        self.detected += 1
        self.pred[f] = est.xyz
        if est.sources is not None:
            self.sources[f] = est.sources
        if est.sigmas is not None:
            self.sigmas[f] = est.sigmas
        uv = est.uv
        x, y, w, h = ann.bbox_xywh
        size = max(w, h)
        err2d = np.linalg.norm(uv - ann.keypoints_uv[order], axis=1)
        if vis_f.any() and size > 0:
            for a in self.pck2d:
                self.pck2d[a].append(float(np.mean(err2d[vis_f] <= a * size)))
        pose_args = (est.R, est.t, est.s, ann.pose[:3, :3], ann.pose[:3, 3], 1.0)
        pe = pose_error(*pose_args, view_symmetry)
        self.rot.append(float(pe.rotation_deg))
        self.rot_strict.append(float(pose_error(*pose_args, spec.symmetry).rotation_deg))
        self.trans.append(float(pe.translation_m))
        self.scale.append(float(pe.scale_rel))
        if spec.symmetry.keypoint_swaps:
            fl = left_right_flip({n: self.pred[f, k] for k, n in enumerate(names)},
                                 {n: gt_f[k] for k, n in enumerate(names)}, spec.symmetry)
            self.flips.append(bool(fl.flipped))
        elif spec.symmetric_unless_seen and view_symmetry.kind != "rotation_z":
            # the mug: its handle (canonical +x) on the wrong side, in views that show it
            self.flips.append(heading_flipped(est.R, ann.pose[:3, :3]))

    def by_range(self, gt, vis, ranges, edges=RANGE_BINS_M) -> list[dict]:
        """The 3D keypoint figures of the frames whose object lies at a range (metres, ``ranges``
        per frame) within each bin of ``edges``; bins without frames are left out."""
        out = []
        for lo, hi in zip(edges[:-1], edges[1:]):
            sel = (ranges >= lo) & (ranges < hi)
            if not sel.any():
                continue
            res = keypoint3d_errors(self.pred[sel], gt[sel], visible=vis[sel], thresholds=(0.01, 0.02))
            out.append({"range_m": [lo, hi if np.isfinite(hi) else None], "frames": int(sel.sum()),
                        "detected": int(np.isfinite(self.pred[sel]).all(axis=(1, 2)).sum()),
                        "visible": _group(res.visible), "occluded": _group(res.occluded)})
        return out

    def by_source(self, gt) -> dict:
        """The 3D error of the detected keypoints by how each was found (``sources``): the
        keypoint score's calibration. Sources never reported are left out."""
        return {src: _group(keypoint3d_errors(self.pred, gt, valid=self.sources == src, thresholds=(0.01, 0.02)).all)
                for src in sorted(set(self.sources.ravel()) - {""})}

    def uncertainty(self, gt) -> dict | None:
        """How the reported uncertainties hold (keypoints with a sigma): the median of error /
        sigma (a calibrated 3D Gaussian: 1.54) and the fraction within :data:`SIGMA_90` sigmas
        (0.90); None when no keypoint reported one."""
        has = np.isfinite(self.sigmas) & np.isfinite(self.pred).all(axis=2)
        if not has.any():
            return None
        ratio = np.linalg.norm(self.pred - gt, axis=2)[has] / self.sigmas[has]
        return {"n": int(has.sum()), "median_sigma_m": float(np.median(self.sigmas[has])),
                "median_error_over_sigma": float(np.median(ratio)),
                "within_2p5_sigma": float(np.mean(ratio <= SIGMA_90))}

    def figures(self, gt, vis, names) -> dict:
        res = keypoint3d_errors(self.pred, gt, visible=vis, thresholds=(0.01, 0.02), keypoint_names=names)

        def med(v):
            return float(np.median(v)) if v else None

        return dict(
            detection_rate=self.detected / len(gt),
            frames_refused=len(self.errors), refusals=self.errors[:10],
            visible=_group(res.visible), occluded=_group(res.occluded), all=_group(res.all),
            per_keypoint={n: _group(s) for n, s in res.per_keypoint_type.items()},
            pck2d_0p05=float(np.mean(self.pck2d[0.05])) if self.pck2d[0.05] else None,
            pck2d_0p1=float(np.mean(self.pck2d[0.1])) if self.pck2d[0.1] else None,
            rotation_error_deg_median=med(self.rot), rotation_error_deg_median_strict=med(self.rot_strict),
            translation_error_m_median=med(self.trans), scale_error_median=med(self.scale),
            flip_rate=(float(np.mean(self.flips)) if self.flips else None),
            latency_ms_median={k: float(np.median(v)) for k, v in self.timings.items()},
        )


def _distractor_range(distractors: tuple[int, int]) -> tuple[int, int]:
    lo, hi = (int(x) for x in distractors)
    if not 0 <= lo <= hi:
        raise InputError(f"distractors must be 0 <= MIN <= MAX, got {distractors}")
    return lo, hi


def bench_frames(shapes: list, frames: int, seed: int, *, noise: bool = True, distractors: tuple[int, int] = (0, 4),
                 only: tuple[int, ...] | None = None):
    """The bench's frames: for ``f`` in ``range(frames)`` (those in ``only`` where given),
    ``(f, shape, rendered frame)`` with ``shapes[f % len(shapes)]`` as the scene's one category
    object (its annotation is ``objects[0]``) among ``distractors`` (MIN, MAX) others; 640x480,
    camera elevation 5-80 deg, sensor noise when ``noise``; frame ``f`` depends on ``(seed, f)`` only."""
    lo, hi = _distractor_range(distractors)
    cfg = SceneConfig(width=640, height=480, objects_per_scene=(1, 1), distractors_per_scene=(lo, hi),
                      elevation_deg=(5.0, 80.0))
    renderer = RaycastRenderer(cfg.camera())
    for f in range(frames):
        if only is not None and f not in only:
            continue
        rng = np.random.default_rng([seed, 0xBE, f])
        shape = shapes[f % len(shapes)]
        scene = sample_scene([], rng, cfg, primary=shape)
        yield f, shape, renderer.render(scene, rng, DepthNoiseConfig(enabled=noise))


def run_pipeline_bench(category: str, frames: int = 300, seed: int = 0, *, bundle_path: str | None = None,
                       n_instances: int = 20, gt_mask: bool = False, noise: bool = True,
                       ablations: tuple[str, ...] = (), backend: str = "auto",
                       distractors: tuple[int, int] = (0, 4), precision: str = "fp32",
                       dense2d_path: str | None = None) -> dict:
    """Run the detector on ``frames`` rendered frames and report the figures (module docstring);
    each of ``ablations`` (names in :data:`ABLATIONS`) runs on the same frames and reports its
    figures under ``ablations``. ``distractors``: per frame, drawn in this range (``(0, 0)``: the
    category object alone, the issue's one-object latency)."""
    if frames < 1:
        raise InputError(f"frames must be >= 1, got {frames}")
    unknown = sorted(set(ablations) - set(ABLATIONS))
    if unknown:
        raise InputError(f"unknown ablation(s) {unknown}; known: {sorted(ABLATIONS)}")
    spec = get_category(category)
    config = DetectorConfig(seed=seed)
    configs = {name: replace(config, **ABLATIONS[name]) for name in ablations}
    dense2d = None
    path2d = dense2d_path if dense2d_path is not None else default_dense2d_path(spec.name)
    explicit = any(c.descriptors in ("2d", "fused") for c in configs.values())
    if explicit or dense2d_path is not None or Path(path2d).is_file():
        dense2d = load_dense2d_bundle(path2d, category=spec.name)
    detector = Detector.for_category(spec.name, bundle_path, backend=backend, config=config, precision=precision,
                                     dense2d=dense2d)
    variants = {"main": detector}
    for name in ablations:
        variants[name] = Detector(detector.bundle, device=detector.device, backend=detector.backend.name,
                                  config=configs[name], precision=precision, dense2d=dense2d,
                                  shape_prior=detector.shape_prior)
    shapes = generate_shapes(spec.name, n_instances, TEST_SEED_OFFSET + 1000 + seed)
    lo, hi = _distractor_range(distractors)
    names = detector.keypoint_names
    K = len(names)
    gt = np.zeros((frames, K, 3))
    vis = np.zeros((frames, K), bool)
    ranges = np.zeros(frames)
    scores = {name: PipelineScores(frames, K) for name in variants}
    for f, shape, fr in bench_frames(shapes, frames, seed, noise=noise, distractors=(lo, hi)):
        ann = fr.objects[0]
        order = [ann.keypoint_names.index(n) for n in names]
        gt[f], vis[f] = ann.keypoints_cam[order], ann.keypoints_visible[order]
        ranges[f] = float(np.linalg.norm(ann.pose[:3, 3]))
        gt_obj = fr.instance_mask == ann.instance_index
        mask = (fr.instance_mask * (fr.instance_mask < 1000)).astype(np.int32) if gt_mask else None
        view_symmetry = spec.view_symmetry(parts_seen(fr.face_id[gt_obj], shape))
        try:
            rgbd = make_rgbd(fr.color, fr.depth, fr.camera, mask=mask)
        except InvalidDepthError as err:  # a lone chair's scene framed beyond the sensor's range: no depth
            for name in variants:
                scores[name].add_error(f, err)
            continue
        for name, det in variants.items():
            try:
                result = det.detect(rgbd)
            except SemcorrError as err:  # e.g. no support plane in view: reported, counted as a miss
                scores[name].add_error(f, err)
                continue
            scores[name].add_timings(result.timings_ms)
            obj = match_object(result.objects, gt_obj)
            scores[name].add(f, None if obj is None else estimate_of(obj), ann, order, gt[f], vis[f], view_symmetry,
                             spec, names)

    return new_report(
        "pipeline", category=spec.name, frames=frames, seed=seed, noise=noise,
        masks="ground truth" if gt_mask else "segmenter", distractors=[lo, hi],
        backend=detector.backend.name, backend_reason=detector.backend.reason, precision=precision,
        descriptors=detector.descriptors,
        dense2d=None if dense2d is None else {"config_hash": dense2d.metadata.get("config_hash"),
                                              "validation": dense2d.metadata.get("validation")},
        **scores["main"].figures(gt, vis, names),
        by_range=scores["main"].by_range(gt, vis, ranges),
        by_source=scores["main"].by_source(gt),
        uncertainty=scores["main"].uncertainty(gt),
        ablations={name: scores[name].figures(gt, vis, names) for name in ablations},
        targets={"visible": "median <= 0.01 m, pck3d_2cm >= 0.90", "occluded": "pck3d_2cm >= 0.75",
                 "flip_rate": "<= 0.02 (chair, mug)", "latency total": "<= 150 ms median (2-core CPU)"},
    )
