"""Keypoints at the corner of a box-like part (a chair's seat and backrest corners), found on the faces that meet there.

A similarity fit of the category prototype misses such a corner by the instance's own
proportions: on 300 procedural chairs the best similarity of the mean keypoints leaves a median
3.5 cm, the best per-axis scaling 2.2 cm. The observed surface shows the corner exactly when the
faces that meet there are in view.

The category declares, per corner keypoint, the outward normals of the faces that meet at it in
the canonical frame (:attr:`~semcorr_core.data.categories.CategorySpec.corner_faces`). Around the
predicted position (within ``radius``), the points whose normals lie within ``normal_tolerance_deg``
of a declared face's normal are that face's candidates. A face with at least ``min_points`` of them
is *seen*. Its plane is the median of the outermost window ``2 band`` deep along its normal that
holds at least half as many of them as the densest window: not an inset leg's face behind a seat's
front face, not the few points depth noise throws in front of it. With ``plane_normals="declared"``
(the default) that normal is the declared one, in the caller's frame the fitted pose's; with
``"measured"`` the mean of the layer's own normals (a backrest tilted more than the prototype's).
Under sensor noise the declared normal measured better, the backrests tilted 0-20 degrees
included: the chair's visible corners found on first sight, seeds 7 / 3 (80 / 120 frames),
median error 1.46 -> 1.25 cm and 1.47 -> 1.27 cm, PCK@2cm 0.734 -> 0.744 and 0.674 -> 0.779; the
seen planes' median error along their normal at 3-4 m 1.07 -> 0.85 and 1.01 -> 0.80 cm (under
3 m 0.42 -> 0.37 and 0.42 -> 0.36 cm). After the detector's shape prior the backrest tops lost
with it (their faces turn with the tilt), so a category names such corners
(``CategorySpec.corner_faces_vary``) and the detector passes ``"measured"`` for them. A declared
face that is not seen bounds the seen faces instead: its plane passes through their
``extreme_quantile`` point along its normal (the seat's top face, seen from above, ends at the
front edge); when that point lies within ``support`` of the search sphere's rim, the faces run
on beyond the sphere and the corner is not found. Once the corner passes the tests below, each
such bound moves out by ``edge_outset`` (metres): the true edge lies beyond the outermost reading
(a pixel's centre is inside the edge, and a sensor loses readings at depth edges; the detector
passes 1.5 pixels' footprint at the corner's depth). The corner is the point that meets those constraints and moves least from the
prediction (the pseudo-inverse; with fewer than three faces declared, the prediction keeps its
other coordinates).

A corner counts as found when a seen face's point lies within ``support`` of it (an occluded
corner would be put where the view only cut the faces off) and it moved at most ``gate`` from
the prediction.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import numpy as np

from semcorr_core.errors import InputError
from semcorr_core.geometry.planes import fit_plane_least_squares

__all__ = ["BoxCorners", "FacePlane", "PLANE_NORMALS", "OUTER_LAYER_FRACTION", "TopEdgeSeeds", "find_box_corners",
           "fit_face_plane", "seed_at_top_edge"]

PLANE_NORMALS = ("declared", "measured")
OUTER_LAYER_FRACTION = 0.5
"""A face's layer by default: the outermost window holding half as many points as the densest."""


class BoxCorners(NamedTuple):
    """xyz ``(K, 3)`` (the prediction where not found); found ``(K,)`` bool; faces_seen ``(K,)``
    int: how many of the declared faces were seen."""

    xyz: np.ndarray
    found: np.ndarray
    faces_seen: np.ndarray


