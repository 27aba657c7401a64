"""Point-cloud samples for the 3D embedding model (seed 000, CPNet): seeded, reproducible.

A sample is a point cloud of one category instance plus, for every category keypoint, the index
of the cloud point that belongs to the keypoint's *correspondence set* (``-1`` = absent). The
losses in :mod:`semcorr_core.losses` consume the batches as they come out of :func:`collate`:
``embeddings (B, N, D)`` from the model and ``batch["keypoint_index"] (B, K)``, with the Eq. 2
margins from :func:`set_distance_matrix` (or :attr:`PointCloudDataset.set_distance`).

Two kinds of clouds:

* :func:`complete_cloud` - the whole surface, area-weighted uniform samples
  (:func:`sample_surface`), optionally under a random similarity transform (rotation, scale,
  translation) that is returned so targets can be mapped back.
* :func:`partial_cloud` - one view from the real renderer
  (:class:`semcorr_core.data.render.RaycastRenderer`): the shape alone on its support plane, a
  small image (160x120 by default), the (noisy) depth of the object's pixels back-projected to the
  camera frame, the exact canonical coordinate of each pixel taken from the ground-truth map.
  ``frame="gravity"`` expresses it in the support-plane frame of
  :func:`~semcorr_core.geometry.gravity_frame` (what the RGB-D pipeline gets from its plane fit),
  where the object stands upright and only its heading is unknown.

Keypoints as points (the *anchor* of each keypoint, :class:`KeypointAnchors`):

* A keypoint that lies on the mesh (closer than ``surface_tol`` = 0.1 mm; decided geometrically,
  so meshes from any source work) is its own anchor.
* A keypoint off the surface (mug/bowl ``rim_center``, bottle ``neck``/``shoulder``, can
  centres: points on the axis) is replaced by the **closest surface point**. On a surface of
  revolution every point of a ring is closest; to make the choice unique and the same for every
  instance we query from the keypoint nudged by 0.5 % of the bounding-box diagonal towards
  canonical +x, which picks the ring point on the +x side (the distance to the surface changes by
  at most the nudge). Except: an axis keypoint with such a ring whose horizontal ray towards +x meets
  the surface at a non-grazing angle (face normal more than ~8 degrees from vertical) is anchored at
  that hit, at its own height - a bottle's ``shoulder`` on the shoulder where the radius is half-way
  down to the neck, where the definition puts it, rather than the closest point, which slides
  towards the neck by an amount that varies between instances. (A ray at a mug's or bowl's rim
  height only grazes the rim top: those keep the closest point.) The canonical keypoint itself stays in ``EmbeddingSample.keypoints`` for
  keypoint-transfer evaluation; the anchor is what the correspondence set holds and what
  :func:`set_distance_matrix` measures from.

In a complete cloud the anchor point is inserted exactly: it replaces the sampled point nearest
to it (rather than a random one, so the density of the cloud stays uniform). In a partial cloud
the member of set ``k`` is the visible object pixel whose canonical coordinate is nearest to the
anchor, if it lies within ``keypoint_tol`` (5 mm, or 2 pixel footprints when pixels are
larger, see :class:`PartialViewConfig`) *and* its surface faces the same way as the anchor's
(cosine between its face normal and the anchor normal >= ``normal_cos_min`` = 0.25; the anchor
normal bisects the faces meeting at an edge or corner, so e.g. both faces at a mug's rim edge
pass). This rejects the other side of a thin wall (the inside of a mug's floor for
``bottom_center``) and a perpendicular side (a chair leg's side for its floor contact); that pixel is always kept
when the cloud is resampled to ``n_points`` (it replaces the nearest resampled point). A keypoint
on the far side of the object therefore comes out ``-1``.

Reproducibility: every function draws only from the ``numpy.random.Generator`` it is given;
:class:`PointCloudDataset` derives the generator of sample ``i`` from ``(seed, i)`` alone, so any
number of DataLoader workers or DDP ranks produce the same sample ``i``.

Speed (measured on the 2-core CPU dev box, one process, N = 1024, through
``PointCloudDataset.__getitem__``): complete ~1 ms per sample; partial 15-30 ms with
farthest-point resampling (mug ~16-19 ms; chair/bottle ~26-30 ms, they usually need the 2x re-render),
8-16 ms with ``resample="random"``. :func:`set_distance_matrix` costs ~0.2 s per mug.
"""

from __future__ import annotations

import atexit
import math
import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import open3d as o3d
import torch
from scipy.spatial import cKDTree
from torch.utils.data import Dataset

from semcorr_core.data.categories import get_category
from semcorr_core.data.render import DepthNoiseConfig, RaycastRenderer, SceneConfig, sample_scene
from semcorr_core.data.shape import ShapeInstance
from semcorr_core.errors import InputError
from semcorr_core.geometry.geodesic import GeodesicSolver
from semcorr_core.geometry.transforms import gravity_frame, make_transform, random_rotation

__all__ = [
    "SurfaceSample",
    "KeypointAnchors",
    "PreparedShape",
    "PartialViewConfig",
    "EmbeddingSample",
    "prepare_shape",
    "keypoint_anchors",
    "sample_surface",
    "complete_cloud",
    "partial_cloud",
    "collate",
    "PointCloudDataset",
    "keypoint_geodesics",
    "set_distance_matrix",
    "sample_rng",
    "random_similarity",
    "parts_seen",
]

Mode = Literal["complete", "partial", "mixed"]
_SURFACE_TOL = 1e-4
_AXIS_NUDGE = 0.005  # fraction of the bbox diagonal, towards canonical +x
_WALL_NZ = 0.99  # |normal z| below this: not grazing (an axis keypoint's anchor at its own height)


# --------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------


@dataclass
class SurfaceSample:
    """Area-weighted uniform samples of a mesh surface, canonical frame.

    points: ``(N, 3)`` float64 canonical xyz (= barycentric interpolation of the face);
    face_ids: ``(N,)`` int64; barycentric: ``(N, 3)`` float64; normals: ``(N, 3)`` float64 unit
    face normals (outward for the outward-oriented procedural meshes).
    """

    points: np.ndarray
    face_ids: np.ndarray
    barycentric: np.ndarray
    normals: np.ndarray


