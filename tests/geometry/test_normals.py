"""organised_normals: normals of a back-projected depth image, facing the camera."""

from __future__ import annotations

import numpy as np
import pytest

from semcorr_core.errors import InputError
from semcorr_core.geometry import PinholeCamera
from semcorr_core.geometry.normals import normals_at_pixels, organised_normals


def _plane_cloud(normal, offset, w=40, h=30):
    """Organised points of the plane n.x = offset seen by a pinhole camera at the origin."""
    cam = PinholeCamera(fx=50.0, fy=50.0, cx=w / 2, cy=h / 2, width=w, height=h)
    u, v = np.meshgrid(np.arange(w) + 0.0, np.arange(h) + 0.0)
    rays = np.stack([(u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy, np.ones_like(u)], axis=2)
    depth = offset / (rays @ np.asarray(normal))
    return rays * depth[..., None]


def test_hand_computed_grid():
    # a 5 x 5 grid on z = 2 with 1 cm spacing: du = (0.02, 0, 0), dv = (0, 0.02, 0) at the centre,
    # du x dv = (0, 0, 4e-4) points away from the camera, so the normal is -z
    x, y = np.meshgrid(np.arange(5) * 0.01, np.arange(5) * 0.01)
    pts = np.stack([x, y, np.full_like(x, 2.0)], axis=2)
    n = organised_normals(pts, step=1)
    np.testing.assert_allclose(n[2, 2], [0.0, 0.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(n[0, 0], [0.0, 0.0, -1.0], atol=1e-12)  # one-sided at the border


def test_tilted_plane_faces_the_camera_everywhere():
    normal = np.array([0.3, -0.2, 1.0])
    normal /= np.linalg.norm(normal)
    pts = _plane_cloud(normal, 1.5)
    n = organised_normals(pts, step=2)
    assert n.shape == pts.shape and np.isfinite(n).all()
    np.testing.assert_allclose(n, np.broadcast_to(-normal, n.shape), atol=1e-9)  # -normal: towards the origin


def test_missing_pixels_use_the_other_side_and_isolated_ones_get_none():
    normal = np.array([0.0, 0.0, 1.0])
    pts = _plane_cloud(normal, 1.0)
    pts[10, 10] = np.nan  # one dropped reading: its neighbours take one-sided differences
    pts[20, :] = 0.0  # a missing row (z <= 0 is missing too)
    n = organised_normals(pts, step=2)
    np.testing.assert_allclose(n[10, 12], [0, 0, -1], atol=1e-9)
    np.testing.assert_allclose(n[18, 5], [0, 0, -1], atol=1e-9)
    assert np.isnan(n[10, 10]).all() and np.isnan(n[20]).all()
    lone = np.full((7, 7, 3), np.nan)
    lone[3, 3] = [0.0, 0.0, 1.0]
    assert np.isnan(organised_normals(lone)).all()


def test_at_pixels_matches_the_image_and_keeps_to_the_valid_pixels():
    normal = np.array([0.2, 0.1, 1.0])
    normal /= np.linalg.norm(normal)
    pts = _plane_cloud(normal, 1.2)
    pts[5:, 20:] += [0.0, 0.0, 0.5]  # a second surface half a metre behind, right of column 20
    full = organised_normals(pts)
    rows, cols = np.array([3, 10, 29]), np.array([4, 19, 0])
    np.testing.assert_array_equal(normals_at_pixels(pts, rows, cols), full[rows, cols])
    # at (10, 19) the stencil reaches across to the surface behind; kept to the front one it does not
    valid = np.ones(pts.shape[:2], bool)
    valid[5:, 20:] = False
    np.testing.assert_allclose(normals_at_pixels(pts, rows, cols, valid=valid), np.broadcast_to(-normal, (3, 3)),
                               atol=1e-9)
    assert not np.allclose(full[10, 19], -normal, atol=1e-3)


def test_bad_input():
    with pytest.raises(InputError):
        organised_normals(np.zeros((4, 4)))
    with pytest.raises(InputError):
        organised_normals(np.zeros((4, 4, 2)))
    with pytest.raises(InputError):
        organised_normals(np.zeros((4, 4, 3)), step=0)
    with pytest.raises(InputError):
        normals_at_pixels(np.zeros((4, 4, 3)), np.array([4]), np.array([0]))  # outside the image
    with pytest.raises(InputError):
        normals_at_pixels(np.zeros((4, 4, 3)), np.array([0]), np.array([0]), valid=np.ones((3, 4), bool))
    with pytest.raises(InputError):
        normals_at_pixels(np.zeros((4, 4, 3)), np.array([0]), np.array([0]), valid=np.ones((4, 4), int))
    with pytest.raises(InputError):
        organised_normals(np.zeros((4, 4, 3)), step=1.5)
