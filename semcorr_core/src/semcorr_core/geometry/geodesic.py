"""Geodesic distances on triangle meshes (vertices ``(V, 3)``, faces ``(F, 3)``).

Two methods, same interface:

``method="dijkstra"`` (default): shortest paths (``scipy.sparse.csgraph.dijkstra``) on the
*r-ring graph* of the mesh: every vertex is joined to all vertices within ``rings`` edges of it
(default 3), weighted by the straight (Euclidean chord) distance. The plain edge graph
(``rings=1``) only offers ~6 directions per vertex and overestimates distances by ~6-7 % on
average; the 3-ring graph offers ~36 directions, which brings the path-metric anisotropy below
half a percent, while the chords are short enough (3 edges) that cutting through curved
surfaces costs a negligible ~(3h)^2/(24 R^2). Measured with
``semcorr_core.bench.geodesic.geodesic_accuracy_report`` (32 seeded sources, pairs closer than
5 % of the radius excluded):

=====================================================  ==========  ==========
mesh                                                   mean rel.   max rel.
=====================================================  ==========  ==========
unit icosphere, subdivision 4 (2562 vertices)          0.25 %      1.7 %
open cylinder r=1, h=2, 64 x 21 vertices (1344)        0.39 %      1.3 %
=====================================================  ==========  ==========

Caveats: distances are exact for the graph, symmetric, and never cross between disconnected
components (those get ``inf``); near sharp creases the chords of the r-ring may cut the corner
by up to ~3 edge lengths x 0.3.

``method="heat"``: the heat method (Crane, Weischedel & Wardetzky 2013) with the P1 FEM
(cotangent) Laplacian and lumped mass matrix: solve ``(M + t K) u = delta_sources`` with
``t = heat_time_factor * h^2`` (``h`` = mean edge length; on meshes with boundary the mean of the
Neumann and Dirichlet solutions), normalise ``X = -grad u / |grad u|`` per face and solve the
Poisson problem ``K phi = div X``; shift so that ``phi = 0`` at the sources. Smooth but less
accurate (mean 1.0 % sphere, 1.8 % cylinder at the resolutions above, max errors 19-30 % close to
the sources and boundaries); not symmetric. Needs non-degenerate faces.

Public functions: :func:`geodesic_distances` (per source), :func:`geodesic_distance_field` (to
the nearest of a set of sources), :func:`pairwise_geodesic_distances` (all pairs or a subset);
:class:`GeodesicSolver` precomputes the graph / factorisations for repeated queries.
"""

from __future__ import annotations

from typing import Literal, Optional

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse import csgraph

from semcorr_core.errors import InputError

__all__ = [
    "GeodesicSolver",
    "geodesic_distances",
    "geodesic_distance_field",
    "pairwise_geodesic_distances",
    "mesh_edges",
]

Method = Literal["dijkstra", "heat"]
_HEAT_CHUNK = 256


def _validate_mesh(vertices, faces) -> tuple[np.ndarray, np.ndarray]:
    V = np.asarray(vertices, dtype=np.float64)
    if V.ndim != 2 or V.shape[1] != 3 or V.shape[0] == 0:
        raise InputError(f"mesh vertices must be (V, 3) with V > 0, got {V.shape}")
    if not np.isfinite(V).all():
        raise InputError("mesh vertices contain NaN or inf; repair the mesh (e.g. trimesh.Trimesh.process)")
    F_in = np.asarray(faces)
    if F_in.ndim != 2 or F_in.shape[1] != 3 or F_in.shape[0] == 0:
        raise InputError(f"mesh faces must be (F, 3) vertex indices with F > 0 (triangles only), got {F_in.shape}")
    if not np.issubdtype(F_in.dtype, np.integer):
        if not np.issubdtype(F_in.dtype, np.floating) or not np.all(np.mod(F_in, 1) == 0):
            raise InputError(f"mesh faces must hold integer vertex indices, got dtype {F_in.dtype}")
    F = F_in.astype(np.int64)
    if F.min() < 0 or F.max() >= V.shape[0]:
        raise InputError(f"mesh faces index vertices outside [0, {V.shape[0]}) (got {F.min()}..{F.max()})")
    return V, F


def mesh_edges(faces: np.ndarray) -> np.ndarray:
    """Unique undirected edges ``(E, 2)`` (sorted pairs) of a triangle list."""
    F = np.asarray(faces, dtype=np.int64)
    E = np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]])
    E = np.sort(E, axis=1)
    E = E[E[:, 0] != E[:, 1]]
    return np.unique(E, axis=0)