def find_box_corners(predicted: np.ndarray, faces: np.ndarray, points: np.ndarray, normals: np.ndarray, *,
                     radius: float, gate: float, support: float = 0.015, band: float = 0.015,
                     normal_tolerance_deg: float = 35.0, min_points: int = 8,
                     extreme_quantile: float = 0.98, plane_normals: str | Sequence[str] = "declared",
                     edge_outset: float | np.ndarray = 0.0, layer_fraction: float | np.ndarray = OUTER_LAYER_FRACTION,
                     face_planes: Optional[np.ndarray] = None, face_tolerance: Optional[np.ndarray] = None) -> BoxCorners:
    """Corners near ``predicted`` ``(K, 3)`` from the observed ``points`` ``(N, 3)`` and their unit
    ``normals`` ``(N, 3)`` (NaN: unknown), all in one frame (metres). ``faces`` ``(K, F, 3)``: the
    outward unit normals of the faces meeting at each corner, in that frame (a row of zeros: no
    face in that slot; a keypoint without any declared face keeps its prediction). Module
    docstring for the method.

    face_planes: ``(K, F, 4)`` planes already fitted to faces (unit normal, offset: ``normal @ x =
    offset``; NaN: none, that face is looked for as usual), e.g. by :func:`fit_face_plane` over a
    wider patch; such a face's points are the ones within ``face_tolerance`` ``(N,)`` metres of
    its plane, normals or not, and its plane is taken as given."""
    pred = np.asarray(predicted, dtype=np.float64)
    dirs = np.asarray(faces, dtype=np.float64)
    pts = np.asarray(points, dtype=np.float64)
    nrm = np.asarray(normals, dtype=np.float64)
    if pred.ndim != 2 or pred.shape[1] != 3 or not np.isfinite(pred).all():
        raise InputError(f"find_box_corners: predicted must be finite (K, 3), got {pred.shape}")
    if dirs.ndim != 3 or dirs.shape[0] != len(pred) or dirs.shape[2] != 3 or not np.isfinite(dirs).all():
        raise InputError(f"find_box_corners: faces must be finite (K, F, 3) with K = {len(pred)}, got {dirs.shape}")
    if pts.ndim != 2 or pts.shape[1] != 3 or nrm.shape != pts.shape:
        raise InputError(f"find_box_corners: points and normals must both be (N, 3), got {pts.shape} and {nrm.shape}")
    if not (radius > 0 and gate > 0 and support > 0 and band > 0 and 0 < normal_tolerance_deg < 90
            and int(min_points) >= 1 and 0.5 <= extreme_quantile <= 1.0):
        raise InputError("find_box_corners: need radius, gate, support, band > 0, 0 < normal_tolerance_deg < 90, "
                         f"min_points >= 1 and extreme_quantile in [0.5, 1]; got {radius}, {gate}, {support}, {band}, "
                         f"{normal_tolerance_deg}, {min_points}, {extreme_quantile}")
    outset = np.broadcast_to(np.asarray(edge_outset, dtype=np.float64), (len(pred),)) if np.ndim(edge_outset) == 0 \
        else np.asarray(edge_outset, dtype=np.float64)
    if outset.shape != (len(pred),) or not (np.isfinite(outset).all() and (outset >= 0).all()):
        raise InputError(f"find_box_corners: edge_outset must be finite, >= 0, a scalar or one per keypoint, got {edge_outset!r}")
    try:
        fraction = np.broadcast_to(np.asarray(layer_fraction, dtype=np.float64), dirs.shape[:2])
    except ValueError:
        fraction = None
    if fraction is None or not ((fraction > 0) & (fraction <= 1)).all():
        raise InputError(f"find_box_corners: layer_fraction must lie in (0, 1], a scalar or one per face {dirs.shape[:2]}, "
                         f"got {layer_fraction!r}")
    if face_planes is not None:
        planes = np.asarray(face_planes, dtype=np.float64)
        tol = np.asarray(face_tolerance, dtype=np.float64) if face_tolerance is not None else None
        if planes.shape != dirs.shape[:2] + (4,):
            raise InputError(f"find_box_corners: face_planes must be (K, F, 4) = {dirs.shape[:2] + (4,)}, got {planes.shape}")
        if tol is None or tol.shape != (len(pts),) or not (np.isfinite(tol).all() and (tol > 0).all()):
            raise InputError("find_box_corners: face_planes need face_tolerance, one finite value > 0 per point "
                             f"({len(pts)}), got {None if tol is None else tol.shape}")
    modes = [plane_normals] * len(pred) if isinstance(plane_normals, str) else list(plane_normals)
    if len(modes) != len(pred) or any(m not in PLANE_NORMALS for m in modes):
        raise InputError(f"find_box_corners: plane_normals must be one of {PLANE_NORMALS} or one per keypoint, got {plane_normals!r}")
    out = pred.copy()
    found = np.zeros(len(pred), dtype=bool)
    seen_count = np.zeros(len(pred), dtype=np.int64)
    if face_planes is None:
        good = np.isfinite(pts).all(axis=1) & np.isfinite(nrm).all(axis=1)
        pts, nrm = pts[good], nrm[good]
    else:  # a point without a normal may still lie on a fitted face; a zero normal sorts it into no other
        good = np.isfinite(pts).all(axis=1)
        pts, nrm, tol = pts[good], np.nan_to_num(nrm[good], nan=0.0), tol[good]
    if len(pred) == 0 or len(pts) == 0:
        return BoxCorners(out, found, seen_count)
    cos_tol = float(np.cos(np.deg2rad(normal_tolerance_deg)))
    for k, (p0, declared, mode) in enumerate(zip(pred, dirs, modes)):
        slots = np.linalg.norm(declared, axis=1) > 0.5
        declared, fractions = declared[slots], fraction[k][slots]
        given = None if face_planes is None else planes[k][slots]
        declared = declared / np.linalg.norm(declared, axis=1, keepdims=True)
        if len(declared) == 0:
            continue
        offset = pts - p0
        near = np.flatnonzero(np.einsum("ij,ij->i", offset, offset) <= float(radius) ** 2)
        if len(near) < int(min_points):
            continue
        p_near, n_near = pts[near], nrm[near]
        rows, values, unseen, face_pts = [], [], [], []
        for j, (d, frac) in enumerate(zip(declared, fractions)):
            if given is not None and np.isfinite(given[j]).all():
                on_plane = np.abs(p_near @ given[j, :3] - given[j, 3]) <= tol[near]
                if int(on_plane.sum()) >= int(min_points):
                    rows.append(given[j, :3])
                    values.append(float(given[j, 3]))
                    face_pts.append(p_near[on_plane])
                    continue
            cand = n_near @ d >= cos_tol
            if int(cand.sum()) < int(min_points):
                unseen.append(d)
                continue
            if mode == "declared":
                normal = d
                outer = _outer_dense_window(p_near[cand] @ normal, band, frac)
            else:
                # along the candidates' own mean normal: a tilted face spans a range along d
                normal = _unit(n_near[cand].mean(axis=0))
                outer = _outer_dense_window(p_near[cand] @ normal, band, frac)
                normal = _unit(n_near[cand][outer].mean(axis=0))
            layer = p_near[cand][outer]
            rows.append(normal)
            values.append(float(np.median(layer @ normal)))
            face_pts.append(layer)
        seen_count[k] = len(rows)
        if not rows:
            continue
        on_faces = np.concatenate(face_pts)
        bounded = True
        for d in unseen:
            edge = float(np.quantile(on_faces @ d, extreme_quantile))
            # seen faces that run on to the search sphere's rim show no edge there, only the sphere's end
            bounded &= edge < float(p0 @ d) + radius - support
            rows.append(d)
            values.append(edge)
        if not bounded:
            continue
        A, c = np.asarray(rows), np.asarray(values)
        solve = np.linalg.pinv(A, rcond=1e-3)
        corner = p0 + solve @ (c - A @ p0)
        if (np.linalg.norm(corner - p0) <= gate
                and float(np.min(np.linalg.norm(on_faces - corner, axis=1))) <= support):
            # the edge lies beyond the outermost reading: the support test holds the corner to the readings
            c[len(c) - len(unseen):] += outset[k]
            out[k], found[k] = p0 + solve @ (c - A @ p0), True
    return BoxCorners(out, found, seen_count)


