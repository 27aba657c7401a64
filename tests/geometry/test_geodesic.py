import numpy as np
import pytest

from semcorr_core.bench.geodesic import geodesic_accuracy_report, icosphere, open_cylinder
from semcorr_core.errors import InputError
from semcorr_core.geometry import (
    GeodesicSolver,
    geodesic_distance_field,
    geodesic_distances,
    mesh_edges,
    pairwise_geodesic_distances,
)


@pytest.fixture(scope="module")
def report():
    return geodesic_accuracy_report()  # default: icosphere sub 4, cylinder 64 x 21, dijkstra 3-ring


def test_sphere_mean_relative_error_below_2_percent(report):
    assert report["sphere"]["n_vertices"] == 2562
    assert report["sphere"]["mean_rel_error"] < 0.02
    assert report["sphere"]["max_rel_error"] < 0.05


def test_cylinder_mean_relative_error_below_2_percent(report):
    assert report["cylinder"]["n_vertices"] == 64 * 21
    assert report["cylinder"]["mean_rel_error"] < 0.02
    assert report["cylinder"]["max_rel_error"] < 0.05


def test_heat_method_mean_error_below_2_percent():
    r = geodesic_accuracy_report(method="heat", n_sources=8)
    assert r["sphere"]["mean_rel_error"] < 0.02
    assert r["cylinder"]["mean_rel_error"] < 0.02


def _grid(n=3):
    """Flat n x n grid in z = 0, unit spacing, each square split along the (+1, +1) diagonal."""
    V = np.array([[x, y, 0.0] for y in range(n) for x in range(n)])
    F = []
    for y in range(n - 1):
        for x in range(n - 1):
            a, b, c, d = y * n + x, y * n + x + 1, (y + 1) * n + x, (y + 1) * n + x + 1
            F += [[a, b, d], [a, d, c]]
    return V, np.array(F)


def test_hand_computable_flat_grid():
    V, F = _grid(3)
    # vertex 0 = (0,0), vertex 5 = (2,1), vertex 6 = (0,2)
    # edge graph: 0 -> 4 diagonal (sqrt 2) -> 5 (1): 1 + sqrt 2
    d1 = geodesic_distances(V, F, [0], rings=1)
    assert d1.shape == (1, 9)
    assert d1[0, 5] == pytest.approx(1 + np.sqrt(2))
    assert d1[0, 6] == pytest.approx(2.0)
    # 2-ring and wider: the straight segment, exact on a flat surface: sqrt(5)
    for rings in (2, 3):
        d = geodesic_distances(V, F, [0], rings=rings)
        assert d[0, 5] == pytest.approx(np.sqrt(5))
        np.testing.assert_allclose(d[0], np.linalg.norm(V - V[0], axis=1))


def test_hand_computable_folded_strip():
    # two unit squares folded by 90 degrees along the y axis; geodesic = unfolded straight line
    V = np.array([[1.0, 0, 0], [1, 1, 0], [0, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 1]])
    F = np.array([[0, 1, 3], [0, 3, 2], [2, 3, 5], [2, 5, 4]])
    d = geodesic_distances(V, F, [0], rings=1)[0]
    assert d[2] == pytest.approx(1.0)
    assert d[4] == pytest.approx(2.0)  # over the fold (chords never leave the ring graph)
    assert d[5] == pytest.approx(1 + np.sqrt(2))  # edge graph: 0 -> 3 -> 5 (no straight unfolded path)


def test_tetrahedron_all_edges():
    V = np.array([[1.0, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]])
    F = np.array([[0, 1, 2], [0, 3, 1], [0, 2, 3], [1, 3, 2]])
    D = pairwise_geodesic_distances(V, F)
    expect = np.full((4, 4), np.sqrt(8.0))
    np.fill_diagonal(expect, 0.0)
    np.testing.assert_allclose(D, expect)
    assert mesh_edges(F).shape == (6, 2)


def test_source_set_subset_and_symmetry():
    V, F = open_cylinder(1.0, 1.0, 24, 7)
    solver = GeodesicSolver(V, F)
    D = solver.distances([0, 50, 100])
    assert D.shape == (3, len(V))
    np.testing.assert_allclose(solver.distance_field([0, 50, 100]), D.min(0))
    np.testing.assert_allclose(geodesic_distance_field(V, F, [0, 50, 100]), D.min(0))
    sub = np.array([3, 10, 40, 77])
    P = solver.pairwise(sub)
    assert P.shape == (4, 4)
    np.testing.assert_allclose(P, P.T)
    np.testing.assert_allclose(P[1], solver.distances([10])[0, sub])
    full = pairwise_geodesic_distances(V, F)
    np.testing.assert_allclose(full[np.ix_(sub, sub)], P)
    assert (np.diag(full) == 0).all()


def test_heat_pairwise_symmetric_and_disconnected_inf():
    V, F = icosphere(1)
    V2 = np.concatenate([V, V + 5.0])
    F2 = np.concatenate([F, F + len(V)])
    for method in ("dijkstra", "heat"):
        s = GeodesicSolver(V2, F2, method=method)
        D = s.distances([0])
        assert np.isinf(D[0, len(V):]).all() and np.isfinite(D[0, : len(V)]).all()
        P = s.pairwise(np.arange(5))
        np.testing.assert_allclose(P, P.T)


def test_bad_input():
    V, F = _grid(3)
    with pytest.raises(InputError, match=r"\(V, 3\)"):
        geodesic_distances(V[:, :2], F, [0])
    with pytest.raises(InputError, match="outside"):
        geodesic_distances(V, F + 9, [0])
    with pytest.raises(InputError, match="triangles"):
        geodesic_distances(V, F[:, :2], [0])
    with pytest.raises(InputError, match="NaN"):
        geodesic_distances(np.where(V == 2, np.nan, V), F, [0])
    with pytest.raises(InputError, match="sources"):
        geodesic_distances(V, F, [20])
    with pytest.raises(InputError, match="sources"):
        geodesic_distances(V, F, [])
    with pytest.raises(InputError, match="method"):
        GeodesicSolver(V, F, method="exact")
    with pytest.raises(InputError, match="rings"):
        GeodesicSolver(V, F, rings=0)
    Fd = np.concatenate([F, [[0, 1, 2]]])  # collinear -> zero-area face
    with pytest.raises(InputError, match="zero area"):
        GeodesicSolver(V, Fd, method="heat")
    GeodesicSolver(V, Fd)  # dijkstra tolerates it
