"""Small mesh-building helpers for the procedural shape families (numpy only).

Every helper returns a *closed* triangle mesh component (each undirected edge shared by exactly two
faces, with opposite directions) whose faces are oriented so that normals point outwards (positive
signed volume). Components are combined, with a part label per face, by :class:`MeshBuilder`.

Conventions: metres; a 2-D lathe profile is a sequence of ``(r, z)`` points in the half-plane
``r >= 0``; its first and last points may lie on the axis (``r == 0``) and then become poles.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "MeshBuilder",
    "signed_volume",
    "orient_outward",
    "ring_angles",
    "lathe",
    "sweep_tube",
    "prism",
    "box",
    "resample_polyline",
    "arc_points",
    "uniform",
    "choice",
]


def signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Signed volume enclosed by a closed triangle mesh (positive when normals point outwards)."""
    tri = vertices[faces]
    return float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0)


def orient_outward(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Return ``faces`` flipped if needed so the closed component has positive signed volume."""
    if signed_volume(vertices, faces) < 0.0:
        return faces[:, ::-1].copy()
    return faces


def ring_angles(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Cosines and sines of ``n`` (even) equally spaced angles starting at 0, computed so that the
    set is *exactly* mirror symmetric through the xz-plane (angle j and n-j have equal cosines and
    opposite sines; sines at 0 and pi are exactly 0)."""
    if n < 3 or n % 2:
        raise ValueError(f"ring resolution must be an even number >= 4, got {n}")
    j = np.arange(n)
    half = np.minimum(j, n - j)  # 0..n/2
    ang = 2.0 * np.pi * half / n
    c = np.cos(ang)
    s = np.sin(ang) * np.where(j <= n // 2, 1.0, -1.0)
    s[0] = 0.0
    s[n // 2] = 0.0
    c[n // 2] = -1.0
    return c, s


def lathe(profile: np.ndarray, n_seg: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Surface of revolution about +z of a closed profile.

    ``profile`` (M, 2) holds ``(r, z)`` points; it should run from a point on the axis (r == 0),
    around the solid's cross-section counter-clockwise (outward/up along the outside, back in/down
    along the inside) to a second point on the axis; the axis segment between the two end points
    closes it. Interior points must have ``r > 0``. Angle 0 of every ring lies on +x, so the
    generatrix in the half-plane ``y = 0, x > 0`` is exactly the profile polyline.

    Returns vertices (V, 3), faces (F, 3) oriented outwards, and for each face the index ``i`` of
    the profile segment (point i -> i+1) it was built from.
    """
    p = np.asarray(profile, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or len(p) < 3:
        raise ValueError("profile must be (M>=3, 2) (r, z) points")
    keep = np.ones(len(p), dtype=bool)
    keep[1:] = np.any(np.abs(np.diff(p, axis=0)) > 1e-12, axis=1)
    orig_idx = np.nonzero(keep)[0]
    p = p[keep]
    if np.any(p[1:-1, 0] <= 0.0):
        raise ValueError("only the first and last profile points may lie on the axis")
    first_pole = p[0, 0] == 0.0
    last_pole = p[-1, 0] == 0.0
    c, s = ring_angles(n_seg)
    verts: list[np.ndarray] = []
    ring_start: list[int] = []
    nv = 0
    for i, (r, z) in enumerate(p):
        if (i == 0 and first_pole) or (i == len(p) - 1 and last_pole):
            verts.append(np.array([[0.0, 0.0, z]]))
            ring_start.append(-(nv + 1))  # negative encodes a pole at index nv
            nv += 1
        else:
            verts.append(np.stack([r * c, r * s, np.full(n_seg, z)], axis=1))
            ring_start.append(nv)
            nv += n_seg
    V = np.concatenate(verts, axis=0)
    j = np.arange(n_seg)
    jn = (j + 1) % n_seg
    faces = []
    seg = []
    for i in range(len(p) - 1):
        a0, a1 = ring_start[i], ring_start[i + 1]
        if a0 < 0 and a1 < 0:
            raise ValueError("two consecutive profile points on the axis")
        if a0 < 0:  # bottom pole fan
            pole = -a0 - 1
            f = np.stack([np.full(n_seg, pole), a1 + jn, a1 + j], axis=1)
        elif a1 < 0:  # top pole fan
            pole = -a1 - 1
            f = np.stack([a0 + j, a0 + jn, np.full(n_seg, pole)], axis=1)
        else:
            f = _quad_band(a0, a1, n_seg)
        faces.append(f)
        seg.append(np.full(len(f), orig_idx[i + 1] - 1))
    F = np.concatenate(faces, axis=0).astype(np.int64)
    if not (first_pole and last_pole):
        raise ValueError("lathe profiles must start and end on the axis (closed solid)")
    return V, orient_outward(V, F), np.concatenate(seg)


def _quad_band(a0: int, a1: int, k: int) -> np.ndarray:
    """Triangles joining ring ``a0..a0+k-1`` to ring ``a1..a1+k-1`` (same orientation as the lathe).

    Quad j (between ring points j and j+1) is split along the diagonal a0+j -> a1+j+1 for
    j < k/2 and along a0+j+1 -> a1+j otherwise, so that the triangulation -- not only the vertex
    set -- is mirror symmetric through the xz-plane when the rings are (see ``ring_angles``)."""
    j = np.arange(k)
    jn = (j + 1) % k
    lo = j < k // 2
    t1 = np.where(lo[:, None], np.stack([a0 + j, a0 + jn, a1 + jn], 1), np.stack([a0 + j, a0 + jn, a1 + j], 1))
    t2 = np.where(lo[:, None], np.stack([a0 + j, a1 + jn, a1 + j], 1), np.stack([a0 + jn, a1 + jn, a1 + j], 1))
    return np.concatenate([t1, t2], axis=0)


def _cap_fan(center_idx: int, ring_idx: np.ndarray) -> np.ndarray:
    k = len(ring_idx)
    return np.stack([np.full(k, center_idx), ring_idx[np.arange(k)], ring_idx[(np.arange(k) + 1) % k]], axis=1)


def _closed_rings(rings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closed mesh through a stack of rings (N, K, 3): side quads + centre-vertex fans at both ends."""
    n, k, _ = rings.shape
    V = np.concatenate([rings.reshape(-1, 3), rings[0].mean(0, keepdims=True), rings[-1].mean(0, keepdims=True)])
    j = np.arange(k)
    jn = (j + 1) % k
    faces = []
    for i in range(n - 1):
        faces.append(_quad_band(i * k, (i + 1) * k, k))
    faces.append(_cap_fan(n * k, j)[:, [0, 2, 1]])
    faces.append(_cap_fan(n * k + 1, (n - 1) * k + j))
    F = np.concatenate(faces).astype(np.int64)
    return V, orient_outward(V, F)


def sweep_tube(
    centerline: np.ndarray,
    normals: np.ndarray,
    binormals: np.ndarray,
    radius_n: float | np.ndarray,
    radius_b: float | np.ndarray,
    n_sides: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Closed tube with an elliptical cross-section swept along a polyline.

    Ring ``i`` holds ``centerline[i] + radius_n cos(phi) normals[i] + radius_b sin(phi) binormals[i]``
    for ``phi = 2 pi k / n_sides`` (k = 0 gives ``centerline[i] + radius_n * normals[i]``). Both ends
    are closed by flat caps fanned around the end centre points. The radii may be per-ring arrays (N,). Returns (V, F) oriented outwards;
    the first ``N * n_sides`` vertices are the rings in order, then the two cap centres.
    """
    c, s = ring_angles(n_sides)
    C = np.asarray(centerline, float)[:, None, :]
    N = np.asarray(normals, float)[:, None, :]
    B = np.asarray(binormals, float)[:, None, :]
    rn = np.broadcast_to(np.asarray(radius_n, float), (len(C),))[:, None, None]
    rb = np.broadcast_to(np.asarray(radius_b, float), (len(C),))[:, None, None]
    rings = C + rn * c[None, :, None] * N + rb * s[None, :, None] * B
    return _closed_rings(rings)


def prism(ring0: np.ndarray, ring1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closed prism (possibly oblique / tapered) between two K-point rings (K, 3) whose points
    correspond; each end is capped by a fan around the ring centroid (which is a vertex)."""
    return _closed_rings(np.stack([np.asarray(ring0, float), np.asarray(ring1, float)]))


def box(corners_bottom: np.ndarray, corners_top: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closed hexahedron from 4 bottom and 4 top corners (each in consistent cyclic order); planar
    faces are kept as 2 triangles each (12 faces). Returns (V, F) oriented outwards."""
    V = np.concatenate([np.asarray(corners_bottom, float), np.asarray(corners_top, float)])
    F = np.array(
        [
            [0, 2, 1], [0, 3, 2],  # bottom
            [4, 5, 6], [4, 6, 7],  # top
            [0, 1, 5], [0, 5, 4],
            [1, 2, 6], [1, 6, 5],
            [2, 3, 7], [2, 7, 6],
            [3, 0, 4], [3, 4, 7],
        ],
        dtype=np.int64,
    )
    return V, orient_outward(V, F)


def resample_polyline(points: np.ndarray, n: int) -> np.ndarray:
    """``n`` points equally spaced by arc length along a polyline (end points kept exactly)."""
    p = np.asarray(points, float)
    d = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(p, axis=0), axis=1))]
    t = np.linspace(0.0, d[-1], n)
    out = np.stack([np.interp(t, d, p[:, k]) for k in range(p.shape[1])], axis=1)
    out[0], out[-1] = p[0], p[-1]
    return out


class MeshBuilder:
    """Accumulates closed components with a part label per face and merges them."""

    def __init__(self) -> None:
        self._verts: list[np.ndarray] = []
        self._faces: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []
        self._names: list[str] = []
        self._nv = 0

    def part_id(self, name: str) -> int:
        if name not in self._names:
            self._names.append(name)
        return self._names.index(name)

    def add(self, vertices: np.ndarray, faces: np.ndarray, labels: str | Sequence[str]) -> int:
        """Add one component; ``labels`` is a part name or one name per face. Returns the index of
        the component's first vertex in the merged mesh."""
        v = np.asarray(vertices, float)
        f = np.asarray(faces, np.int64)
        if isinstance(labels, str):
            lab = np.full(len(f), self.part_id(labels), dtype=np.int64)
        else:
            if len(labels) != len(f):
                raise ValueError("need one label per face")
            lab = np.array([self.part_id(x) for x in labels], dtype=np.int64)
        start = self._nv
        self._verts.append(v)
        self._faces.append(f + start)
        self._labels.append(lab)
        self._nv += len(v)
        return start

    def build(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
        return (
            np.concatenate(self._verts),
            np.concatenate(self._faces),
            np.concatenate(self._labels),
            tuple(self._names),
        )


def arc_points(center: Sequence[float], radius: float, a0: float, a1: float, n: int) -> np.ndarray:
    """``n`` points (2-D) on a circular arc from angle ``a0`` to ``a1`` (radians), end points included."""
    a = np.linspace(a0, a1, n)
    return np.stack([center[0] + radius * np.cos(a), center[1] + radius * np.sin(a)], axis=1)


def uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """One float drawn uniformly from [lo, hi) (a plain Python float, JSON-serialisable)."""
    return float(rng.uniform(lo, hi))


def choice(rng: np.random.Generator, options: Sequence[str], p: Sequence[float] | None = None) -> str:
    """One of ``options`` (a plain str)."""
    return str(options[int(rng.choice(len(options), p=p))])