class FacePlane(NamedTuple):
    """A face's plane ``normal @ x = offset`` (``normal`` (3,) unit, along the expected outward
    normal) and its ``inliers`` ``(N,)`` bool among the points it was fitted to."""

    normal: np.ndarray
    offset: float
    inliers: np.ndarray


def fit_face_plane(points: np.ndarray, expected_normal: np.ndarray, tolerance: np.ndarray, *,
                   max_angle_deg: float = 35.0, hypotheses: int = 200, min_inliers: int = 20,
                   seed: int | np.random.Generator = 0) -> Optional[FacePlane]:
    """The plane of a face among ``points`` ``(N, 3)`` whose outward normal lies within
    ``max_angle_deg`` of ``expected_normal`` (3,): seeded RANSAC over ``hypotheses`` 3-point
    samples (a point is an inlier within its ``tolerance`` ``(N,)`` metres), then two refits by
    least squares weighted by the inverse square tolerance. None when no such plane holds
    ``min_inliers`` points.

    Why: under sensor noise a corner's face within the corner search's few centimetres holds a
    few dozen readings, their per-pixel normals sort them badly (at 3-4 m a reading is off by
    2-3 cm, a 2-pixel stencil spans 2.3 cm), and the median of the outer window snaps to one
    quantisation layer (5 cm steps there, a 3 cm window). A plane fitted over twice the search
    radius uses several times the readings and averages over the layers.
    """
    p = np.asarray(points, dtype=np.float64)
    n0 = np.asarray(expected_normal, dtype=np.float64)
    tol = np.asarray(tolerance, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or not np.isfinite(p).all():
        raise InputError(f"fit_face_plane: points must be finite (N, 3), got {p.shape}")
    if n0.shape != (3,) or not np.isfinite(n0).all() or np.linalg.norm(n0) < 1e-9:
        raise InputError(f"fit_face_plane: expected_normal must be a finite non-zero 3-vector, got {expected_normal!r}")
    if tol.shape != (len(p),) or not (np.isfinite(tol).all() and (tol > 0).all()):
        raise InputError(f"fit_face_plane: tolerance must hold one finite value > 0 per point ({len(p)}), got {tol.shape}")
    if not (0 < max_angle_deg < 90 and int(hypotheses) >= 1 and int(min_inliers) >= 3):
        raise InputError("fit_face_plane: need 0 < max_angle_deg < 90, hypotheses >= 1 and min_inliers >= 3; got "
                         f"{max_angle_deg}, {hypotheses}, {min_inliers}")
    n0 = n0 / np.linalg.norm(n0)
    if len(p) < int(min_inliers):
        return None
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    cos_max = float(np.cos(np.deg2rad(max_angle_deg)))
    tri = p[rng.integers(0, len(p), size=(int(hypotheses), 3))]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norms = np.linalg.norm(normals, axis=1)
    ok = norms > 1e-12
    normals = normals[ok] / norms[ok, None]
    normals *= np.where(normals @ n0 < 0, -1.0, 1.0)[:, None]
    facing = normals @ n0 >= cos_max
    if not facing.any():
        return None
    normals = normals[facing]
    offsets = np.einsum("ij,ij->i", normals, tri[ok][facing, 0])
    counts = np.count_nonzero(np.abs(p @ normals.T - offsets) <= tol[:, None], axis=0)
    best = int(np.argmax(counts))
    normal, offset = normals[best], float(offsets[best])
    for _ in range(2):
        inliers = np.abs(p @ normal - offset) <= tol
        if int(inliers.sum()) < int(min_inliers):
            return None
        fit = fit_plane_least_squares(p[inliers], 1.0 / tol[inliers] ** 2)
        if fit is None:
            return None
        normal, d = fit  # normal @ x + d = 0
        normal, offset = (normal, -d) if normal @ n0 >= 0 else (-normal, d)
    inliers = np.abs(p @ normal - offset) <= tol
    if float(normal @ n0) < cos_max or int(inliers.sum()) < int(min_inliers):
        return None
    return FacePlane(normal, offset, inliers)


class TopEdgeSeeds(NamedTuple):
    """Predictions moved to the observed top edge: ``xyz`` ``(K, 3)`` (the input where not
    ``moved``), ``moved`` ``(K,)`` bool."""

    xyz: np.ndarray
    moved: np.ndarray


def seed_at_top_edge(predicted: np.ndarray, outward: np.ndarray, points: np.ndarray, *, reach: float,
                     band: float = 0.03, top_quantile: float = 0.99, end_quantile: float = 0.98,
                     min_points: int = 20, min_band_points: int = 10) -> TopEdgeSeeds:
    """Move predictions of corners at an end of an object's top edge (a backrest's top corners)
    onto the observed top, before :func:`find_box_corners` looks for them there.

    ``predicted`` ``(K, 3)`` and ``points`` ``(N, 3)`` lie in one frame whose +z points up
    (metres); ``outward`` ``(K, 3)``: the direction the edge runs out along at each corner (its
    horizontal part is used; zero: height only). Among the points within ``reach`` of a
    prediction horizontally and vertically (at least ``min_points``), the prediction takes the
    ``top_quantile`` of their heights; among those within ``band`` below that top (at least
    ``min_band_points``), it moves along ``outward`` to their ``end_quantile``. A similarity fit
    misses such a corner by the instance's own proportions (a chair's backrest rises 0.30-0.50 m
    above the seat and is 0.85-1.0 times its width), often beyond the corner search's radius.
    """
    pred = np.asarray(predicted, dtype=np.float64)
    out_dir = np.asarray(outward, dtype=np.float64)
    pts = np.asarray(points, dtype=np.float64)
    if pred.ndim != 2 or pred.shape[1] != 3 or not np.isfinite(pred).all():
        raise InputError(f"seed_at_top_edge: predicted must be finite (K, 3), got {pred.shape}")
    if out_dir.shape != pred.shape or not np.isfinite(out_dir).all():
        raise InputError(f"seed_at_top_edge: outward must be finite {pred.shape}, got {out_dir.shape}")
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InputError(f"seed_at_top_edge: points must be (N, 3), got {pts.shape}")
    if not (reach > 0 and band > 0 and 0.5 <= top_quantile <= 1.0 and 0.5 <= end_quantile <= 1.0
            and int(min_points) >= 1 and int(min_band_points) >= 1):
        raise InputError("seed_at_top_edge: need reach, band > 0, top_quantile and end_quantile in [0.5, 1], "
                         f"min_points, min_band_points >= 1; got {reach}, {band}, {top_quantile}, {end_quantile}, "
                         f"{min_points}, {min_band_points}")
    pts = pts[np.isfinite(pts).all(axis=1)]
    out = pred.copy()
    moved = np.zeros(len(pred), dtype=bool)
    for k, (p0, d) in enumerate(zip(pred, out_dir)):
        near = (np.hypot(pts[:, 0] - p0[0], pts[:, 1] - p0[1]) <= reach) & (np.abs(pts[:, 2] - p0[2]) <= reach)
        if int(near.sum()) < int(min_points):
            continue
        top = float(np.quantile(pts[near, 2], top_quantile))
        out[k, 2], moved[k] = top, True
        horizontal = np.array([d[0], d[1], 0.0])
        length = float(np.linalg.norm(horizontal))
        rim = near & (pts[:, 2] >= top - band)
        if length > 1e-9 and int(rim.sum()) >= int(min_band_points):
            horizontal /= length
            end = float(np.quantile(pts[rim] @ horizontal, end_quantile))
            out[k] += horizontal * (end - float(out[k] @ horizontal))
    return TopEdgeSeeds(out, moved)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _outer_dense_window(along: np.ndarray, band: float, fraction: float = OUTER_LAYER_FRACTION) -> np.ndarray:
    """Points of the outermost window ``2 band`` wide along the normal that holds at least
    ``fraction`` as many points as the densest such window: the face itself, not an inset face
    behind it, and not the few noisy points in front of it. On one noisy face the window at half
    the densest starts at the median, so the plane (its points' median) lies about 0.67 sigma out;
    re-centring on the points within ``band`` of it measured worse on the chair (visible PCK@2cm
    0.528 -> 0.505, 80 tuning frames). ``fraction`` 1: the densest window (a face nothing lies
    behind)."""
    order = np.sort(along)
    counts = np.searchsorted(order, order + 2.0 * band, side="right") - np.arange(len(order))
    start = order[np.flatnonzero(counts >= fraction * counts.max())[-1]]
    return (along >= start) & (along <= start + 2.0 * band)
