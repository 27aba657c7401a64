"""Accuracy benchmark of :mod:`semcorr_core.geometry.geodesic` against analytic geodesics.

Backs ``semcorr bench geodesic``. Two test surfaces with closed-form geodesics:

* unit sphere: an icosphere (``trimesh.creation.icosphere``, vertices on the sphere), reference =
  great-circle distance ``R * arccos(<x, y> / R^2)``;
* open cylinder (side surface only, no caps) of radius ``r`` and height ``h``, built here as a
  ``n_theta x n_z`` vertex grid with alternating diagonals; reference = unrolled distance
  ``sqrt((r * dtheta)^2 + dz^2)`` with ``dtheta`` the shorter angular difference (exact on the
  side surface, which is developable).

Relative error ``|d_mesh - d_ref| / d_ref`` is taken over all (source, vertex) pairs for a seeded
random set of source vertices, EXCLUDING pairs with ``d_ref < min_distance_fraction * radius``
(default 5 %): the relative error of very short distances is dominated by the discretisation of
the source point itself and says nothing about the method.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from semcorr_core.errors import InputError
from semcorr_core.geometry.geodesic import GeodesicSolver

__all__ = ["geodesic_accuracy_report", "icosphere", "open_cylinder", "DEFAULT_RESOLUTION"]

#: default test-mesh resolution: icosphere subdivision 4 (2562 vertices, 5120 faces) and an open
#: cylinder r=1, h=2 with 64 x 21 vertices (1344 vertices, 2560 faces; ~0.1 edge length)
DEFAULT_RESOLUTION = {"sphere_subdivisions": 4, "cylinder_n_theta": 64, "cylinder_n_z": 21}


def icosphere(subdivisions: int = 4, radius: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``(V, 3)`` and faces ``(F, 3)`` of an icosphere (vertices exactly on the sphere)."""
    import trimesh

    m = trimesh.creation.icosphere(subdivisions=int(subdivisions), radius=float(radius))
    return np.asarray(m.vertices, dtype=np.float64), np.asarray(m.faces, dtype=np.int64)


def open_cylinder(
    radius: float = 1.0, height: float = 2.0, n_theta: int = 64, n_z: int = 21
) -> tuple[np.ndarray, np.ndarray]:
    """Side surface of a cylinder around the z axis, z in ``[-h/2, h/2]``, as a triangle mesh.

    Vertex ``i * n_theta + j`` sits at angle ``2 pi j / n_theta`` and height index ``i``. Quads are
    split along alternating diagonals (checkerboard) to avoid a preferred direction.
    """
    if n_theta < 3 or n_z < 2:
        raise InputError(f"open_cylinder needs n_theta >= 3 and n_z >= 2, got {n_theta}, {n_z}")
    th = 2.0 * np.pi * np.arange(n_theta) / n_theta
    z = np.linspace(-height / 2.0, height / 2.0, n_z)
    T, Z = np.meshgrid(th, z)
    V = np.stack([radius * np.cos(T), radius * np.sin(T), Z], axis=-1).reshape(-1, 3)
    i, j = np.meshgrid(np.arange(n_z - 1), np.arange(n_theta), indexing="ij")
    i, j = i.ravel(), j.ravel()
    a = i * n_theta + j
    b = i * n_theta + (j + 1) % n_theta
    c = (i + 1) * n_theta + j
    d = (i + 1) * n_theta + (j + 1) % n_theta
    even = (i + j) % 2 == 0
    f1 = np.where(even[:, None], np.stack([a, b, d], 1), np.stack([a, b, c], 1))
    f2 = np.where(even[:, None], np.stack([a, d, c], 1), np.stack([b, d, c], 1))
    F = np.concatenate([f1, f2]).astype(np.int64)
    return V, F


def _stats(D: np.ndarray, ref: np.ndarray, min_dist: float) -> dict[str, float]:
    m = ref >= min_dist
    rel = np.abs(D[m] - ref[m]) / ref[m]
    return {
        "mean_rel_error": float(rel.mean()),
        "median_rel_error": float(np.median(rel)),
        "max_rel_error": float(rel.max()),
        "n_pairs": int(m.sum()),
    }


def geodesic_accuracy_report(
    *,
    method: str = "dijkstra",
    rings: int = 3,
    sphere_subdivisions: int = DEFAULT_RESOLUTION["sphere_subdivisions"],
    cylinder_n_theta: int = DEFAULT_RESOLUTION["cylinder_n_theta"],
    cylinder_n_z: int = DEFAULT_RESOLUTION["cylinder_n_z"],
    n_sources: int = 32,
    min_distance_fraction: float = 0.05,
    seed: int = 0,
) -> dict[str, Any]:
    """Mean / median / max relative geodesic error on a unit sphere and an open cylinder.

    Args:
        method, rings: passed to :class:`~semcorr_core.geometry.geodesic.GeodesicSolver`.
        sphere_subdivisions: icosphere subdivision level (radius 1).
        cylinder_n_theta, cylinder_n_z: cylinder grid (radius 1, height 2).
        n_sources: seeded random source vertices per mesh (distances to all vertices are scored).
        min_distance_fraction: pairs with reference distance below this fraction of the radius are
            excluded from the relative errors (near-zero distances).
        seed: seed of the source selection.

    Returns:
        ``{"method", "rings", "min_distance_fraction", "n_sources",
        "sphere": {"mean_rel_error", "median_rel_error", "max_rel_error", "n_pairs", "n_vertices",
        "subdivisions"}, "cylinder": {... , "n_vertices", "n_theta", "n_z", "radius", "height"}}``
        with errors as fractions (0.01 = 1 %).
    """
    if not 0.0 <= min_distance_fraction < 1.0:
        raise InputError(f"min_distance_fraction must be in [0, 1), got {min_distance_fraction}")
    rng = np.random.default_rng(seed)
    report: dict[str, Any] = {
        "method": method,
        "rings": int(rings) if method == "dijkstra" else None,
        "min_distance_fraction": float(min_distance_fraction),
        "n_sources": int(n_sources),
    }

    V, F = icosphere(sphere_subdivisions, 1.0)
    src = rng.choice(len(V), size=min(n_sources, len(V)), replace=False)
    D = GeodesicSolver(V, F, method=method, rings=rings).distances(src)
    Vn = V / np.linalg.norm(V, axis=1, keepdims=True)
    ref = np.arccos(np.clip(Vn[src] @ Vn.T, -1.0, 1.0))
    report["sphere"] = {**_stats(D, ref, min_distance_fraction), "n_vertices": len(V), "subdivisions": int(sphere_subdivisions)}

    r, h = 1.0, 2.0
    V, F = open_cylinder(r, h, cylinder_n_theta, cylinder_n_z)
    src = rng.choice(len(V), size=min(n_sources, len(V)), replace=False)
    D = GeodesicSolver(V, F, method=method, rings=rings).distances(src)
    th = np.arctan2(V[:, 1], V[:, 0])
    dth = np.abs(th[src][:, None] - th[None, :])
    dth = np.minimum(dth, 2.0 * np.pi - dth)
    ref = np.hypot(r * dth, V[src, 2][:, None] - V[None, :, 2])
    report["cylinder"] = {
        **_stats(D, ref, min_distance_fraction * r),
        "n_vertices": len(V),
        "n_theta": int(cylinder_n_theta),
        "n_z": int(cylinder_n_z),
        "radius": r,
        "height": h,
    }
    return report