class GeodesicSolver:
    """Precomputed geodesic-distance solver for one mesh.

    Args:
        vertices: ``(V, 3)`` float vertex positions.
        faces: ``(F, 3)`` int triangle vertex indices.
        method: ``"dijkstra"`` (r-ring chord graph, default, most accurate) or ``"heat"``.
        rings: ring size of the Dijkstra graph (1 = plain edge graph; default 3).
        heat_time_factor: heat method time step in units of the squared mean edge length.
    """

    def __init__(
        self,
        vertices: np.ndarray,
        faces: np.ndarray,
        *,
        method: Method = "dijkstra",
        rings: int = 3,
        heat_time_factor: float = 1.0,
    ) -> None:
        self.vertices, self.faces = _validate_mesh(vertices, faces)
        if method not in ("dijkstra", "heat"):
            raise InputError(f"geodesic method must be 'dijkstra' or 'heat', got {method!r}")
        if int(rings) < 1:
            raise InputError(f"rings must be >= 1, got {rings}")
        if not (np.isfinite(heat_time_factor) and heat_time_factor > 0):
            raise InputError(f"heat_time_factor must be > 0, got {heat_time_factor}")
        self.method = method
        self.rings = int(rings)
        self.heat_time_factor = float(heat_time_factor)
        n = self.n_vertices
        E = mesh_edges(self.faces)
        self._edges = E
        self._adj = sp.csr_matrix((np.ones(len(E)), (E[:, 0], E[:, 1])), shape=(n, n))
        self._adj = (self._adj + self._adj.T).tocsr()
        _, self._component = csgraph.connected_components(self._adj, directed=False)
        if method == "dijkstra":
            self._graph = self._ring_graph()
        else:
            self._setup_heat()

    @property
    def n_vertices(self) -> int:
        return int(self.vertices.shape[0])

    # ---- dijkstra --------------------------------------------------------------------------
    def _ring_graph(self) -> sp.csr_matrix:
        A = self._adj.copy()
        A.data[:] = 1.0
        R = A.copy()
        for _ in range(self.rings - 1):
            R = R + R @ A
            R.data[:] = 1.0
        R = sp.triu(R, k=1).tocoo()
        w = np.linalg.norm(self.vertices[R.row] - self.vertices[R.col], axis=1)
        keep = w > 0  # coincident vertices: csgraph treats explicit 0 as "no edge"; use a tiny weight
        w = np.where(keep, w, 1e-300)
        return sp.csr_matrix((w, (R.row, R.col)), shape=(self.n_vertices,) * 2)

    # ---- heat ------------------------------------------------------------------------------
    def _setup_heat(self) -> None:
        V, F = self.vertices, self.faces
        x0, x1, x2 = V[F[:, 0]], V[F[:, 1]], V[F[:, 2]]
        nrm = np.cross(x1 - x0, x2 - x0)
        dbl = np.linalg.norm(nrm, axis=1)
        ext = float(np.ptp(V, axis=0).max()) or 1.0
        if (dbl <= 1e-12 * ext * ext).any():
            bad = int((dbl <= 1e-12 * ext * ext).sum())
            raise InputError(
                f"heat geodesics need non-degenerate triangles; {bad} faces have zero area - remove them "
                "(trimesh: mesh.update_faces(mesh.nondegenerate_faces())) or use method='dijkstra'"
            )
        N = nrm / dbl[:, None]
        # gradient of the hat function of each corner: (N x opposite edge) / (2 A)
        G = np.stack([np.cross(N, x2 - x1), np.cross(N, x0 - x2), np.cross(N, x1 - x0)], axis=1) / dbl[:, None, None]
        A = 0.5 * dbl
        n = self.n_vertices
        Kf = A[:, None, None] * np.einsum("fid,fjd->fij", G, G)
        rows = np.repeat(F, 3, axis=1).ravel()
        cols = np.tile(F, (1, 3)).ravel()
        K = sp.csr_matrix((Kf.ravel(), (rows, cols)), shape=(n, n))
        m = np.zeros(n)
        np.add.at(m, F.ravel(), np.repeat(A / 3.0, 3))
        m = np.maximum(m, 1e-12 * max(m.max(), 1e-300))  # unreferenced vertices
        M = sp.diags(m)
        h = float(np.linalg.norm(V[self._edges[:, 0]] - V[self._edges[:, 1]], axis=1).mean())
        t = self.heat_time_factor * h * h
        H = (M + t * K).tocsc()
        self._heat_lu = spla.splu(H)
        all_e = np.sort(np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]]), axis=1)
        uniq, cnt = np.unique(all_e, axis=0, return_counts=True)
        bnd = np.unique(uniq[cnt == 1])
        self._boundary = bnd
        if len(bnd):
            inner = np.setdiff1d(np.arange(n), bnd)
            self._inner = inner
            self._heat_lu_dir = spla.splu(H[inner][:, inner].tocsc()) if len(inner) else None
        self._poisson_lu = spla.splu((K + 1e-10 * M).tocsc())
        self._G, self._A = G, A

    def _heat_chunk(self, src: np.ndarray) -> np.ndarray:
        n, S = self.n_vertices, len(src)
        F, G, A = self.faces, self._G, self._A
        rhs = np.zeros((n, S))
        rhs[src, np.arange(S)] = 1.0
        u = self._heat_lu.solve(rhs)
        if len(self._boundary) and self._heat_lu_dir is not None:
            ud = np.zeros_like(u)
            ud[self._inner] = self._heat_lu_dir.solve(rhs[self._inner])
            u = 0.5 * (u + ud)
        g = np.einsum("fis,fid->fsd", u[F], G)  # (F, S, 3)
        X = -g / np.maximum(np.linalg.norm(g, axis=2, keepdims=True), 1e-300)
        bf = A[:, None, None] * np.einsum("fsd,fid->fis", X, G)  # (F, 3, S)
        b = np.zeros((n, S))
        np.add.at(b, F.ravel(), bf.reshape(-1, S))
        phi = self._poisson_lu.solve(b)
        phi = phi - phi[src, np.arange(S)]
        return np.maximum(phi, 0.0).T

    # ---- queries ---------------------------------------------------------------------------
    def _check_sources(self, sources, name: str = "sources") -> np.ndarray:
        s = np.asarray(sources)
        if s.ndim == 0:
            s = s[None]
        if s.ndim != 1 or s.size == 0:
            raise InputError(f"{name} must be a non-empty 1-D array of vertex indices, got shape {s.shape}")
        if not np.issubdtype(s.dtype, np.integer):
            raise InputError(f"{name} must be integer vertex indices, got dtype {s.dtype}")
        s = s.astype(np.int64)
        if s.min() < 0 or s.max() >= self.n_vertices:
            raise InputError(f"{name} must index vertices in [0, {self.n_vertices}), got {s.min()}..{s.max()}")
        return s

    def distances(self, sources) -> np.ndarray:
        """``(S, V)`` geodesic distance from each source vertex to every vertex (``inf`` if unreachable)."""
        src = self._check_sources(sources)
        if self.method == "dijkstra":
            return csgraph.dijkstra(self._graph, directed=False, indices=src)
        out = np.concatenate([self._heat_chunk(src[i : i + _HEAT_CHUNK]) for i in range(0, len(src), _HEAT_CHUNK)])
        out[self._component[src][:, None] != self._component[None, :]] = np.inf
        return out

    def distance_field(self, sources) -> np.ndarray:
        """``(V,)`` geodesic distance from every vertex to the nearest vertex of the source set."""
        src = self._check_sources(sources)
        if self.method == "dijkstra":
            return csgraph.dijkstra(self._graph, directed=False, indices=src, min_only=True)
        # heat method handles a set source directly (one solve with delta on all sources) but
        # the per-source minimum is more accurate far from the set; sources are few in practice
        return self.distances(src).min(axis=0)

    def pairwise(self, subset=None) -> np.ndarray:
        """All-pairs distances ``(V, V)``, or ``(K, K)`` among the vertices ``subset``.
        Symmetric (the heat result is symmetrised by averaging)."""
        idx = np.arange(self.n_vertices) if subset is None else self._check_sources(subset, "subset")
        D = self.distances(idx)[:, idx]
        if self.method == "heat":
            D = 0.5 * (D + D.T)
        np.fill_diagonal(D, 0.0)
        return D