@dataclass
class KeypointAnchors:
    """The surface point that stands for each keypoint (see the module docstring).

    names: keypoint names (columns of ``keypoint_index``); present: ``(K,)`` bool, the shape has
    the keypoint; keypoints: ``(K, 3)`` canonical keypoints (NaN where absent); xyz: ``(K, 3)``
    anchors on the surface (= keypoint when on_surface); face / barycentric: where the anchor lies
    on the mesh; normal: ``(K, 3)`` surface normal there (mean of the faces touching the anchor,
    so an anchor on an edge or corner gets the bisector); on_surface: ``(K,)`` bool; offset: ``(K,)``
    distance keypoint -> anchor (0 for surface keypoints). Absent keypoints: face -1, NaN xyz.
    """

    names: tuple[str, ...]
    present: np.ndarray
    keypoints: np.ndarray
    xyz: np.ndarray
    face: np.ndarray
    barycentric: np.ndarray
    normal: np.ndarray
    on_surface: np.ndarray
    offset: np.ndarray


@dataclass
class PreparedShape:
    """A shape with the per-mesh tables sampling needs (face normals, area table, anchors).
    Build once with :func:`prepare_shape`; every function here also accepts a plain
    :class:`ShapeInstance` (and prepares it on the fly, costing ~1 ms)."""

    shape: ShapeInstance
    face_normals: np.ndarray  # (F, 3)
    cum_area: np.ndarray  # (F,) cumulative face areas
    anchors: KeypointAnchors

    @property
    def keypoint_names(self) -> tuple[str, ...]:
        return self.anchors.names


@dataclass(frozen=True)
class PartialViewConfig:
    """How single-view clouds are rendered (angles in degrees, lengths in metres).

    The depth noise default scales the hole sizes of :class:`DepthNoiseConfig` (made for 640x480)
    down to the small image. A keypoint's tolerance is ``max(keypoint_tol, keypoint_tol_px x the
    pixel footprint z / fx at the anchor's depth)``: at 160x120 a chair 2 m away has ~1.3 cm
    pixels, and a fixed 5 mm would miss most of its visible keypoints.

    Thin objects (bottles, chairs) cover only a few hundred pixels at 160x120; when a view has
    fewer valid object pixels than the cloud needs, the same scene is rendered again at
    ``sparse_upscale`` x the resolution (same camera pose and field of view; 1 = never).
    """

    width: int = 160
    height: int = 120
    hfov_deg: float = 55.0
    elevation_deg: tuple[float, float] = (5.0, 80.0)
    fill_fraction: tuple[float, float] = (0.35, 0.8)
    depth_noise: DepthNoiseConfig = field(default_factory=lambda: DepthNoiseConfig(hole_radius_px=(1, 3)))
    keypoint_tol: float = 0.005
    keypoint_tol_px: float = 2.0
    normal_cos_min: float = 0.25
    min_points: int = 32
    max_attempts: int = 8
    sparse_upscale: int = 2

    def scene_config(self) -> SceneConfig:
        return SceneConfig(
            width=self.width,
            height=self.height,
            hfov_deg=self.hfov_deg,
            objects_per_scene=(1, 1),
            distractors_per_scene=(0, 0),
            elevation_deg=self.elevation_deg,
            fill_fraction=self.fill_fraction,
        )


@dataclass
class EmbeddingSample:
    """One training/evaluation sample of the 3D embedding model.

    points: ``(N, 3)`` float32 in the sample frame (camera optical frame for partial clouds, the
    similarity-transformed frame for complete ones; minus the centroid when centred).
    canonical: ``(N, 3)`` float32 exact canonical coordinate of each point's surface point.
    normals: ``(N, 3)`` float32 outward face normals in the sample frame. face_id: ``(N,)`` int64.
    keypoint_index: ``(K,)`` int64 index into ``points`` of each correspondence-set member, -1 absent.
    keypoints: ``(K, 3)`` float32 canonical keypoints (the definitions, NaN where the shape has none).
    anchors: ``(K, 3)`` float32 canonical anchors (what ``canonical[keypoint_index]`` equals for
    complete clouds, to within ``keypoint_tol`` for partial ones).
    keypoint_visible: ``(K,)`` bool, the renderer's ray test for the canonical keypoint (partial);
    all True for complete clouds.
    transform: ``(4, 4)`` float64 canonical -> sample frame (similarity; for partial clouds the
    object pose, which the depth noise makes approximate).
    """

    points: np.ndarray
    canonical: np.ndarray
    normals: np.ndarray
    face_id: np.ndarray
    keypoint_index: np.ndarray
    keypoints: np.ndarray
    anchors: np.ndarray
    keypoint_visible: np.ndarray
    transform: np.ndarray
    keypoint_names: tuple[str, ...]
    shape_id: str
    category: str
    mode: str
    shape_index: int = -1
    index: int = -1


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        raise InputError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise InputError(
            f"rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(seed)), got {type(rng).__name__}"
        )
    return rng


def _check_range(r, name: str, lo_min: float) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in r)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a (min, max) pair, got {r!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo_min <= lo <= hi):
        raise InputError(f"{name} must satisfy {lo_min} <= min <= max (finite), got {r!r}")
    return lo, hi


def _prepared(shape: ShapeInstance | PreparedShape, keypoint_names=None) -> PreparedShape:
    if isinstance(shape, PreparedShape):
        if keypoint_names is not None and tuple(keypoint_names) != shape.keypoint_names:
            return prepare_shape(shape.shape, keypoint_names)
        return shape
    if isinstance(shape, ShapeInstance):
        return prepare_shape(shape, keypoint_names)
    raise InputError(f"expected a ShapeInstance or PreparedShape, got {type(shape).__name__}")


# --------------------------------------------------------------------------------------------
# per-shape tables
# --------------------------------------------------------------------------------------------


