"""fit_plane_least_squares: the (weighted) least-squares plane of a point set."""

from __future__ import annotations

import numpy as np
import pytest

from semcorr_core.geometry.planes import fit_plane_least_squares


def test_weighted_plane_hand_computed():
    square = np.array([[0.0, 0, 1], [1, 0, 1], [0, 1, 1], [1, 1, 1]])
    off = np.array([[0.5, 0.5, 1.1]])  # over the square's centre: no cross term tilts the plane
    pts = np.concatenate([square, off])
    # unweighted it lifts the plane to the centroid: z = (4 + 1.1) / 5 = 1.02; the normal stays z
    n, d = fit_plane_least_squares(pts)
    assert abs(abs(n[2]) - 1) < 1e-12 and -d / n[2] == pytest.approx(1.02)
    # weight 1e-9 on it: the square's plane, z = 1
    n, d = fit_plane_least_squares(pts, np.array([1, 1, 1, 1, 1e-9]))
    assert abs(abs(n[2]) - 1) < 1e-12 and -d / n[2] == pytest.approx(1.0, abs=1e-8)
    # weight 3 on it: z = (4 + 3 * 1.1) / 7
    n, d = fit_plane_least_squares(pts, np.array([1, 1, 1, 1, 3.0]))
    assert -d / n[2] == pytest.approx(7.3 / 7)


def test_points_on_a_line_span_no_plane():
    line = np.outer(np.linspace(0.0, 1.0, 10), [1.0, 2.0, 3.0])
    assert fit_plane_least_squares(line) is None
    assert fit_plane_least_squares(line, np.linspace(1.0, 2.0, 10)) is None