def geodesic_distances(
    vertices: np.ndarray, faces: np.ndarray, sources, *, method: Method = "dijkstra", rings: int = 3
) -> np.ndarray:
    """``(S, V)`` geodesic distances from each vertex in ``sources`` to all vertices.

    See the module docstring for the methods and their accuracy. Unreachable vertices get ``inf``.
    """
    return GeodesicSolver(vertices, faces, method=method, rings=rings).distances(sources)


def geodesic_distance_field(
    vertices: np.ndarray, faces: np.ndarray, sources, *, method: Method = "dijkstra", rings: int = 3
) -> np.ndarray:
    """``(V,)`` geodesic distance from every vertex to the nearest vertex of ``sources``."""
    return GeodesicSolver(vertices, faces, method=method, rings=rings).distance_field(sources)


def pairwise_geodesic_distances(
    vertices: np.ndarray,
    faces: np.ndarray,
    subset: Optional[np.ndarray] = None,
    *,
    method: Method = "dijkstra",
    rings: int = 3,
) -> np.ndarray:
    """All-pairs geodesic distances ``(V, V)`` (meant for small meshes, memory ``8 V^2`` bytes), or
    ``(K, K)`` among the vertex indices ``subset`` (e.g. keypoints, FPS samples)."""
    return GeodesicSolver(vertices, faces, method=method, rings=rings).pairwise(subset)