def _face_geometry(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tri = vertices[faces]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    dbl = np.linalg.norm(cross, axis=1)
    normals = cross / np.maximum(dbl, 1e-300)[:, None]
    return normals, 0.5 * dbl


def _barycentric_of(tri: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Barycentric weights of ``p`` projected onto the plane of triangle ``tri`` (3, 3)."""
    e1, e2, d = tri[1] - tri[0], tri[2] - tri[0], p - tri[0]
    g = np.array([[e1 @ e1, e1 @ e2], [e1 @ e2, e2 @ e2]])
    try:
        u, v = np.linalg.solve(g, np.array([d @ e1, d @ e2]))
    except np.linalg.LinAlgError:
        return np.array([1.0, 0.0, 0.0])
    return np.array([1.0 - u - v, u, v])


_DIRS = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1) if (i, j, k) != (0, 0, 0)], float)
_DIRS /= np.linalg.norm(_DIRS, axis=1, keepdims=True)


def _touching_normals(scene, face_normals: np.ndarray, points: np.ndarray, eps: float, fallback: np.ndarray) -> np.ndarray:
    """Mean of the distinct normals of the faces that touch each point (closest faces of 26
    queries ``eps`` away): a point on an edge or corner gets the bisecting direction, so faces on
    either side count as facing the same way."""
    eps = max(float(eps), 1e-6)
    q = (points[:, None, :] + eps * _DIRS[None]).reshape(-1, 3)
    res = scene.compute_closest_points(o3d.core.Tensor(q.astype(np.float32)))
    fids = res["primitive_ids"].numpy().astype(np.int64).reshape(len(points), -1)
    near = np.linalg.norm(res["points"].numpy().reshape(len(points), -1, 3) - points[:, None], axis=2) <= 3 * eps
    out = fallback.copy()
    for i in range(len(points)):
        ns = face_normals[fids[i][near[i]]]
        if not len(ns):
            continue
        ns = np.unique(np.round(ns, 3), axis=0)
        m = ns.sum(0)
        if np.linalg.norm(m) > 1e-6:
            out[i] = m / np.linalg.norm(m)
    return out


def keypoint_anchors(
    shape: ShapeInstance, keypoint_names: Sequence[str] | None = None, *, surface_tol: float = _SURFACE_TOL
) -> KeypointAnchors:
    """Anchor of each keypoint on the surface of ``shape`` (see the module docstring).

    keypoint_names: the columns (default: the shape's own keypoints, in order); names the shape
    lacks come out absent.
    """
    if not isinstance(shape, ShapeInstance):
        raise InputError(f"keypoint_anchors: expected a ShapeInstance, got {type(shape).__name__}")
    names = tuple(shape.keypoint_names if keypoint_names is None else keypoint_names)
    if isinstance(keypoint_names, str) or not all(isinstance(n, str) for n in names):
        raise InputError("keypoint_names must be a sequence of keypoint names (str)")
    if len(set(names)) != len(names):
        raise InputError(f"keypoint_names must be unique, got {names}")
    K = len(names)
    present = np.array([n in shape.keypoints for n in names], dtype=bool)
    kps = np.full((K, 3), np.nan)
    for k, n in enumerate(names):
        if present[k]:
            kps[k] = shape.keypoints[n]
    xyz = np.full((K, 3), np.nan)
    face = np.full(K, -1, np.int64)
    bary = np.zeros((K, 3))
    normal = np.zeros((K, 3))
    on_surface = np.zeros(K, bool)
    offset = np.full(K, np.nan)
    if present.any():
        if not np.isfinite(kps[present]).all():
            raise InputError(f"shape {shape.instance_id}: keypoints must be finite")
        V, F = shape.vertices, shape.faces
        fn, _ = _face_geometry(V, F)
        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(o3d.core.Tensor(V.astype(np.float32)), o3d.core.Tensor(F.astype(np.uint32)))
        q = kps[present]
        first = scene.compute_closest_points(o3d.core.Tensor(q.astype(np.float32)))
        dist = np.linalg.norm(first["points"].numpy().astype(np.float64) - q, axis=1)
        on = dist <= surface_tol
        nudge = np.array([_AXIS_NUDGE * shape.bbox_diagonal(), 0.0, 0.0])
        q2 = np.where(on[:, None], q, q + nudge)
        res = scene.compute_closest_points(o3d.core.Tensor(q2.astype(np.float32)))
        fids = res["primitive_ids"].numpy().astype(np.int64)
        uv = res["primitive_uvs"].numpy().astype(np.float64)
        # an axis keypoint whose closest surface points form a ring, and that the surface surrounds
        # at its own height (bottle shoulder: half-way down the narrowing), is anchored there
        # straight out along +x; the closest point would slide along a sloping shoulder by an amount
        # that differs from bottle to bottle. A closest point on the axis itself (a can's domed base
        # above its bottom_center) is unique and stays.
        ring = np.hypot(*first["points"].numpy().astype(np.float64)[:, :2].T) > 0.02 * shape.bbox_diagonal()
        axis = ~on & ring & (np.hypot(q[:, 0], q[:, 1]) < 1e-9)
        if axis.any():
            rays = np.concatenate([q[axis], np.tile([1.0, 0.0, 0.0], (int(axis.sum()), 1))], axis=1)
            hit = scene.cast_rays(o3d.core.Tensor(rays.astype(np.float32)))
            t_hit = hit["t_hit"].numpy()
            hit_f = hit["primitive_ids"].numpy().astype(np.int64)
            hit_uv = hit["primitive_uvs"].numpy().astype(np.float64)
            wall = np.isfinite(t_hit) & (np.abs(fn[np.where(np.isfinite(t_hit), hit_f, 0), 2]) < _WALL_NZ)
            rows = np.flatnonzero(axis)[wall]
            fids[rows], uv[rows] = hit_f[wall], hit_uv[wall]
        for j, k in enumerate(np.flatnonzero(present)):
            f = fids[j]
            tri = V[F[f]]
            if on[j]:
                b = _barycentric_of(tri, q[j])
                p = q[j]  # exact, the keypoint itself
            else:
                b = np.array([1.0 - uv[j, 0] - uv[j, 1], uv[j, 0], uv[j, 1]])
                p = b @ tri
            xyz[k], face[k], bary[k], normal[k], on_surface[k] = p, f, b, fn[f], on[j]
            offset[k] = 0.0 if on[j] else float(np.linalg.norm(p - q[j]))
        normal[present] = _touching_normals(scene, fn, xyz[present], 1e-4 * shape.bbox_diagonal(), normal[present])
    return KeypointAnchors(names, present, kps, xyz, face, bary, normal, on_surface, offset)


def prepare_shape(shape: ShapeInstance, keypoint_names: Sequence[str] | None = None) -> PreparedShape:
    """Precompute face normals, the area table and keypoint anchors of ``shape``."""
    if not isinstance(shape, ShapeInstance):
        raise InputError(f"prepare_shape: expected a ShapeInstance, got {type(shape).__name__}")
    if len(shape.faces) == 0:
        raise InputError(f"shape {shape.instance_id} has no faces; a point cloud needs a triangle mesh")
    normals, area = _face_geometry(shape.vertices, shape.faces)
    cum = np.cumsum(area)
    if not (np.isfinite(cum[-1]) and cum[-1] > 0):
        raise InputError(f"shape {shape.instance_id} has zero or non-finite surface area; check its vertices")
    return PreparedShape(shape, normals, cum, keypoint_anchors(shape, keypoint_names))


# --------------------------------------------------------------------------------------------
# sampling
# --------------------------------------------------------------------------------------------


def sample_surface(shape: ShapeInstance | PreparedShape, n_points: int, rng: np.random.Generator) -> SurfaceSample:
    """``n_points`` area-weighted uniform samples of the surface (canonical frame)."""
    n = _check_int(n_points, "n_points", 1)
    rng = _check_rng(rng)
    ps = _prepared(shape)
    s = ps.shape
    fids = np.searchsorted(ps.cum_area, rng.random(n) * ps.cum_area[-1], side="right")
    fids = np.minimum(fids, len(ps.cum_area) - 1).astype(np.int64)
    r = rng.random((n, 2))
    sq = np.sqrt(r[:, 0])
    bary = np.stack([1.0 - sq, sq * (1.0 - r[:, 1]), sq * r[:, 1]], axis=1)
    pts = s.surface_points(fids, bary)
    return SurfaceSample(pts, fids, bary, ps.face_normals[fids])


def _fps(points: np.ndarray, k: int, start: int) -> np.ndarray:
    """Farthest-point sampling, float32, columns kept apart (the loop is bound by numpy call
    overhead; this is ~3x faster than the general float64 routine for ~5k points)."""
    x, y, z = (np.ascontiguousarray(points[:, i], dtype=np.float32) for i in range(3))
    n = len(x)
    out = np.empty(k, np.int64)
    d = np.full(n, np.inf, np.float32)
    tmp, t2 = np.empty(n, np.float32), np.empty(n, np.float32)
    j = start
    for i in range(k):
        out[i] = j
        np.subtract(x, x[j], out=tmp)
        np.multiply(tmp, tmp, out=tmp)
        np.subtract(y, y[j], out=t2)
        np.multiply(t2, t2, out=t2)
        np.add(tmp, t2, out=tmp)
        np.subtract(z, z[j], out=t2)
        np.multiply(t2, t2, out=t2)
        np.add(tmp, t2, out=tmp)
        np.minimum(d, tmp, out=d)
        d[j] = -1.0
        j = int(np.argmax(d))
    return out


def _resample(points: np.ndarray, n: int, rng: np.random.Generator, method: str) -> np.ndarray:
    """Indices of ``n`` points of ``points``: all of them plus random repeats when there are too
    few, else FPS or a random subset."""
    m = len(points)
    if m <= n:
        extra = rng.integers(0, m, n - m) if n > m else np.zeros(0, np.int64)
        return np.concatenate([rng.permutation(m), extra]).astype(np.int64)
    if method == "fps":
        return _fps(points, n, int(rng.integers(m)))
    return np.sort(rng.choice(m, n, replace=False)).astype(np.int64)


def _insert_members(points: np.ndarray, sel: np.ndarray, members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Make sure each member (an index into ``points``) is in ``sel``: a missing one replaces the
    selected point nearest to it that is not itself a member. Returns (sel, position of each
    member in sel)."""
    sel = sel.copy()
    pos = np.full(len(members), -1, np.int64)
    where = {int(v): i for i, v in enumerate(sel)}
    taken = np.zeros(len(sel), bool)
    for i, m in enumerate(members):
        if int(m) in where:
            pos[i] = where[int(m)]
            taken[pos[i]] = True
    for i, m in enumerate(members):
        if pos[i] >= 0:
            continue
        if int(m) in where:  # a duplicate member placed a moment ago
            pos[i] = where[int(m)]
            continue
        d = np.sum((points[sel] - points[m]) ** 2, axis=1)
        d[taken] = np.inf
        j = int(np.argmin(d))
        del where[int(sel[j])]
        sel[j] = m
        where[int(m)] = j
        taken[j] = True
        pos[i] = j
    return sel, pos


def _jitter(points: np.ndarray, normals: np.ndarray, rng: np.random.Generator, std: float, mode: str) -> np.ndarray:
    """Seed-001 style corruption: Gaussian noise near the surface (along the normal, or isotropic)."""
    if std <= 0:
        return points
    if mode == "normal":
        return points + normals * rng.normal(0.0, std, (len(points), 1))
    return points + rng.normal(0.0, std, points.shape)


def _check_frame(frame) -> str:
    if frame not in ("camera", "gravity"):
        raise InputError(f"frame must be 'camera' or 'gravity', got {frame!r}")
    return frame


def _check_jitter(std, mode) -> float:
    std = float(std)
    if not (math.isfinite(std) and std >= 0):
        raise InputError(f"jitter_std must be finite and >= 0 (metres), got {std}")
    if mode not in ("normal", "isotropic"):
        raise InputError(f"jitter_mode must be 'normal' or 'isotropic', got {mode!r}")
    return std


def random_similarity(
    rng: np.random.Generator,
    *,
    scale_range: tuple[float, float] = (0.8, 1.25),
    translation_range: float = 0.1,
    rotation: str = "so3",
) -> np.ndarray:
    """4x4 ``x -> s R x + t``: R uniform on SO(3) (``"so3"``), about +z (``"z"``) or identity
    (``"none"``); ``s`` log-uniform in ``scale_range``; ``t`` uniform in ``[-translation_range, +]^3``."""
    lo, hi = _check_range(scale_range, "scale_range", 1e-6)
    tr = float(translation_range)
    if not (math.isfinite(tr) and tr >= 0):
        raise InputError(f"translation_range must be finite and >= 0 (metres), got {translation_range}")
    if rotation == "so3":
        R = random_rotation(rng)
    elif rotation == "z":
        a = rng.uniform(0, 2 * math.pi)
        R = np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])
    elif rotation == "none":
        R = np.eye(3)
    else:
        raise InputError(f"rotation must be 'so3', 'z' or 'none', got {rotation!r}")
    s = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    t = rng.uniform(-tr, tr, 3)
    return make_transform(R, t, s)


def complete_cloud(
    shape: ShapeInstance | PreparedShape,
    n_points: int,
    rng: np.random.Generator,
    *,
    similarity: bool = True,
    scale_range: tuple[float, float] = (0.8, 1.25),
    translation_range: float = 0.1,
    rotation: str = "so3",
    jitter_std: float = 0.0,
    jitter_mode: str = "normal",
    keypoint_names: Sequence[str] | None = None,
) -> EmbeddingSample:
    """Whole-surface cloud of ``n_points`` with every present keypoint anchor as an exact point.

    similarity: apply :func:`random_similarity` (``scale_range``, ``translation_range``,
    ``rotation``) to points and normals; ``sample.transform`` maps canonical -> points, so
    ``apply_transform(invert_transform(sample.transform), sample.points)`` gives back the
    canonical coordinates (up to float32 and ``jitter_std``). jitter_std: Gaussian noise (metres,
    in the canonical scale) added along the normal or isotropically (``jitter_mode``) before the
    transform; ``canonical`` keeps the exact surface points.
    """
    n = _check_int(n_points, "n_points", 1)
    rng = _check_rng(rng)
    std = _check_jitter(jitter_std, jitter_mode)
    ps = _prepared(shape, keypoint_names)
    a = ps.anchors
    K = len(a.names)
    n_present = int(a.present.sum())
    if n_present > n:
        raise InputError(f"n_points={n} cannot hold the {n_present} keypoint points; use n_points >= {n_present}")
    surf = sample_surface(ps, n, rng)
    pts, fids, nrm = surf.points, surf.face_ids, surf.normals
    kp_index = np.full(K, -1, np.int64)
    present = np.flatnonzero(a.present)
    if len(present):
        # candidate pool = samples + anchors appended; members are the appended rows
        pool = np.concatenate([pts, a.xyz[present]])
        members = np.arange(n, n + len(present))
        sel, pos = _insert_members(pool, np.arange(n), members)
        pts = pool[sel]
        fids = np.concatenate([fids, a.face[present]])[sel]
        nrm = np.concatenate([nrm, a.normal[present]])[sel]
        kp_index[present] = pos
    canonical = pts.copy()
    pts = _jitter(pts, nrm, rng, std, jitter_mode)
    T = random_similarity(rng, scale_range=scale_range, translation_range=translation_range, rotation=rotation) \
        if similarity else np.eye(4)
    R = T[:3, :3] / np.cbrt(np.linalg.det(T[:3, :3]))
    return EmbeddingSample(
        points=(pts @ T[:3, :3].T + T[:3, 3]).astype(np.float32),
        canonical=canonical.astype(np.float32),
        normals=(nrm @ R.T).astype(np.float32),
        face_id=fids.astype(np.int64),
        keypoint_index=kp_index,
        keypoints=a.keypoints.astype(np.float32),
        anchors=a.xyz.astype(np.float32),
        keypoint_visible=a.present.copy(),
        transform=T,
        keypoint_names=a.names,
        shape_id=ps.shape.instance_id,
        category=ps.shape.category,
        mode="complete",
    )


_RENDERERS: dict[tuple, RaycastRenderer] = {}
atexit.register(_RENDERERS.clear)  # free Open3D tensors before Open3D's own exit report


def _renderer(cfg: SceneConfig) -> RaycastRenderer:
    key = (cfg.width, cfg.height, cfg.hfov_deg, os.getpid())
    r = _RENDERERS.get(key)
    if r is None:
        if len(_RENDERERS) > 8:
            _RENDERERS.clear()
        r = _RENDERERS[key] = RaycastRenderer(cfg.camera())
    return r


def partial_cloud(
    shape: ShapeInstance | PreparedShape,
    n_points: int,
    rng: np.random.Generator,
    *,
    noise: bool = True,
    view: PartialViewConfig = PartialViewConfig(),
    resample: str = "fps",
    jitter_std: float = 0.0,
    jitter_mode: str = "normal",
    keypoint_names: Sequence[str] | None = None,
    frame: str = "camera",
) -> EmbeddingSample:
    """Single-view cloud of ``shape`` from the ray-casting renderer, in the camera optical frame
    (``frame="camera"``) or in the gravity-aligned frame of :func:`gravity_frame` built from the
    support-plane normal and the optical axis (``frame="gravity"``: z up, heading from the
    camera; the object then stands upright, rotated about z by the viewing azimuth).

    The shape stands alone on its support plane (no distractors); the camera elevation, distance
    and azimuth are drawn as in :func:`sample_scene` with ``view``'s ranges. Points are the
    back-projected (noisy when ``noise``, with ``view.depth_noise``) depth of the object's pixels;
    pixels that lost their reading are dropped. ``canonical`` is the exact ground truth of each
    pixel. Resampled to ``n_points`` by farthest-point sampling (``resample="fps"``) or a random
    subset (``"random"``); with fewer pixels than ``n_points`` every pixel is kept and random ones
    repeat. Keypoint members and absence: see the module docstring (``view.keypoint_tol``,
    ``view.keypoint_tol_px``, ``view.normal_cos_min``). A view with fewer than ``view.min_points`` valid object pixels is
    redrawn (up to ``view.max_attempts`` times, then :class:`InputError`); a view with fewer than
    ``n_points`` is rendered again at ``view.sparse_upscale`` x the resolution.
    """
    n = _check_int(n_points, "n_points", 1)
    rng = _check_rng(rng)
    std = _check_jitter(jitter_std, jitter_mode)
    if resample not in ("fps", "random"):
        raise InputError(f"resample must be 'fps' or 'random', got {resample!r}")
    _check_frame(frame)
    if not isinstance(view, PartialViewConfig):
        raise InputError(f"view must be a PartialViewConfig, got {type(view).__name__}")
    if not (view.keypoint_tol > 0 and math.isfinite(view.keypoint_tol)):
        raise InputError(f"view.keypoint_tol must be > 0 (metres), got {view.keypoint_tol}")
    ps = _prepared(shape, keypoint_names)
    s, a = ps.shape, ps.anchors
    cfg = view.scene_config()
    renderer = _renderer(cfg)
    noise_cfg = view.depth_noise if noise else replace(view.depth_noise, enabled=False)
    for _ in range(max(1, int(view.max_attempts))):
        scene = sample_scene([], rng, cfg, primary=s)
        rendered = renderer.render(scene, rng, noise_cfg, color_noise_std=0.0)
        valid = (rendered.instance_mask == 1) & (rendered.depth > 0)
        if int(valid.sum()) >= view.min_points:
            break
    else:
        raise InputError(
            f"partial_cloud: no view of {s.instance_id} left {view.min_points} valid object pixels in "
            f"{view.max_attempts} attempts; use a larger image or fill_fraction, or less depth noise"
        )
    if int(valid.sum()) < n and int(view.sparse_upscale) > 1:
        f = int(view.sparse_upscale)
        big = replace(cfg, width=cfg.width * f, height=cfg.height * f)
        scene.camera = big.camera()
        rendered = _renderer(big).render(scene, rng, noise_cfg, color_noise_std=0.0)
        valid = (rendered.instance_mask == 1) & (rendered.depth > 0)
    ys, xs = np.nonzero(valid)
    d = rendered.depth[ys, xs].astype(np.float64)
    cam = rendered.camera
    pts = np.stack([(xs - cam.cx) / cam.fx * d, (ys - cam.cy) / cam.fy * d, d], axis=1)
    canon = rendered.canonical[ys, xs].astype(np.float64)
    fids = rendered.face_id[ys, xs].astype(np.int64)
    pose = rendered.objects[0].pose
    R = pose[:3, :3]
    nrm_canon = ps.face_normals[fids]

    # correspondence-set members among all valid pixels
    K = len(a.names)
    member = np.full(K, -1, np.int64)
    z_anchor = a.xyz @ R[2] + pose[2, 3]
    for k in np.flatnonzero(a.present):
        tol = max(view.keypoint_tol, view.keypoint_tol_px * max(float(z_anchor[k]), 0.0) / cam.fx)
        dist = np.linalg.norm(canon - a.xyz[k], axis=1)
        ok = (dist <= tol) & (nrm_canon @ a.normal[k] >= view.normal_cos_min)
        if ok.any():
            member[k] = int(np.flatnonzero(ok)[np.argmin(dist[ok])])
    sel = _resample(pts, n, rng, resample)
    kp_index = np.full(K, -1, np.int64)
    have = np.flatnonzero(member >= 0)
    if len(have):
        sel, pos = _insert_members(pts, sel, member[have])
        kp_index[have] = pos
    pts, canon, fids = pts[sel], canon[sel], fids[sel]
    nrm = nrm_canon[sel] @ R.T
    pts = _jitter(pts, nrm, rng, std, jitter_mode)
    transform = pose.copy()
    if frame == "gravity":
        # canonical +z is the support-plane normal: the frame a plane fit gives at run time
        G = np.eye(4)
        G[:3, :3] = gravity_frame(R[:, 2])
        pts, nrm, transform = pts @ G[:3, :3].T, nrm @ G[:3, :3].T, G @ pose
    return EmbeddingSample(
        points=pts.astype(np.float32),
        canonical=canon.astype(np.float32),
        normals=nrm.astype(np.float32),
        face_id=fids,
        keypoint_index=kp_index,
        keypoints=a.keypoints.astype(np.float32),
        anchors=a.xyz.astype(np.float32),
        keypoint_visible=_visible_in_order(rendered.objects[0], a.names),
        transform=transform,
        keypoint_names=a.names,
        shape_id=s.instance_id,
        category=s.category,
        mode="partial",
    )


def parts_seen(face_ids: np.ndarray, shape: ShapeInstance | PreparedShape, min_points: int = 10) -> tuple[str, ...]:
    """Names of the mesh parts of ``shape`` hit by at least ``min_points`` of ``face_ids`` (the
    face of each point of a view, e.g. ``EmbeddingSample.face_id`` or a frame's object pixels;
    negative ids are ignored); empty when the mesh carries no part labels. A sliver of a few points
    at the silhouette does not count as seeing a part."""
    s = shape.shape if isinstance(shape, PreparedShape) else shape
    if s.face_parts is None or not s.part_names:
        return ()
    ids = np.asarray(face_ids).ravel()
    counts = np.bincount(np.asarray(s.face_parts)[ids[ids >= 0]], minlength=len(s.part_names))
    return tuple(name for name, c in zip(s.part_names, counts) if c >= int(min_points))


def _visible_in_order(obj, names: tuple[str, ...]) -> np.ndarray:
    lookup = dict(zip(obj.keypoint_names, np.asarray(obj.keypoints_visible, bool)))
    return np.array([bool(lookup.get(n, False)) for n in names], dtype=bool)


# --------------------------------------------------------------------------------------------
# batching and the dataset
# --------------------------------------------------------------------------------------------


def collate(samples: Sequence[EmbeddingSample]) -> dict:
    """Stack samples (same N and keypoint columns) into a batch for a torch DataLoader.

    Tensors: ``points``, ``canonical``, ``normals`` ``(B, N, 3)`` float32; ``face_id`` ``(B, N)``
    int64; ``keypoint_index`` ``(B, K)`` int64 (-1 absent); ``keypoints``, ``anchors`` ``(B, K, 3)``
    float32; ``keypoint_visible`` ``(B, K)`` bool; ``transform`` ``(B, 4, 4)`` float32;
    ``shape_index``, ``index`` ``(B,)`` int64. Lists: ``shape_id``, ``category``, ``mode``; and
    ``keypoint_names`` (one tuple).
    """
    if not samples or not all(isinstance(s, EmbeddingSample) for s in samples):
        raise InputError("collate: expected a non-empty sequence of EmbeddingSample")
    first = samples[0]
    for s in samples[1:]:
        if s.points.shape != first.points.shape or s.keypoint_names != first.keypoint_names:
            raise InputError(
                "collate: samples differ in point count or keypoint columns "
                f"({s.points.shape} {s.keypoint_names} vs {first.points.shape} {first.keypoint_names}); "
                "draw them with the same n_points and keypoint_names"
            )

    def stack(name, dtype):
        return torch.from_numpy(np.stack([getattr(s, name) for s in samples])).to(dtype)

    return {
        "points": stack("points", torch.float32),
        "canonical": stack("canonical", torch.float32),
        "normals": stack("normals", torch.float32),
        "face_id": stack("face_id", torch.int64),
        "keypoint_index": stack("keypoint_index", torch.int64),
        "keypoints": stack("keypoints", torch.float32),
        "anchors": stack("anchors", torch.float32),
        "keypoint_visible": stack("keypoint_visible", torch.bool),
        "transform": stack("transform", torch.float32),
        "shape_index": torch.tensor([s.shape_index for s in samples], dtype=torch.int64),
        "index": torch.tensor([s.index for s in samples], dtype=torch.int64),
        "shape_id": [s.shape_id for s in samples],
        "category": [s.category for s in samples],
        "mode": [s.mode for s in samples],
        "keypoint_names": first.keypoint_names,
    }


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """Generator of dataset sample ``index`` (depends on ``(seed, index)`` only)."""
    return np.random.default_rng([int(seed), 0x9C1D, int(index)])


class PointCloudDataset(Dataset):
    """Seeded point-cloud samples of one category for the embedding model.

    Args:
        category: category name (keypoint columns in the category's order).
        n_instances: procedural instances ``generate_shapes(category, n_instances, seed)``; or pass
            ``shapes`` (e.g. real meshes with keypoints) instead.
        seed: shapes and samples; sample ``i`` depends on ``(seed, i)`` only (any worker count,
            any DDP rank, any order of access).
        n_points: points per cloud.
        mode: ``"complete"``, ``"partial"`` or ``"mixed"`` (partial with probability
            ``partial_fraction``).
        length: samples per epoch (default ``n_instances``); sample ``i`` shows shape ``i % n``.
        holdout_keypoints: names whose columns are ``-1`` in every sample (a keypoint kept unseen
            in training; evaluate transfer on it with a dataset without the hold-out).
        center: subtract the cloud's centroid from ``points`` (folded into ``transform``).
        noise / view / resample / frame: partial clouds, see :func:`partial_cloud`.
        similarity / scale_range / translation_range / rotation: complete clouds, see
            :func:`complete_cloud`.
        jitter_std / jitter_mode: seed-001 surface noise for both kinds.
        set_distance_shapes: how many instances (the first ones) :attr:`set_distance` averages
            over (``None`` = all).
        cache: keep every sample in memory once drawn. Samples depend on ``(seed, index)`` only,
            so later epochs would render the same views again; with the cache they cost nothing
            (vary them with on-the-fly augmentation instead). Each DataLoader worker process has
            its own cache.
    """

    def __init__(
        self,
        category: str,
        n_instances: int | None = None,
        seed: int = 0,
        n_points: int = 1024,
        mode: Mode = "complete",
        *,
        length: int | None = None,
        shapes: Sequence[ShapeInstance] | None = None,
        holdout_keypoints: Sequence[str] = (),
        partial_fraction: float = 0.5,
        center: bool = True,
        noise: bool = True,
        view: PartialViewConfig = PartialViewConfig(),
        resample: str = "fps",
        similarity: bool = True,
        scale_range: tuple[float, float] = (0.8, 1.25),
        translation_range: float = 0.1,
        rotation: str = "so3",
        jitter_std: float = 0.0,
        jitter_mode: str = "normal",
        set_distance_shapes: int | None = 32,
        frame: str = "camera",
        cache: bool = False,
    ) -> None:
        spec = get_category(category)  # UnknownCategoryError names the known ones
        self.category = spec.name
        self.seed = _check_int(seed, "seed", 0)
        self.n_points = _check_int(n_points, "n_points", 1)
        if mode not in ("complete", "partial", "mixed"):
            raise InputError(f"mode must be 'complete', 'partial' or 'mixed', got {mode!r}")
        self.mode = mode
        if shapes is None:
            if n_instances is None:
                raise InputError("PointCloudDataset: give n_instances (procedural shapes) or shapes")
            from semcorr_core.data.shapes import generate_shapes

            shapes = generate_shapes(self.category, _check_int(n_instances, "n_instances", 1), self.seed)
        else:
            shapes = list(shapes)
            if not shapes or not all(isinstance(s, ShapeInstance) for s in shapes):
                raise InputError("shapes must be a non-empty sequence of ShapeInstance")
            bad = [s.instance_id for s in shapes if s.category != self.category]
            if bad:
                raise InputError(f"shapes {bad[:3]} are not of category {self.category!r}")
            if n_instances is not None and n_instances != len(shapes):
                raise InputError(f"n_instances={n_instances} but {len(shapes)} shapes were given; give one of them")
        self.shapes: list[ShapeInstance] = list(shapes)
        self.keypoint_names: tuple[str, ...] = tuple(spec.keypoint_names)
        hold = (holdout_keypoints,) if isinstance(holdout_keypoints, str) else tuple(holdout_keypoints)
        unknown = [h for h in hold if h not in self.keypoint_names]
        if unknown:
            raise InputError(f"holdout_keypoints {unknown} are not keypoints of {self.category}: {self.keypoint_names}")
        self.holdout_keypoints = hold
        self.train_keypoint_mask = np.array([n not in hold for n in self.keypoint_names], dtype=bool)
        self.length = len(self.shapes) if length is None else _check_int(length, "length", 1)
        pf = float(partial_fraction)
        if not 0.0 <= pf <= 1.0:
            raise InputError(f"partial_fraction must be in [0, 1], got {partial_fraction}")
        self.partial_fraction = pf
        self.center = bool(center)
        self.noise = bool(noise)
        if not isinstance(view, PartialViewConfig):
            raise InputError(f"view must be a PartialViewConfig, got {type(view).__name__}")
        if resample not in ("fps", "random"):
            raise InputError(f"resample must be 'fps' or 'random', got {resample!r}")
        self.view, self.resample = view, resample
        self.frame = _check_frame(frame)
        self._cache: dict[int, EmbeddingSample] | None = {} if cache else None
        self.similarity = bool(similarity)
        self.scale_range = _check_range(scale_range, "scale_range", 1e-6)
        random_similarity(np.random.default_rng(0), scale_range=scale_range, translation_range=translation_range,
                          rotation=rotation)  # validates the arguments now rather than in a worker
        self.translation_range, self.rotation = float(translation_range), rotation
        self.jitter_std, self.jitter_mode = _check_jitter(jitter_std, jitter_mode), jitter_mode
        if set_distance_shapes is not None:
            _check_int(set_distance_shapes, "set_distance_shapes", 1)
        self.set_distance_shapes = set_distance_shapes
        self._prepared: list[PreparedShape | None] = [None] * len(self.shapes)
        self._set_distance: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.length

    def prepared(self, shape_index: int) -> PreparedShape:
        p = self._prepared[shape_index]
        if p is None:
            p = self._prepared[shape_index] = prepare_shape(self.shapes[shape_index], self.keypoint_names)
        return p

    def __getitem__(self, index: int) -> EmbeddingSample:
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, numbers.Integral):
            raise InputError(f"dataset index must be an int, got {type(index).__name__}")
        i = int(index)
        if i < 0:
            i += self.length
        if not 0 <= i < self.length:
            raise IndexError(f"sample {index} out of range [0, {self.length})")
        if self._cache is not None and i in self._cache:
            return replace(self._cache[i])
        rng = sample_rng(self.seed, i)
        si = i % len(self.shapes)
        ps = self.prepared(si)
        partial = self.mode == "partial" or (self.mode == "mixed" and rng.random() < self.partial_fraction)
        if partial:
            s = partial_cloud(ps, self.n_points, rng, noise=self.noise, view=self.view, resample=self.resample,
                              jitter_std=self.jitter_std, jitter_mode=self.jitter_mode, frame=self.frame)
        else:
            s = complete_cloud(ps, self.n_points, rng, similarity=self.similarity, scale_range=self.scale_range,
                               translation_range=self.translation_range, rotation=self.rotation,
                               jitter_std=self.jitter_std, jitter_mode=self.jitter_mode)
        if self.center:
            c = s.points.astype(np.float64).mean(0)
            s.points = (s.points - c).astype(np.float32)
            T = s.transform.copy()
            T[:3, 3] -= c
            s.transform = T
        if self.holdout_keypoints:
            s.keypoint_index[~self.train_keypoint_mask] = -1
        s.shape_index, s.index = si, i
        if self._cache is not None:
            self._cache[i] = s
            return replace(s)
        return s

    @property
    def set_distance(self) -> torch.Tensor:
        """``(K, K)`` Eq. 2 margins over the dataset's shapes (computed once, then cached)."""
        if self._set_distance is None:
            n = len(self.shapes) if self.set_distance_shapes is None else min(len(self.shapes), self.set_distance_shapes)
            self._set_distance = set_distance_matrix(self.shapes[:n], self.keypoint_names)
        return self._set_distance


