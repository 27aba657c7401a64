"""One RGB-D frame in, category objects with metric semantic keypoints out (MISSION §4).

Stages (each timed in :attr:`Detections.timings_ms`):

1. ``segment`` - support plane + instances (:func:`semcorr_core.segmentation.segment_objects`), or
   the supplied instance mask (the plane is still fitted on the pixels outside it);
2. ``embed`` - per object: its points in the gravity frame of the plane
   (:func:`~semcorr_core.geometry.gravity_frame`), ``n_points`` of them spread evenly, through the
   bundle's embedding network (input normalised exactly as in training); ``embed2d`` (when
   ``DetectorConfig.descriptors`` asks for them): the object's square RGB-D crop through the 2D
   dense descriptor network, its descriptors sampled at those points' pixels;
3. ``align`` - nearest dense-prototype descriptor per point (3D, 2D or the two fused) -> canonical
   coordinates -> robust canonical-to-gravity transform (:func:`semcorr_core.alignment.align_to_prototype`);
4. ``keypoints`` - prototype keypoints through the pose (the category-level prior; a chair's
   moved by the local residuals of its dense matches, :mod:`semcorr_core.keypoints.deformation`),
   then found on the observed surface by their learned descriptors where the two agree
   (:func:`semcorr_core.keypoints.observe_keypoints`); a chair's leg contacts on the leg stubs
   (:mod:`semcorr_core.keypoints.floor_contacts`) and its seat and backrest corners on the faces
   that meet there (:mod:`semcorr_core.keypoints.corners`), those not found completed through the
   mirror plane of a leg pair found on both sides (:mod:`semcorr_core.keypoints.mirror`), then
   all of them conditioned on the found ones through the category's keypoint shape prior where one
   ships (:mod:`semcorr_core.keypoints.shape_prior`; each gets an uncertainty); into
   the camera, visibility by z-test, projection, surface snap
   (:func:`semcorr_core.keypoints.place_keypoints`), and the dense canonical map of the object's pixels.

A smaller segment that lies on an object's fitted surface, or a sizeable one inside its fitted
bounding box, joins it, and the object is fitted again on both (``DetectorConfig.join_explained``,
``join_inside``; segments are taken largest first).

Scores: an object's score is its alignment inlier fraction; a keypoint's score is the object score
times :data:`SOURCE_WEIGHTS` of how its position was obtained (``DetectedKeypoint.source``):
measured on the observed surface 1, the reflection of a measured partner 0.75, inferred through
the shape prior 0.6, the category-level fit alone 0.5. That order is the order of their errors on
every category (80 chair, 60 mug and 40 bottle tuning frames, median cm, measured / mirrored /
prior / fit: chair 1.0-1.3 / 1.8 / 2.7 / 4.6-5.7, mug 0.55 / - / - / 0.6-1.4, bottle 0.2-0.3 / - /
- / 0.24), where visibility was not: the chair's measured leg contacts are hidden (1.0 cm), its
fit-only visible corners are seen (5.7 cm).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from scipy.spatial import cKDTree

from semcorr_core.alignment import align_to_prototype, prototype_correspondences
from semcorr_core.alignment.energy import EnergyConfig, refine_upright_similarity
from semcorr_core.alignment.body_axis import (body_radius_profile, face_part_side, observed_part_side,
                                              refine_body_axis)
from semcorr_core.data.categories import get_category
from semcorr_core.data.rgbd import RGBDFrame
from semcorr_core.data.object_crop import crop_box, crop_inputs, sample_crop_map
from semcorr_core.errors import InputError, ModelFileError
from semcorr_core.geometry import gravity_frame
from semcorr_core.geometry.normals import normals_at_pixels
from semcorr_core.geometry.sampling import voxel_subsample
from semcorr_core.geometry.similarity import SimilarityTransform
from semcorr_core.keypoints import observe_keypoints, place_keypoints
from semcorr_core.keypoints.corners import (OUTER_LAYER_FRACTION, PLANE_NORMALS, BoxCorners, find_box_corners,
                                            fit_face_plane, seed_at_top_edge)
from semcorr_core.keypoints.deformation import deform_keypoints
from semcorr_core.keypoints.floor_contacts import find_floor_contacts
from semcorr_core.keypoints.mirror import complete_by_mirror, mirror_plane_from_pairs
from semcorr_core.keypoints.shape_prior import KeypointShapePrior, default_shape_prior_path, load_shape_prior
from semcorr_core.models.backends import make_backend, make_dense2d_backend
from semcorr_core.models.bundle import ModelBundle, default_bundle_path, load_bundle
from semcorr_core.models.dense2d_bundle import (Dense2DBundle, default_dense2d_path, load_dense2d_bundle,
                                                prototype_fingerprint)
from semcorr_core.models.fusion import fuse_descriptors
from semcorr_core.segmentation import DepthNoiseModel, SupportPlane, fit_support_plane, segment_objects
from semcorr_core.training.embed3d import normalise_clouds

log = logging.getLogger(__name__)

__all__ = ["DESCRIPTOR_MODES", "KEYPOINT_SOURCES", "SOURCE_WEIGHTS", "DetectorConfig", "DetectedKeypoint",
           "DetectedObject", "Detections", "Detector", "FrameSegments", "segment_frame"]


DESCRIPTOR_MODES = ("auto", "3d", "2d", "fused")
KEYPOINT_SOURCES = ("measured", "mirrored", "prior", "fit")
SOURCE_WEIGHTS = {"measured": 1.0, "mirrored": 0.75, "prior": 0.6, "fit": 0.5}
"""A keypoint's score is its object's score times this weight of its source (module docstring)."""
NORMAL_STEP_PX = 2  # the normals' stencil (geometry.normals.normals_at_pixels)


@dataclass(frozen=True)
class DetectorConfig:
    """n_points: points per object fed to the network. ransac_threshold: inlier residual as a
    fraction of the object's observed bounding-box diagonal. scale_range: instance scale relative to
    the prototype. min_points: smaller objects are skipped. visibility_tol, snap_distance: metres
    (:func:`~semcorr_core.keypoints.place_keypoints`). min_explained: an object is reported only
    when at least this fraction of its points lie within ``explain_tolerance`` x the fitted
    prototype's bounding-box diagonal of the fitted prototype's surface (radii as the
    rotation-symmetric fit found them): a wall or a shelf that the segmenter cut out gets a
    mug-sized fit that explains a few per cent of it (0.4 kept 79 of 80 true objects of four
    categories, measured on 20 frames each). observe_gate / observe_window
    (metres) grow to ``observe_gate_fraction`` / ``observe_window_fraction`` of the fitted
    object's diagonal on large objects (a chair's seat corner may sit 10 cm from the category
    prior; chair visible median 4.4 -> 2.9 cm on 20 tuning frames). observe_visible_only: refine
    only keypoints the fit shows, except axis keypoints inside the body (bottle neck and shoulder,
    which the z-test always hides; their ring of wall is what the descriptor finds: bottle
    occluded median 1.5 -> 0.5 cm on 30 tuning frames). min_inlier_fraction: a fit that
    fewer of the correspondences agree with is no detection; off by default: a plain can's matched
    heights are vague enough that true cans score 0.03 at times. refine_body_axis: a category with
    a round body and a symmetry-breaking part (the mug) takes its axis from the points matched to
    the body, and its radius proportion for the keypoints off the axis
    (:func:`~semcorr_core.alignment.body_axis.refine_body_axis`; mug visible PCK@2cm 0.893 -> 0.925
    on 80 tuning frames). resolve_part_side: then the part's side from the geometry: where the
    observed points stick out of the fitted body (:func:`~semcorr_core.alignment.body_axis.observed_part_side`),
    the heading turns to face them when the fit had the part more than 90 degrees away (a thin
    handle seen edge-on or from above gets few, ambiguous descriptor matches). Mug flips on 300
    tuning frames (seed 3) 9 -> 3 of 255 views showing the handle, visible PCK@2cm 0.932 -> 0.943,
    occluded 0.844 -> 0.855; seed 7 (150 frames) flips 2 -> 1 of 126. deform_radius,
    deform_min_points: a category without rotation symmetry and without a round body (the chair)
    moves each keypoint by the median residual of the matches within ``deform_radius`` x the
    prototype's diagonal of it in the canonical frame, where at least ``deform_min_points`` of the
    ``n_points`` are (:func:`~semcorr_core.keypoints.deformation.deform_keypoints`; the instance's
    own proportions; 0: off). Chair, 80 tuning frames (seed 7): off / radius 0.03 / 0.06 / 0.1 /
    0.15 with 8 points: visible PCK@2cm 0.260 / 0.258 / 0.293 / 0.339 / -, occluded 0.186 / 0.172 /
    0.131 / 0.131 / -; radius 0.1 with 20 / 30 / 60 points: 0.339 / 0.325 / 0.274, occluded 0.189 /
    0.191 / 0.186 (visible median 3.07 -> 2.67 cm with 20); radius 0.15, 30 points: 0.334, 0.189.
    Only keypoints the fit shows: no gain (the visible ones the descriptors find anyway).
    floor_contacts, floor_contact_gate: keypoints on the support plane off the axis (a chair's leg
    contacts, hidden under their legs) go to the nearest leg stub the points show just above the
    plane, within the gate (metres; :func:`~semcorr_core.keypoints.floor_contacts.find_floor_contacts`;
    chair, 80 tuning frames: occluded PCK@2cm 0.189 -> 0.385). The descriptors then leave such
    keypoints alone: the fit's contact, on the floor beside the leg, passes the z-test, and its
    descriptor match pulled a found contact 2-7 cm onto the leg's side (occluded PCK@2cm 0.385 ->
    0.667 on the same frames once it no longer could).
    corners, corner_radius_fraction, corner_gate_fraction: keypoints the category declares as the
    corner of a box-like part (``CategorySpec.corner_faces``: a chair's seat and backrest corners)
    are found on the faces that meet there, among the observed points within
    ``corner_radius_fraction`` x the fitted object's diagonal of the prediction, moving at most
    ``corner_gate_fraction`` x that diagonal (:func:`~semcorr_core.keypoints.corners.find_box_corners`).
    Chair, 80 tuning frames (seed 7): visible PCK@2cm 0.339 -> 0.528, median 2.67 -> 1.92 cm;
    radius 0.05 / 0.06 / 0.08: 0.495 / 0.482 / 0.456 (an earlier face-plane rule, the same for all
    three). A found corner is not snapped onto the nearest observed point (0.528 -> 0.541).
    corner_plane_normals: a seen face's plane lies along its ``declared`` normal (in the fitted
    pose) or its points' ``measured`` one (``find_box_corners(plane_normals=...)``); ``category``:
    measured for the category's ``corner_faces_vary`` (a chair's backrest, tilted 0-20 degrees),
    declared for the rest. Chair tuning frames, visible / occluded PCK@2cm, measured -> category
    (the shape prior calibrated for each): seed 7 (80) 0.684 / 0.822 -> 0.691 / 0.828, seed 3
    (120) 0.642 / 0.690 -> 0.650 / 0.709; declared everywhere 0.673 / 0.833 and 0.632 / 0.708
    (the backrest tops lose 0.04). The bench's figures in BENCHMARKS.md.
    corner_edge_outset_px: a corner's unseen face (the seat's front edge seen from above) ends this
    many pixels' footprint at the corner's depth beyond the outermost reading
    (``find_box_corners(edge_outset=...)``): the found corners' bounds lay 0.55-0.75 cm inside the
    true edge at every range (pixel centres inside the edge, readings lost at depth edges).
    Chair tuning frames, visible PCK@2cm (the shape prior calibrated for each): 0 px 0.691 / 0.650
    (seeds 7 / 3), 1 px 0.710 / 0.681, 1.5 px 0.710 / 0.701, 2.5 px 0.700 / 0.697; visible median
    1.45 / 1.50 -> 1.25 / 1.34 cm at 1.5 px.
    corner_top_layer_fraction: the up-facing face of a corner whose faces do not vary (a seat's
    top) takes the outermost window holding this fraction of the densest window's points
    (``find_box_corners(layer_fraction=...)``; 1: the densest); every other face half of it, to
    skip an inset face behind (a leg behind a seat's side, the slats under a backrest's top rail).
    Nothing under a seat's top faces up, so at half it only sat 0.3-0.5 cm above the truth (the
    noise's outward 0.67 sigma). Chair tuning frames, visible / occluded PCK@2cm (the shape prior
    calibrated for each), 0.5 -> 1: seed 7 (80) 0.710 / 0.833 -> 0.730 / 0.811, seed 3 (120) 0.701
    / 0.715 -> 0.724 / 0.731; visible median 1.25 / 1.34 -> 1.16 / 1.15 cm.
    corner_top_seed, corner_top_reach_fraction: a corner at an end of the object's top edge
    (``CategorySpec.top_edge_ends``: a backrest's top corners) is first moved to the top of the
    points within ``corner_top_reach_fraction`` x the fitted object's diagonal of its prediction
    and out along the edge to their end (:func:`~semcorr_core.keypoints.corners.seed_at_top_edge`),
    then sought on its faces from there: a backrest's height and width vary, the fit's prediction
    often lay beyond the search radius, and the shape prior then inferred the corner (21 / 38
    visible backrest tops of the two tuning seeds, median 6 cm off). corner_support: a corner counts
    as found when a seen face's point lies within this many metres of it
    (``find_box_corners(support=...)``); once seeded, most backrest tops still missed had their
    nearest face point 1.6-2.3 cm away. Chair tuning frames, visible / occluded PCK@2cm, seed 7
    (80) and seed 3 (120), the shipped prior not recalibrated: before 0.751 / 0.836, 0.732 / 0.740;
    top seed 0.760 / 0.839, 0.751 / 0.744; support 2 cm 0.772 / 0.842, 0.751 / 0.747; both 0.793 /
    0.847, 0.765 / 0.751 (support 2.5 / 3 cm with the seed: 0.788 / 0.836, 0.762 / 0.751 and 0.786
    / 0.850, 0.765 / 0.751; a larger search radius instead, 0.08 of the diagonal: 0.710 / 0.822,
    0.717 / 0.747).
    corner_face_patch, corner_face_sigmas: the main face of a measured-normal corner (its first
    declared face: a backrest's front) is first fitted as a plane over the object's points within
    ``corner_face_patch`` x the corner search radius, each an inlier within ``corner_face_sigmas``
    standard deviations of its depth reading (at least 1 cm;
    :func:`~semcorr_core.keypoints.corners.fit_face_plane`, the default sensor's noise model), and
    that plane is the face when the camera sees its front (0: off, ablation
    ``no_corner_face_patch``). Chair tuning frames (120 each, seeds 7 / 3), visible median cm /
    visible / occluded PCK@2cm, off -> on: 1.01 / 0.792 / 0.817 -> 0.99 / 0.803 / 0.817 and
    0.95 / 0.794 / 0.783 -> 0.93 / 0.813 / 0.785; patch 1.5 / 1.8 / 2.5 / 3.5 x: 0.805 / 0.809 /
    0.803 / 0.802 and 0.817 / 0.817 / 0.814 / 0.813 visible; 2 / 3 sigmas at 2.5 x: 0.803 / 0.805
    and 0.816 / 0.814.
    corner_declared_step_px: the stencil (pixels either side) of the normals that sort the points
    near a declared-normal corner (a seat's) into its faces; the measured-normal ones (a backrest's)
    keep 2 px. At 3-4 m the depth noise (2-3 cm) is about a 2 px stencil's baseline. Chair tuning
    frames (120 each, seeds 7 / 3; the shipped prior), visible median cm / visible / occluded
    PCK@2cm, 2 -> 3 px: 1.04 / 0.795 / 0.828 -> 1.02 / 0.795 / 0.844 and 1.06 / 0.777 / 0.764 ->
    1.00 / 0.786 / 0.787; grown with the depth noise to 4 px at 3.5 m: 1.06 / 0.762 / 0.828 and 0.99 /
    0.777 / 0.780; every corner's stencil grown with it (2-3 px): 1.05 / 0.776 / 0.853 and 0.99 / 0.766 /
    0.780 (the backrest tops lost at 3-4 m).
    mirror_completion: a mirror-symmetric category's left/right pairs (``Symmetry.keypoint_swaps``)
    of leg contacts found on both sides give the object's mirror plane; a leg contact or box corner
    not found whose partner was takes the partner's reflection, and a corner pair found on both
    sides the mean of each with the other's reflection (reflections within the corner gate of the
    prediction; :mod:`semcorr_core.keypoints.mirror`). Chair tuning frames, visible / occluded
    PCK@2cm: seed 7 (80) 0.537 / 0.669 -> 0.551 / 0.713, seed 3 (120) 0.477 / 0.554 -> 0.517 / 0.628.
    shape_prior: with the category's keypoint shape prior at hand
    (:mod:`semcorr_core.keypoints.shape_prior`, ``Detector(shape_prior=...)``; the chair ships
    one) and a category the deformation applies to, every keypoint becomes its posterior mean
    given the measured and mirrored ones (in the fitted canonical frame, each with its calibrated
    noise): found ones fused with what the rest say of them, the fit-only ones inferred
    (source ``prior``). Chair tuning frames, noise calibrated on the other seed, visible /
    occluded PCK@2cm: seed 7 (80) 0.587 / 0.750 -> 0.667 / 0.833, seed 3 (120) 0.534 / 0.659 ->
    0.644 / 0.723 (offline on the detections; the bench's figures in BENCHMARKS.md).
    prior_robust: the found keypoints reweighted as Student-t errors
    (:meth:`~semcorr_core.keypoints.shape_prior.KeypointShapePrior.condition`; offline on the same
    detections: visible PCK@2cm +0.03, occluded +0.01). corner_retry: a box corner neither found
    nor mirrored is looked for on its faces again where the prior puts it, and the prior is
    conditioned again (visible PCK@2cm +0.018 / +0.011 on the two tuning seeds).
    descriptors: what the points are matched to the dense prototype with: ``3d`` the per-point
    embeddings, ``2d`` the 2D dense descriptors of the object's crop
    (:mod:`semcorr_core.models.dense2d`; keypoints are then found on the surface by the 2D keypoint
    descriptors too), ``fused`` both with square-root weights (:func:`~semcorr_core.models.fusion.fuse_descriptors`,
    ``fusion_weight_2d`` for the 2D part: 0.7, chosen on 60 mug tuning frames over 0.3 and 0.5 and
    no worse than 0.5 on any category's 300 test frames, BENCHMARKS.md), ``auto`` fused when a 2D model made for the bundle's
    prototype is at hand, else 3d (:attr:`Detector.descriptors` says which runs). refine_energy:
    after the robust fit of a category without rotation symmetry, the batched multi-start
    alignment-energy refinement (:mod:`semcorr_core.alignment.energy`, settings ``energy``; off by
    default: it costs more than the CPU latency budget leaves, BENCHMARKS.md). join_explained: a
    smaller segment of which at least this fraction lies on an object's fitted surface (within
    ``explain_tolerance`` x the prototype's diagonal) is a piece the segmenter cut off it (a bowl's
    inside seen over its front rim, apart in depth): the object is fitted again on both, and the
    piece is no object of its own (above 1: never join). On 100 bowl tuning frames (seed 7) the
    pieces of the true object had 0.98-1.00 of their points on its fit, every other segment at
    most 0.10; bowl visible PCK@2cm 0.898 -> 0.949, occluded 0.863 -> 0.912, mug unchanged.
    join_inside, join_inside_margin, join_inside_min_fraction, join_inside_explained: for a
    category without rotation symmetry, a smaller segment with at least
    ``join_inside_min_fraction`` of the object's pixels, of which at least ``join_inside`` lies
    inside the object's fitted bounding box (the prototype's, grown by ``join_inside_margin`` x its
    diagonal on every side) and at least ``join_inside_explained`` on its fitted surface, joins it
    too (above 1: never): the segmenter cuts a chair into halves where the depth between them is
    lost, and the fit of one half alone put only 0.37-0.75 of the other on its surface, 0.97-1.0
    inside its box. Chair tuning frames (120 each), visible / occluded PCK@2cm: seed 7 unchanged
    (0.795 / 0.828; its split frames' pieces lay outside or were under a tenth of the object),
    seed 3 0.765 / 0.751 -> 0.777 / 0.764 (three frames from PCK 0.1 / 0.3 / 0.6 to 0.9 / 0.7 /
    1.0, one 0.8 -> 0.7). Without the size floor a distractor ball beside a chair's armrest and two
    small true pieces at 3-3.9 m joined and lost (seed 7 visible 0.795 -> 0.795, occluded ->
    0.822); required to float above the support plane, none of the true pieces (halves standing on
    their legs) joined. A bowl's box holds its hollow, where distractors stood (120 bowl frames,
    seed 7: four frames lost, visible PCK@2cm 0.957 -> 0.949, their pieces 0.0-0.67 on the fitted
    surface): hence no rotation-symmetric category and the floor on the surface share.
    seed: sampling and RANSAC."""

    n_points: int = 1024
    ransac_threshold: float = 0.08
    ransac_iterations: int = 300
    scale_range: tuple[float, float] = (0.6, 1.6)
    min_points: int = 150
    visibility_tol: float = 0.01
    snap_distance: float = 0.01
    scale_from_top: bool = True
    observe: bool = True
    observe_gate: float = 0.04
    observe_window: float = 0.01
    observe_gate_fraction: float = 0.12
    observe_window_fraction: float = 0.025
    observe_min_similarity: float = 0.0
    observe_visible_only: bool = True
    explain_tolerance: float = 0.1
    min_explained: float = 0.4
    min_inlier_fraction: float = 0.0
    refine_body_axis: bool = True
    resolve_part_side: bool = True
    deform_radius: float = 0.1
    deform_min_points: int = 20
    floor_contacts: bool = True
    floor_contact_gate: float = 0.08
    descriptors: str = "auto"
    refine_energy: bool = False
    energy: EnergyConfig = EnergyConfig()
    fusion_weight_2d: float = 0.7
    join_explained: float = 0.9
    join_inside: float = 0.9
    join_inside_margin: float = 0.1
    join_inside_min_fraction: float = 0.1
    join_inside_explained: float = 0.3
    corners: bool = True
    corner_radius_fraction: float = 0.06
    corner_gate_fraction: float = 0.08
    corner_plane_normals: str = "category"
    corner_edge_outset_px: float = 1.5
    corner_top_layer_fraction: float = 1.0
    corner_support: float = 0.02
    corner_top_seed: bool = True
    corner_top_reach_fraction: float = 0.11
    corner_declared_step_px: int = 3
    corner_face_patch: float = 2.0
    corner_face_sigmas: float = 2.5
    mirror_completion: bool = True
    shape_prior: bool = True
    prior_robust: bool = True
    corner_retry: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.descriptors not in DESCRIPTOR_MODES:
            raise InputError(f"descriptors must be one of {DESCRIPTOR_MODES}, got {self.descriptors!r}")
        if not float(self.deform_radius) >= 0.0:
            raise InputError(f"deform_radius must be >= 0 (0: off), got {self.deform_radius}")
        if int(self.deform_min_points) < 1:
            raise InputError(f"deform_min_points must be >= 1, got {self.deform_min_points}")
        for name in ("join_explained", "join_inside"):
            if not float(getattr(self, name)) >= 0.0:  # NaN too; above 1 (inf): never join
                raise InputError(f"{name} must be >= 0 (above 1: never join), got {getattr(self, name)}")
        for name in ("join_inside_margin", "join_inside_min_fraction", "join_inside_explained"):
            if not float(getattr(self, name)) >= 0.0:  # NaN too
                raise InputError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("corner_radius_fraction", "corner_gate_fraction", "corner_support", "corner_top_reach_fraction"):
            if not float(getattr(self, name)) > 0.0:  # NaN too
                raise InputError(f"{name} must be > 0, got {getattr(self, name)}")
        if not (isinstance(self.corner_declared_step_px, (int, np.integer)) and self.corner_declared_step_px >= 1):
            raise InputError(f"corner_declared_step_px must be an integer >= 1, got {self.corner_declared_step_px!r}")
        for name in ("corner_face_patch", "corner_face_sigmas"):
            if not float(getattr(self, name)) >= 0.0:  # NaN too
                raise InputError(f"{name} must be >= 0 (corner_face_patch 0: off), got {getattr(self, name)}")
        if 0.0 < float(self.corner_face_patch) < 1.0:
            raise InputError(f"corner_face_patch must be 0 (off) or >= 1 (times the corner search radius), "
                             f"got {self.corner_face_patch}")
        if not float(self.corner_edge_outset_px) >= 0.0:  # NaN too
            raise InputError(f"corner_edge_outset_px must be >= 0, got {self.corner_edge_outset_px}")
        if not 0.0 < float(self.corner_top_layer_fraction) <= 1.0:  # NaN too
            raise InputError(f"corner_top_layer_fraction must lie in (0, 1], got {self.corner_top_layer_fraction}")
        if self.corner_plane_normals not in ("category",) + PLANE_NORMALS:
            raise InputError(f"corner_plane_normals must be 'category' or one of {PLANE_NORMALS}, "
                             f"got {self.corner_plane_normals!r}")
        if not 0.0 <= float(self.fusion_weight_2d) <= 1.0:
            raise InputError(f"fusion_weight_2d must be in [0, 1], got {self.fusion_weight_2d}")


@dataclass
class DetectedKeypoint:
    """source: how the position was obtained, one of :data:`KEYPOINT_SOURCES` (``measured`` on the
    observed surface: its descriptor match, a leg stub, the faces of its corner; ``mirrored``: the
    reflection of its measured left/right partner; ``prior``: inferred from the measured and
    mirrored ones through the category's keypoint shape prior; ``fit``: the category-level fit,
    snapped onto the observed surface where visible). With a shape prior the measured and mirrored
    positions are fused with it too (they keep their source). sigma: with a shape prior, the
    position's uncertainty, a per-axis standard deviation in metres (the posterior's, calibrated:
    :class:`~semcorr_core.keypoints.shape_prior.KeypointShapePrior` ``sigma_scale``); None without."""

    name: str
    xyz: np.ndarray  # (3,) camera frame, metres
    u: float
    v: float
    score: float
    visible: bool
    source: str = "fit"
    sigma: Optional[float] = None

    def to_dict(self) -> dict:
        return {"name": self.name, "xyz": [float(x) for x in self.xyz], "u": float(self.u), "v": float(self.v),
                "score": float(self.score), "visible": bool(self.visible), "source": self.source,
                "sigma_m": None if self.sigma is None else float(self.sigma)}


@dataclass
class DetectedObject:
    """pose: canonical -> camera similarity (R (3, 3), t (3,) metres, s). mask: (H, W) bool.
    canonical_map: (H, W, 3) canonical xyz of the object's pixels (NaN elsewhere). radial_scale:
    for a rotation-symmetric category and a round body with a symmetry-breaking part (the mug), the
    instance's radii over the prototype's after the scale ``s`` (a wide can is the prototype
    stretched in x and y; keypoints off the axis follow it); 1 otherwise."""

    category: str
    instance_id: int
    pose: SimilarityTransform
    score: float
    keypoints: list[DetectedKeypoint]
    mask: np.ndarray
    canonical_map: np.ndarray
    radial_scale: float = 1.0

    def to_dict(self) -> dict:
        return {
            "category": self.category,
            "instance_id": int(self.instance_id),
            "pose": {"R": np.asarray(self.pose.R).tolist(), "t": [float(x) for x in self.pose.t],
                     "scale": float(self.pose.s)},
            "score": float(self.score),
            "pixels": int(self.mask.sum()),
            "keypoints": [k.to_dict() for k in self.keypoints],
        }


@dataclass
class Detections:
    objects: list[DetectedObject]
    plane_normal: np.ndarray  # (3,) camera frame, towards the camera
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"objects": [o.to_dict() for o in self.objects],
                "support_plane_normal": [float(x) for x in self.plane_normal],
                "timings_ms": {k: round(float(v), 3) for k, v in self.timings_ms.items()}}


@dataclass
class FrameSegments:
    """The category-independent first stage of a frame: its back-projected points (H, W, 3) camera
    frame, the support plane, one boolean mask per instance, the gravity frame ``G`` of the plane
    (rows: gravity-frame axes in camera coordinates) and the plane's height ``floor_z`` in it."""

    points_cam: np.ndarray
    plane: SupportPlane
    masks: list[np.ndarray]
    G: np.ndarray
    floor_z: float
    segment_ms: float


def segment_frame(frame: RGBDFrame, seed: int = 0) -> FrameSegments:
    """Support plane and instances of ``frame``: its mask's instances when it carries one (the plane
    is then fitted on the pixels outside them, with the default sensor's depth noise, as
    :func:`~semcorr_core.segmentation.segment_objects` fits it), else ``segment_objects``."""
    t0 = time.perf_counter()
    cam, depth = frame.camera, frame.depth
    points_cam = cam.backproject(depth)
    if frame.mask is None:
        seg = segment_objects(depth, cam, seed=seed, points=points_cam)
        plane, masks = seg.plane, seg.masks
    else:
        ids = [int(i) for i in np.unique(frame.mask) if i > 0]
        masks = [frame.mask == i for i in ids]
        rest = (depth > 0) & (frame.mask == 0)
        pts = points_cam[rest][:: max(1, int(rest.sum()) // 20000)]
        plane = fit_support_plane(pts, seed=seed, noise=DepthNoiseModel(), fx=cam.fx)
    G = gravity_frame(plane.normal)
    floor_z = -float(plane.offset)  # plane: n.x + d = 0, and z_gravity = n.x
    return FrameSegments(points_cam, plane, masks, G, floor_z, (time.perf_counter() - t0) * 1e3)


class Detector:
    """Category-level keypoint detector for one category bundle (see the module docstring)."""

    def __init__(self, bundle: ModelBundle, *, device: str | torch.device = "cpu", backend: str = "auto",
                 config: DetectorConfig = DetectorConfig(), precision: str = "fp32",
                 dense2d: Optional[Dense2DBundle] = None, shape_prior: Optional[KeypointShapePrior] = None) -> None:
        """backend: the embedding network's runtime, one of
        :data:`~semcorr_core.models.backends.BACKENDS` (``auto``: onnxruntime where it serves
        ``device``, else torch; :attr:`backend` tells which runs and why). precision: fp32 or
        fp16 (:func:`~semcorr_core.models.backends.make_backend`). dense2d: the 2D descriptor
        model trained against ``bundle``'s prototype; needed when ``config.descriptors`` is
        ``2d`` or ``fused``, used by ``auto`` (it runs on ONNX Runtime where the embedding network
        does, else torch, on ``device``). shape_prior: the category's keypoint shape prior
        (:mod:`semcorr_core.keypoints.shape_prior`; used when ``config.shape_prior``; its
        keypoints must be the bundle's)."""
        if bundle.metadata.get("input_frame", "gravity") != "gravity":
            raise InputError(f"bundle for {bundle.category!r} was not trained on gravity-aligned clouds; "
                             "the detector needs one that was (data.rotation=z)")
        self.bundle, self.config, self.device = bundle, config, torch.device(device)
        self.backend = make_backend(bundle, backend, self.device, precision=precision)
        spec = get_category(bundle.category)
        self.category = spec.name
        self.rotation_symmetric = spec.symmetry.kind == "rotation_z"
        proto = bundle.prototype
        self.keypoint_names = proto.keypoint_names
        self.keypoints = proto.keypoints.numpy().astype(np.float64)
        self.on_surface = np.array([n in spec.surface_keypoints for n in proto.keypoint_names])
        self.on_axis = ~self.on_surface & (np.hypot(self.keypoints[:, 0], self.keypoints[:, 1]) < 1e-6)
        self.keypoint_embeddings = proto.keypoint_embeddings.to(self.device)
        self.dense_points = proto.dense_points.to(self.device)
        self.top_height = float(proto.dense_points[:, 2].max())
        z = self.keypoints[:, 2]
        # a contact with the support plane off the axis (a chair's leg): hidden under its leg, found beside it
        self.floor_contact = self.on_surface & (np.abs(z) <= 0.01 * self.top_height) & \
            (np.hypot(self.keypoints[:, 0], self.keypoints[:, 1]) > 1e-6)
        # the corner of a box-like part (a chair's seat, its backrest): found on the faces that meet there
        self._corner_faces = np.zeros((len(self.keypoints), 3, 3))
        for k, name in enumerate(self.keypoint_names):
            for j, f in enumerate(spec.corner_faces.get(name, ())):
                self._corner_faces[k, j] = f
        self.box_corner = np.abs(self._corner_faces).sum(axis=(1, 2)) > 0
        mode = self.config.corner_plane_normals
        self._corner_plane_normals = np.array(
            [("measured" if name in spec.corner_faces_vary else "declared") if mode == "category" else mode
             for name in self.keypoint_names])
        # the top face of a corner whose faces do not vary (a seat's): nothing under it faces up, so
        # its plane is the densest layer; elsewhere the outermost one (an inset leg behind a seat's
        # side, the slats under a backrest's top rail)
        up = self._corner_faces[..., 2] > 0.99
        fixed = np.array([name not in spec.corner_faces_vary for name in self.keypoint_names])
        self._corner_layer_fraction = np.where(up & fixed[:, None], float(self.config.corner_top_layer_fraction),
                                               OUTER_LAYER_FRACTION)
        # the ends of the object's top edge (a backrest's top corners): sought first at the observed top
        self._top_edge_outward = np.array([spec.top_edge_ends.get(n, (0.0, 0.0, 0.0)) for n in self.keypoint_names],
                                          dtype=np.float64).reshape(len(self.keypoint_names), 3)
        self.top_edge_end = np.linalg.norm(self._top_edge_outward, axis=1) > 0  # the category's are unit vectors
        # left/right keypoint pairs of a mirror-symmetric category, as index pairs
        index = {n: k for k, n in enumerate(self.keypoint_names)}
        swaps = spec.symmetry.keypoint_swaps if spec.symmetry.kind == "reflection" else ()
        self._mirror_pairs = np.array([(index[a], index[b]) for a, b in swaps if a in index and b in index],
                                      dtype=np.int64).reshape(-1, 2)
        # an axis keypoint between base and top (bottle neck, shoulder) lies inside the body: the
        # z-test always hides it, while the ring of wall its descriptor stands for is in view
        self.inner_axis = self.on_axis & (z > 0.02 * self.top_height) & (z < 0.98 * self.top_height)
        # an axis keypoint at the prototype's top (bowl rim_center): with scale_from_top its height
        # is the observed top itself; descriptor matching could only move it down the inside wall
        self.measured_top = (self.on_axis & (np.abs(z - self.top_height) <= 0.02 * self.top_height)
                             & bool(self.rotation_symmetric and config.scale_from_top))
        # unit length once: every frame compares its points with all of them by cosine
        self.dense_embeddings = torch.nn.functional.normalize(proto.dense_embeddings.to(self.device).float(), dim=-1)
        self._dense = proto.dense_points.numpy().astype(np.float64)
        self._dense_tree = cKDTree(self._dense)
        self._dense_diag = float(np.linalg.norm(np.ptp(self._dense, axis=0)))
        self._dense_box = (self._dense.min(axis=0), self._dense.max(axis=0))
        # a round body with one part that breaks the symmetry (the mug's handle): its axis from the body
        self._body_profile = (body_radius_profile(self._dense)
                              if spec.symmetric_unless_seen and not self.rotation_symmetric else None)
        self._part_reach = (float(np.hypot(self._dense[:, 0], self._dense[:, 1]).max())
                            if self._body_profile is not None else None)
        self.dense2d, self._net2d, self._match_keys = None, None, self.dense_embeddings
        self.descriptors = config.descriptors
        if config.descriptors == "auto":
            usable = (dense2d is not None and dense2d.category == self.category
                      and dense2d.prototype_fingerprint == prototype_fingerprint(bundle.prototype))
            if dense2d is not None and not usable:
                log.warning("the 2D descriptor model does not fit this %s bundle (another prototype): matching with "
                            "3D embeddings only; retrain it with `semcorr train dense2d`", self.category)
            self.descriptors = "fused" if usable else "3d"
        if self.descriptors != "3d":
            self._init_dense2d(dense2d)
        self.shape_prior = None
        if shape_prior is not None and config.shape_prior:
            self._init_shape_prior(shape_prior)

    def _init_shape_prior(self, prior: KeypointShapePrior) -> None:
        if prior.category != self.category:
            raise ModelFileError(f"the shape prior is for {prior.category!r}, the detector for {self.category!r}")
        if tuple(prior.keypoint_names) != tuple(self.keypoint_names):
            raise ModelFileError(f"the {self.category} shape prior's keypoints {list(prior.keypoint_names)} are not the "
                                 f"bundle's {list(self.keypoint_names)}: fit it again with `semcorr train shape_prior`")
        if self.rotation_symmetric or self._body_profile is not None:
            log.warning("a keypoint shape prior applies to categories without a rotation symmetry or a round body; "
                        "the %s detector does not use it", self.category)
            return
        missing = {"measured", "mirrored"} - set(prior.noise_sd)
        if missing:
            raise ModelFileError(f"the {self.category} shape prior has no noise for {sorted(missing)} keypoints: "
                                 "fit it again with `semcorr train shape_prior`")
        self.shape_prior = prior

    def _init_dense2d(self, dense2d: Optional[Dense2DBundle]) -> None:
        if dense2d is None:
            raise InputError(f"descriptors={self.config.descriptors!r} needs a 2D descriptor model for "
                             f"{self.category!r} (`semcorr train dense2d`), or descriptors='3d'")
        if dense2d.category != self.category:
            raise ModelFileError(f"the 2D descriptor model is for {dense2d.category!r}, the detector for {self.category!r}")
        fingerprint = prototype_fingerprint(self.bundle.prototype)
        if dense2d.prototype_fingerprint != fingerprint:
            raise ModelFileError(f"the 2D descriptor model was trained against another {self.category} prototype "
                                 f"({dense2d.prototype_fingerprint}, this bundle's is {fingerprint}): retrain it with "
                                 "`semcorr train dense2d` and data.bundle naming this bundle")
        if len(dense2d.dense_descriptors) != len(self._dense) or len(dense2d.keypoint_descriptors) != len(self.keypoints):
            raise ModelFileError("the 2D descriptor model has not one descriptor per dense prototype point and keypoint")
        self.dense2d = dense2d
        self._net2d = make_dense2d_backend(dense2d, self.backend.name, self.device)
        d2 = dense2d.dense_descriptors.to(self.device).float()
        if self.descriptors == "2d":
            self._match_keys = torch.nn.functional.normalize(d2, dim=-1)
            self.keypoint_embeddings = torch.nn.functional.normalize(
                dense2d.keypoint_descriptors.to(self.device).float(), dim=-1)
        else:
            w = float(self.config.fusion_weight_2d)
            self._match_keys = fuse_descriptors([d2, self.dense_embeddings], [w, 1.0 - w])

    def _pixel_descriptors(self, frame: RGBDFrame, mask: np.ndarray, pixels: np.ndarray) -> torch.Tensor:
        """``(N, D2)`` 2D descriptors at ``pixels`` ``(N, 2)`` (u, v) of the object ``mask``."""
        d2 = self.dense2d
        box = crop_box(mask, d2.crop_size, d2.crop_margin)
        x = crop_inputs(frame.color, frame.depth, mask, box, frame.camera.fx)
        feats = self._net2d(torch.as_tensor(x, device=self.device)[None])[0]
        return sample_crop_map(feats, pixels.astype(np.float64), box)

    def free_space_violation(self, frame: RGBDFrame, obj: DetectedObject, tolerance: float) -> float:
        """Fraction of the fitted prototype surface of ``obj`` (dense points through its pose, radii
        times ``radial_scale``) that the camera should see *in front of* the measured depth by more
        than ``tolerance`` metres: where the fit puts matter, the sensor looked through. Points
        projecting outside the image or onto pixels without depth do not count."""
        dense = self._dense * np.array([obj.radial_scale, obj.radial_scale, 1.0])
        pts = obj.pose.apply(dense)
        front = pts[:, 2] > 1e-6
        pts = pts[front]
        uv = frame.camera.project(pts)
        h, w = frame.depth.shape
        u, v = np.rint(uv[:, 0]).astype(np.int64), np.rint(uv[:, 1]).astype(np.int64)
        inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
        measured = np.zeros(len(pts))
        measured[inside] = frame.depth[v[inside], u[inside]]
        valid = inside & (measured > 0) & np.isfinite(measured)
        if not valid.any():
            return 0.0
        return float(np.mean(measured[valid] > pts[valid, 2] + tolerance))

    def _explained_fraction(self, points: np.ndarray, transform: SimilarityTransform,
                            radial_scale: float = 1.0, tolerance: Optional[float] = None) -> float:
        """Fraction of ``points`` within ``tolerance`` (canonical units; default ``explain_tolerance``
        x the prototype's diagonal) of the prototype's dense cloud under ``transform`` (its radii
        times ``radial_scale``, as the rotation-symmetric fit found them)."""
        if tolerance is None:
            tolerance = self.config.explain_tolerance * self._dense_diag
        canonical = transform.inverse().apply(np.asarray(points, np.float64))
        canonical[:, :2] /= float(radial_scale)
        d, _ = self._dense_tree.query(canonical, distance_upper_bound=tolerance)
        return float(np.mean(np.isfinite(d)))

    def _inside_fraction(self, points: np.ndarray, transform: SimilarityTransform, radial_scale: float = 1.0) -> float:
        """Fraction of ``points`` inside the prototype's bounding box under ``transform`` (its radii
        times ``radial_scale``), grown by ``join_inside_margin`` x its diagonal on every side."""
        canonical = transform.inverse().apply(np.asarray(points, np.float64))
        canonical[:, :2] /= float(radial_scale)
        grow = self.config.join_inside_margin * self._dense_diag
        lo, hi = self._dense_box
        return float(np.mean(np.all((canonical >= lo - grow) & (canonical <= hi + grow), axis=1)))

    @classmethod
    def for_category(cls, category: str, bundle_path: Optional[str] = None, dense2d_path: Optional[str] = None,
                     shape_prior_path: Optional[str] = None, **kwargs) -> "Detector":
        """Detector with ``bundle_path`` or the shipped default bundle of ``category``; with a
        config asking for 2D descriptors, ``dense2d_path`` or the shipped 2D model; with
        ``config.shape_prior``, ``shape_prior_path`` or the shipped shape prior where one ships
        (the shipped one only with the shipped bundle: it was calibrated on it)."""
        name = get_category(category).name
        path = bundle_path if bundle_path is not None else default_bundle_path(category)
        config = kwargs.get("config", DetectorConfig())
        if config.shape_prior and "shape_prior" not in kwargs:
            if shape_prior_path is not None:
                kwargs["shape_prior"] = load_shape_prior(shape_prior_path, category=name)
            elif bundle_path is None and default_shape_prior_path(name).is_file():
                kwargs["shape_prior"] = load_shape_prior(default_shape_prior_path(name), category=name)
        if config.descriptors != "3d" and "dense2d" not in kwargs:
            path2d = Path(dense2d_path) if dense2d_path is not None else default_dense2d_path(name)
            # auto without a 2D model at hand matches with 3D embeddings; an explicit 2d/fused needs one
            if config.descriptors != "auto" or dense2d_path is not None or path2d.is_file():
                kwargs["dense2d"] = load_dense2d_bundle(path2d, category=name)
        return cls(load_bundle(path, category=name), **kwargs)

    def detect(self, frame: RGBDFrame) -> Detections:
        t0 = time.perf_counter()
        segments = segment_frame(frame, seed=self.config.seed)
        timings = {"segment": segments.segment_ms}
        objects = [o for o in self.detect_segments(frame, segments, timings) if o is not None]
        timings["total"] = (time.perf_counter() - t0) * 1e3
        return Detections(objects, np.asarray(segments.plane.normal, dtype=np.float64), timings)

    def detect_segments(self, frame: RGBDFrame, segments: FrameSegments,
                        timings: dict) -> list[Optional[DetectedObject]]:
        """This category's object in each of ``segments.masks`` (None where it finds none, and for a
        segment joined to a larger one's object, whose mask then covers both; instance id = the
        mask's 1-based position); stage times are added to ``timings``."""
        depth = frame.depth
        for stage in ("embed", "align", "keypoints"):
            timings.setdefault(stage, 0.0)
        masks = [mask & (depth > 0) for mask in segments.masks]
        sizes = [int(m.sum()) for m in masks]
        out: list[Optional[DetectedObject]] = [None] * len(masks)
        joined: set[int] = set()
        samples: dict[int, np.ndarray] = {}  # a segment's points for the join test, taken once

        def sample(j: int) -> np.ndarray:
            if j not in samples:
                pts = segments.points_cam[masks[j]]
                samples[j] = pts[:: max(1, len(pts) // 500)]
            return samples[j]

        def belongs(j: int, obj: DetectedObject, size: int) -> bool:
            explained = self._explained_fraction(sample(j), obj.pose, obj.radial_scale)
            if explained >= self.config.join_explained:
                return True
            return (self.config.join_inside <= 1.0 and not self.rotation_symmetric
                    and explained >= self.config.join_inside_explained
                    and sizes[j] >= self.config.join_inside_min_fraction * size
                    and self._inside_fraction(sample(j), obj.pose, obj.radial_scale) >= self.config.join_inside)

        # largest first: a piece the segmenter cut off an object is smaller than the rest of it
        for i in sorted(range(len(masks)), key=lambda k: -sizes[k]):
            if i in joined or sizes[i] < self.config.min_points:
                continue
            obj = self._detect_object(frame, masks[i], segments.points_cam, segments.G, segments.floor_z, i + 1,
                                      timings)
            if obj is not None and self.config.join_explained <= 1.0:
                t = time.perf_counter()
                pieces = [j for j in range(len(masks)) if j != i and j not in joined and out[j] is None
                          and 0 < sizes[j] <= sizes[i] and belongs(j, obj, sizes[i])]
                timings["join"] = timings.get("join", 0.0) + (time.perf_counter() - t) * 1e3
                if pieces:
                    union = masks[i] | np.any([masks[j] for j in pieces], axis=0)
                    whole = self._detect_object(frame, union, segments.points_cam, segments.G, segments.floor_z,
                                                i + 1, timings)
                    if whole is not None:
                        obj = whole
                        joined.update(pieces)
            out[i] = obj
        return out

    def surface_support(self, points_cam: np.ndarray, obj: DetectedObject, tolerance: float) -> float:
        """Fraction of ``points_cam`` (camera frame) within ``tolerance`` metres of the fitted
        prototype surface of ``obj`` (radii times its ``radial_scale``): a measure that compares fits
        of different categories to one segment when ``tolerance`` is the same for all."""
        return self._explained_fraction(points_cam, obj.pose, obj.radial_scale,
                                        tolerance=tolerance / max(float(obj.pose.s), 1e-9))

    def _find_corners(self, which: np.ndarray, predicted: np.ndarray, pts_g: np.ndarray, points_hw: np.ndarray,
                      rows: np.ndarray, cols: np.ndarray, mask: np.ndarray, G: np.ndarray, Rg: np.ndarray, size: float,
                      fx: float):
        """:func:`~semcorr_core.keypoints.corners.find_box_corners` for the box corners ``which``
        (``(K,)`` bool) at their ``predicted`` gravity-frame positions, among the object's points
        ``pts_g`` (pixels ``rows``, ``cols`` of ``points_hw``; focal length ``fx`` pixels) near them:
        the top-edge ends seeded at the observed top first, then one search per plane-normal mode
        (declared-normal corners with ``corner_declared_step_px`` normals, the rest with 2 px and
        their main face fitted over a wider patch first, ``corner_face_patch``)."""
        radius = self.config.corner_radius_fraction * size
        top = self.top_edge_end[which]
        if self.config.corner_top_seed and top.any():
            predicted = predicted.copy()
            predicted[top] = seed_at_top_edge(predicted[top], self._top_edge_outward[which][top] @ Rg.T, pts_g,
                                              reach=self.config.corner_top_reach_fraction * size).xyz
        modes = self._corner_plane_normals[which]
        xyz, found, seen = predicted.copy(), np.zeros(len(predicted), bool), np.zeros(len(predicted), np.int64)
        # a declared face's normals only sort its points (a wider stencil sorts them better under
        # noise); a measured face's plane lies along them (a wider stencil mixes a thin rail's faces)
        for mode, step in (("declared", int(self.config.corner_declared_step_px)), ("measured", NORMAL_STEP_PX)):
            group = modes == mode
            if not group.any():
                continue
            near = np.zeros(len(pts_g), bool)  # normals are needed around the corners only
            for p in predicted[group]:
                near |= np.einsum("ij,ij->i", pts_g - p, pts_g - p) <= radius * radius
            normals = normals_at_pixels(points_hw, rows[near], cols[near], step=step, valid=mask)
            outset = self.config.corner_edge_outset_px * np.abs((predicted[group] @ G)[:, 2]) / fx
            faces = self._corner_faces[which][group] @ Rg.T
            planes = tolerance = None
            if mode == "measured" and self.config.corner_face_patch > 0:
                planes, tolerance = self._main_face_planes(predicted[group], faces, pts_g, pts_g[near], radius, fx)
            bc = find_box_corners(predicted[group], faces, pts_g[near], normals @ G.T,
                                  radius=radius, gate=self.config.corner_gate_fraction * size,
                                  support=self.config.corner_support, plane_normals=modes[group].tolist(),
                                  edge_outset=outset, layer_fraction=self._corner_layer_fraction[which][group],
                                  face_planes=planes, face_tolerance=tolerance)
            xyz[group], found[group], seen[group] = bc.xyz, bc.found, bc.faces_seen
        return BoxCorners(xyz, found, seen)

    def _face_tolerance(self, points_g: np.ndarray, fx: float) -> np.ndarray:
        """Per point: ``corner_face_sigmas`` standard deviations of its depth reading (the default
        sensor's noise, taken at its range from the camera, the gravity frame's origin, a little
        over its depth), at least 1 cm."""
        spread = self.config.corner_face_sigmas * DepthNoiseModel().sigma(np.linalg.norm(points_g, axis=1), fx)
        return np.maximum(0.01, spread)

    def _main_face_planes(self, predicted: np.ndarray, faces: np.ndarray, pts_g: np.ndarray, near_g: np.ndarray,
                          radius: float, fx: float) -> tuple[np.ndarray, np.ndarray]:
        """``(K, F, 4)`` face planes for :func:`find_box_corners` (NaN but the first face's, where
        :func:`fit_face_plane` finds it among ``pts_g`` within ``corner_face_patch`` x ``radius``
        of the prediction and the camera sees its front) and the tolerance of the points
        ``near_g``."""
        planes = np.full(faces.shape[:2] + (4,), np.nan)
        reach = self.config.corner_face_patch * radius
        for i, (p, main) in enumerate(zip(predicted, faces[:, 0])):
            if np.linalg.norm(main) < 0.5:
                continue
            patch = pts_g[np.einsum("ij,ij->i", pts_g - p, pts_g - p) <= reach * reach]
            fit = fit_face_plane(patch, main, self._face_tolerance(patch, fx), seed=self.config.seed + i)
            # the camera (the origin) before the face: its back would pass for it (a backrest seen from behind)
            if fit is not None and float(patch[fit.inliers].mean(axis=0) @ fit.normal) < 0:
                planes[i, 0, :3], planes[i, 0, 3] = fit.normal, fit.offset
        return planes, self._face_tolerance(near_g, fx)

    def _condition_on_prior(self, xyz_g: np.ndarray, measured: np.ndarray, mirrored: np.ndarray,
                            transform: SimilarityTransform) -> tuple[np.ndarray, np.ndarray]:
        """Every keypoint's posterior under the shape prior given the ``measured`` and ``mirrored``
        ones of ``xyz_g`` (gravity frame), in the canonical frame of the fitted ``transform``;
        returns the gravity-frame positions and their per-axis sd in metres."""
        post = self.shape_prior.condition(transform.inverse().apply(xyz_g), measured, mirrored,
                                          robust=self.config.prior_robust)
        return transform.apply(post.xyz), post.sd * float(transform.s)

    def _pairs_within(self, subset: np.ndarray) -> np.ndarray:
        """The mirror pairs whose two keypoints are both in the boolean ``subset``."""
        both = subset[self._mirror_pairs].all(axis=1) if len(self._mirror_pairs) else np.zeros(0, bool)
        return self._mirror_pairs[both]

    def _detect_object(self, frame: RGBDFrame, mask: np.ndarray, points_hw: np.ndarray, G: np.ndarray,
                       floor_z: float, instance_id: int, timings: dict) -> Optional[DetectedObject]:
        """The object of ``mask`` (points_hw: the frame's back-projected points, (H, W, 3) camera frame)."""
        cfg = self.config
        t = time.perf_counter()
        pts_cam = points_hw[mask]
        rows, cols = np.nonzero(mask)  # the pixels of pts_cam, in its order
        rng = np.random.default_rng([cfg.seed, instance_id])
        pts_g = pts_cam @ G.T
        sel = voxel_subsample(pts_g, cfg.n_points, rng)
        sample = torch.as_tensor(pts_g[sel], dtype=torch.float32, device=self.device)[None]
        with torch.no_grad():
            emb = self.backend(normalise_clouds(sample))[0]
        timings["embed"] += (time.perf_counter() - t) * 1e3
        query, f2 = emb, None
        if self.dense2d is not None:
            t = time.perf_counter()
            f2 = self._pixel_descriptors(frame, mask, np.column_stack([cols[sel], rows[sel]]))
            w = float(cfg.fusion_weight_2d)
            query = f2 if self.descriptors == "2d" else fuse_descriptors([f2, emb], [w, 1.0 - w])
            timings["embed2d"] = timings.get("embed2d", 0.0) + (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        canonical, sim = prototype_correspondences(query, self._match_keys, self.dense_points, dense_normalized=True)
        diag = float(np.linalg.norm(np.ptp(pts_g[sel], axis=0)))
        try:
            fit = align_to_prototype(pts_g[sel], canonical, sim, threshold=cfg.ransac_threshold * diag,
                                     rotation_symmetric=self.rotation_symmetric, floor_z=floor_z,
                                     scale_range=cfg.scale_range, max_iterations=cfg.ransac_iterations,
                                     top_height=self.top_height if cfg.scale_from_top else None, seed=cfg.seed,
                                     device=self.device if self.device.type == "cuda" else None)
        except InputError:
            timings["align"] += (time.perf_counter() - t) * 1e3
            return None  # not this category, or too little of it seen: no detection rather than a wild pose
        explained = self._explained_fraction(pts_g[sel], fit.transform, fit.radial_scale)
        timings["align"] += (time.perf_counter() - t) * 1e3
        if explained < cfg.min_explained or fit.inlier_fraction < cfg.min_inlier_fraction:
            return None  # the fit covers a small part of the segment: something else, not this category
        if cfg.refine_energy and not self.rotation_symmetric:
            t = time.perf_counter()
            refined = refine_upright_similarity(pts_g[sel], canonical, sim, self._dense, fit.transform, G=G,
                                                camera=frame.camera, depth=frame.depth, mask=mask, config=cfg.energy,
                                                seed=cfg.seed, device=self.device)
            fit = fit._replace(transform=refined.transform)
            timings["refine"] = timings.get("refine", 0.0) + (time.perf_counter() - t) * 1e3
        if cfg.refine_body_axis and self._body_profile is not None:
            body = refine_body_axis(pts_g[sel], canonical, fit.transform, floor_z, cfg.ransac_threshold * diag,
                                    self._body_profile)
            fit = fit._replace(transform=body.transform, radial_scale=body.radial_scale)
        if cfg.resolve_part_side and self._body_profile is not None:
            side = observed_part_side(pts_g, fit.transform, fit.radial_scale, self._body_profile, self._part_reach)
            if side is not None:
                fit = fit._replace(transform=face_part_side(fit.transform, side)[0])
        t = time.perf_counter()
        Rg, tg, s = fit.transform
        pose = SimilarityTransform(G.T @ Rg, G.T @ tg, float(s))  # canonical -> camera
        size = float(s) * self._dense_diag  # the fitted object's bounding-box diagonal
        # the instance's radii (the mug's body axis fit; rotation-symmetric keypoints lie on the axis)
        keypoints = self.keypoints * np.array([fit.radial_scale, fit.radial_scale, 1.0])
        # gravity-frame positions and which of them the observation moved off the similarity fit
        fitted_g = fit.transform.apply(keypoints)
        moved = np.zeros(len(keypoints), bool)
        measured = np.zeros(len(keypoints), bool)  # found on the observed surface (not only moved by the dense fit)
        if cfg.deform_radius > 0 and not self.rotation_symmetric and self._body_profile is None:
            d = deform_keypoints(keypoints, fit.transform, pts_g[sel], canonical,
                                 radius=cfg.deform_radius * self._dense_diag, min_points=cfg.deform_min_points)
            fitted_g, moved = d.xyz, d.moved
        contact_found = np.zeros(len(keypoints), bool)
        predicted_g = fitted_g.copy()  # the corners' predictions: a reflection must stay near them
        if cfg.floor_contacts and self.floor_contact.any():
            fc = find_floor_contacts(fitted_g[self.floor_contact], pts_g, floor_z, gate=cfg.floor_contact_gate)
            fitted_g[self.floor_contact] = fc.xyz
            moved[self.floor_contact] |= fc.found
            contact_found[self.floor_contact] = fc.found
            measured |= contact_found
        if cfg.observe:
            candidates = np.ones(len(self.keypoints), bool)
            if cfg.observe_visible_only:  # a keypoint the fit hides would only be pulled onto its visible neighbours
                candidates = place_keypoints(keypoints, pose, frame.camera, frame.depth,
                                             visibility_tol=cfg.visibility_tol).visible
            if cfg.floor_contacts:  # a leg's own wall hides its contact: its descriptor would find the leg's side
                candidates &= ~self.floor_contact
            obs = observe_keypoints(self.keypoint_embeddings, f2 if self.descriptors == "2d" else emb,
                                    pts_g[sel], fitted_g, on_surface=self.on_surface & candidates,
                                    on_axis=self.on_axis & (candidates | self.inner_axis) & ~self.measured_top,
                                    gate=max(cfg.observe_gate, cfg.observe_gate_fraction * size),
                                    window=max(cfg.observe_window, cfg.observe_window_fraction * size),
                                    min_similarity=cfg.observe_min_similarity)
            fitted_g, moved = obs.xyz, moved | obs.observed  # obs.xyz: fitted_g where not observed
            measured |= obs.observed
        corner_found = np.zeros(len(keypoints), bool)
        if cfg.corners and self.box_corner.any():
            t_c = time.perf_counter()
            predicted = fitted_g[self.box_corner]
            bc = self._find_corners(self.box_corner, predicted, pts_g, points_hw, rows, cols, mask, G, Rg, size,
                                    frame.camera.fx)
            fitted_g[self.box_corner] = bc.xyz
            moved[self.box_corner] |= bc.found
            corner_found[self.box_corner] = bc.found
            measured |= corner_found
            predicted_g[self.box_corner] = predicted
            timings["corners"] = timings.get("corners", 0.0) + (time.perf_counter() - t_c) * 1e3
        mirrored = np.zeros(len(keypoints), bool)
        if cfg.mirror_completion and len(self._mirror_pairs):
            t_m = time.perf_counter()
            contact_pairs, corner_pairs = self._pairs_within(self.floor_contact), self._pairs_within(self.box_corner)
            # measured on the leg contacts, found to ~0.7 cm (a plane from the corners found on both
            # sides, where no leg pair is: no gain); a hidden leg's reflection needs no gate
            plane = mirror_plane_from_pairs(fitted_g, contact_found, contact_pairs)
            legs = complete_by_mirror(fitted_g, contact_found, contact_pairs, plane)
            sides = complete_by_mirror(legs.xyz, corner_found, corner_pairs, plane, average=True,
                                       reference=predicted_g, gate=cfg.corner_gate_fraction * size)
            fitted_g = sides.xyz
            mirrored = legs.filled | sides.filled
            moved |= mirrored
            corner_found |= sides.filled
            timings["mirror"] = timings.get("mirror", 0.0) + (time.perf_counter() - t_m) * 1e3
        inferred = np.zeros(len(keypoints), bool)
        sigma = np.full(len(keypoints), np.nan)
        if self.shape_prior is not None and (measured | mirrored).any():
            t_p = time.perf_counter()
            posterior_g, sigma = self._condition_on_prior(fitted_g, measured, mirrored, fit.transform)
            retry = self.box_corner & ~(measured | mirrored)
            if cfg.corners and cfg.corner_retry and retry.any():
                # the prior puts a corner the fit left too far off nearer: look for it on its faces again
                again = self._find_corners(retry, posterior_g[retry], pts_g, points_hw, rows, cols, mask, G, Rg, size,
                                           frame.camera.fx)
                if again.found.any():
                    found_now = np.zeros(len(keypoints), bool)
                    found_now[retry] = again.found
                    fitted_g[found_now] = again.xyz[again.found]
                    corner_found |= found_now
                    measured |= found_now
                    posterior_g, sigma = self._condition_on_prior(fitted_g, measured, mirrored, fit.transform)
            fitted_g = posterior_g
            inferred = ~(measured | mirrored)
            moved[:] = True
            timings["prior"] = timings.get("prior", 0.0) + (time.perf_counter() - t_p) * 1e3
        observed_xyz = np.where(moved[:, None], fitted_g @ G, np.nan)  # gravity -> camera
        # a corner found where its faces meet is no nearer the truth at the closest noisy point
        snap = self.on_surface & ~corner_found
        placed = place_keypoints(keypoints, pose, frame.camera, frame.depth, visibility_tol=cfg.visibility_tol,
                                 on_surface=snap, object_points=pts_cam, snap_distance=cfg.snap_distance,
                                 observed_xyz=observed_xyz)
        score = fit.inlier_fraction
        source = np.where(measured, "measured", np.where(mirrored, "mirrored", np.where(inferred, "prior", "fit")))
        kps = [DetectedKeypoint(n, placed.xyz[k], placed.uv[k, 0], placed.uv[k, 1],
                                score * SOURCE_WEIGHTS[str(source[k])], bool(placed.visible[k]), str(source[k]),
                                None if np.isnan(sigma[k]) else float(sigma[k]))
               for k, n in enumerate(self.keypoint_names)]
        canonical_map = np.full(mask.shape + (3,), np.nan, np.float32)
        canonical_map[mask] = pose.inverse().apply(pts_cam).astype(np.float32)
        timings["keypoints"] += (time.perf_counter() - t) * 1e3
        return DetectedObject(self.category, instance_id, pose, score, kps, mask, canonical_map,
                              radial_scale=float(fit.radial_scale))