# --------------------------------------------------------------------------------------------
# Eq. 2 set distances
# --------------------------------------------------------------------------------------------


def _bridged_mesh(vertices: np.ndarray, faces: np.ndarray, max_edge: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Geodesic graph mesh of a union of closed components.

    Subdivide so no edge is longer than ``max_edge``; drop the faces of each component that lie
    inside another component (a mug handle's ends sunk into the wall, the body wall under the
    handle), so paths stay on the outer surface; then join every remaining vertex to the nearest
    remaining vertex of each *other* component if that is closer than ``max_edge``, by a degenerate
    bridge face ``(a, b, b)`` that the geodesic graph reads as an edge a-b of Euclidean length.
    Only the nearest foreign vertex is linked, so a bridge never jumps across a wall.

    Returns vertices, faces (incl. bridges) and the ``(V,)`` mask of vertices on the outer surface.
    """
    import scipy.sparse as sp
    import trimesh
    from scipy.sparse import csgraph

    v, f = trimesh.remesh.subdivide_to_size(vertices, faces, max_edge=max_edge)
    v = np.asarray(v, np.float64)
    f = np.asarray(f, np.int64)
    n = len(v)
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    adj = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    n_comp, comp = csgraph.connected_components(adj, directed=False)
    used = np.zeros(n, bool)
    used[f.ravel()] = True
    if n_comp == 1:
        return v, f, used
    v32 = o3d.core.Tensor(v.astype(np.float32))
    hidden = np.zeros(n, bool)
    face_comp = comp[f[:, 0]]
    for c in range(n_comp):
        fc = f[face_comp == c]
        if len(fc) < 4:
            continue
        rc = o3d.t.geometry.RaycastingScene()
        rc.add_triangles(v32, o3d.core.Tensor(fc.astype(np.uint32)))
        others = np.flatnonzero(used & (comp != c))
        if len(others):
            occ = rc.compute_occupancy(o3d.core.Tensor(v[others].astype(np.float32))).numpy()
            hidden[others[occ > 0.5]] = True
    f = f[~hidden[f].any(axis=1)]
    outer = np.zeros(n, bool)
    outer[f.ravel()] = True
    bridges = []
    for c in range(n_comp):
        mine = np.flatnonzero(outer & (comp == c))
        theirs = np.flatnonzero(outer & (comp != c))
        if not len(mine) or not len(theirs):
            continue
        dist, j = cKDTree(v[theirs]).query(v[mine], distance_upper_bound=max_edge)
        ok = np.isfinite(dist)
        if ok.any():
            a, b = mine[ok], theirs[j[ok]]
            bridges.append(np.stack([a, b, b], axis=1))
    if bridges:
        f = np.concatenate([f] + bridges)
    return v, f, outer


def keypoint_geodesics(
    shape: ShapeInstance | PreparedShape,
    keypoint_names: Sequence[str] | None = None,
    *,
    max_edge_fraction: float = 0.03,
) -> tuple[np.ndarray, np.ndarray]:
    """Geodesic distances between the keypoint anchors of one shape.

    The mesh is subdivided to edges of at most ``max_edge_fraction`` x its bounding-box diagonal
    (coarse meshes such as the chairs would otherwise give chord distances through the solid),
    components that touch are bridged (see below), and :class:`GeodesicSolver` (Dijkstra on the
    3-ring chord graph) runs from the vertex nearest each anchor.

    Procedural meshes are unions of closed components (mug body + handle, chair legs + seat);
    the solver gives ``inf`` across components. Parts of a component inside another one are
    dropped and components that touch are joined by short straight bridge edges where they meet
    (:func:`_bridged_mesh`), so a path may step from the leg onto the seat, or from the handle onto
    the body, but never through a wall. Pairs still unreachable (components that never touch) fall
    back to the **Euclidean distance** between the two anchors. Sources are the outer-surface
    vertices nearest to the anchors (an anchor covered by another part, like the mug's
    ``handle_top`` under the handle, moves to the nearest uncovered vertex).

    Returns ``(D, present)``: ``(K, K)`` float64 symmetric with zero diagonal (NaN rows/columns
    for absent keypoints) and the ``(K,)`` bool mask of keypoints the shape has.
    """
    ps = _prepared(shape, keypoint_names)
    a = ps.anchors
    K = len(a.names)
    D = np.full((K, K), np.nan)
    idx = np.flatnonzero(a.present)
    if len(idx) == 0:
        return D, a.present.copy()
    frac = float(max_edge_fraction)
    if not (math.isfinite(frac) and frac > 0):
        raise InputError(f"max_edge_fraction must be > 0, got {max_edge_fraction}")
    s = ps.shape
    v, f, outer = _bridged_mesh(s.vertices, s.faces, frac * s.bbox_diagonal())
    on = np.flatnonzero(outer)
    src = on[cKDTree(v[on]).query(a.xyz[idx])[1]].astype(np.int64)
    g = GeodesicSolver(v, f).distances(src)[:, src]
    g = np.minimum(g, g.T)
    eu = np.linalg.norm(a.xyz[idx][:, None] - a.xyz[idx][None], axis=-1)
    g = np.where(np.isfinite(g), g, eu)
    np.fill_diagonal(g, 0.0)
    D[np.ix_(idx, idx)] = g
    return D, a.present.copy()


def set_distance_matrix(
    shapes: Sequence[ShapeInstance | PreparedShape],
    keypoint_names: Sequence[str] | None = None,
    *,
    max_edge_fraction: float = 0.03,
) -> torch.Tensor:
    """CPNet Eq. 2: ``(K, K)`` float32 mean over ``shapes`` of the geodesic distance (metres)
    between the anchors of keypoint sets ``i`` and ``j`` on the same shape
    (:func:`keypoint_geodesics`; Euclidean where two components never touch), averaged over the
    shapes that have both keypoints (:func:`semcorr_core.losses.correspondence_set_distance`).

    Cost: ~0.1-0.5 s per shape; compute it once per training set (e.g.
    :attr:`PointCloudDataset.set_distance`) and keep it in the loss module's buffer.
    """
    from semcorr_core.losses.push import correspondence_set_distance

    if isinstance(shapes, (ShapeInstance, PreparedShape)):
        shapes = [shapes]
    shapes = list(shapes) if shapes is not None else []
    if not shapes:
        raise InputError("set_distance_matrix needs at least one shape")
    if keypoint_names is None:
        first = shapes[0]
        keypoint_names = first.keypoint_names
    mats, pres = [], []
    for s in shapes:
        D, p = keypoint_geodesics(s, keypoint_names, max_edge_fraction=max_edge_fraction)
        mats.append(np.nan_to_num(D, nan=0.0))
        pres.append(p)
    d = correspondence_set_distance(torch.from_numpy(np.stack(mats)), torch.from_numpy(np.stack(pres)))
    d = 0.5 * (d + d.T)
    return d.to(torch.float32)
