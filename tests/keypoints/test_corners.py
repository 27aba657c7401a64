"""find_box_corners: a corner keypoint found on the faces of its box that the view shows; seed_at_top_edge: a
top-edge corner's prediction moved onto the observed top first."""

from __future__ import annotations

import numpy as np
import pytest

from semcorr_core.errors import InputError
from semcorr_core.keypoints.corners import find_box_corners, fit_face_plane, seed_at_top_edge

X, Y, Z = np.eye(3)
CORNER = np.array([0.40, 0.20, 0.45])  # front-left corner of a seat's top, the seat spans x, y <= corner
SPACING = 0.004


def _face(normal, origin, a, b, extent_a, extent_b, keep=None):
    """Grid points (SPACING apart) of the rectangle origin + s a + t b, s in extent_a, t in extent_b,
    with their normal; ``keep(points)`` drops what an occluder hides."""
    s = np.arange(extent_a[0], extent_a[1] + 1e-9, SPACING)
    t = np.arange(extent_b[0], extent_b[1] + 1e-9, SPACING)
    ss, tt = (g.ravel() for g in np.meshgrid(s, t))
    pts = origin + ss[:, None] * a + tt[:, None] * b
    if keep is not None:
        pts = pts[keep(pts)]
    return pts, np.broadcast_to(normal, pts.shape)


def _seat(top=True, front=True, side=True, keep=None):
    """The corner's faces (top +z, front +x, left side +y, 4 cm thick), each 10 cm along its edges."""
    parts = []
    if top:
        parts.append(_face(Z, CORNER, X, Y, (-0.10, 0.0), (-0.10, 0.0), keep))
    if front:
        parts.append(_face(X, CORNER, Y, Z, (-0.10, 0.0), (-0.04, 0.0), keep))
    if side:
        parts.append(_face(Y, CORNER, X, Z, (-0.10, 0.0), (-0.04, 0.0), keep))
    return np.concatenate([p for p, _ in parts]), np.concatenate([n for _, n in parts])


def _find(pts, normals, predicted, faces=(X, Y, Z), **kw):
    kw = {"radius": 0.06, "gate": 0.08, **kw}
    return find_box_corners(np.atleast_2d(predicted), np.asarray([faces], float), pts, normals, **kw)


PREDICTED = CORNER + np.array([-0.02, -0.015, 0.012])  # where a category-level fit puts it


def test_three_faces_seen_give_the_corner():
    out = _find(*_seat(), PREDICTED)
    assert out.found.tolist() == [True] and out.faces_seen.tolist() == [3]
    np.testing.assert_allclose(out.xyz[0], CORNER, atol=1e-9)  # the three planes meet there


def test_top_face_alone_ends_at_the_edges():
    # seen from above: the edges the top face ends at give x and y, within the grid spacing
    out = _find(*_seat(front=False, side=False), PREDICTED)
    assert out.found.tolist() == [True] and out.faces_seen.tolist() == [1]
    assert abs(out.xyz[0, 2] - CORNER[2]) < 1e-9
    assert np.all(np.abs(out.xyz[0, :2] - CORNER[:2]) <= SPACING)


def test_an_inset_leg_behind_the_front_face_is_not_the_front():
    leg, leg_n = _face(X, CORNER + [-0.015, -0.02, -0.04], Y, Z, (-0.03, 0.0), (-0.10, 0.0))  # 1.5 cm behind
    pts, n = _seat(top=True, front=True, side=False)
    out = _find(np.concatenate([pts, leg]), np.concatenate([n, leg_n]), PREDICTED)
    assert out.found[0] and abs(out.xyz[0, 0] - CORNER[0]) < 1e-9


def test_two_declared_faces_keep_the_third_coordinate():
    # a seat's back corner: only the side and the top are declared; x stays where the fit put it
    out = _find(*_seat(), PREDICTED, faces=(Y, Z, np.zeros(3)))
    assert out.found[0]
    np.testing.assert_allclose(out.xyz[0], [PREDICTED[0], CORNER[1], CORNER[2]], atol=1e-9)


def test_a_tilted_face_takes_its_own_normal():
    # a backrest's front face, tilted back by 12 degrees (the prototype's says +x): its top corner
    tilt = np.deg2rad(12.0)
    up = np.array([-np.sin(tilt), 0.0, np.cos(tilt)])
    normal = np.array([np.cos(tilt), 0.0, np.sin(tilt)])
    top_corner = np.array([0.1, 0.2, 0.9])
    pts, n = _face(normal, top_corner, Y, up, (-0.12, 0.0), (-0.12, 0.0))
    predicted = top_corner + [0.02, -0.01, -0.02]  # +x, +y, +z declared; only the front is seen
    out = _find(pts, n, predicted, plane_normals="measured")
    assert out.found[0] and out.faces_seen[0] == 1
    assert np.linalg.norm(out.xyz[0] - top_corner) <= 1.5 * SPACING
    # along the declared +x the plane is upright through the face's points: the top corner, 12 cm
    # up the tilted face, lies about 12 sin(12 deg) / 2 cm off it
    declared = _find(pts, n, predicted, plane_normals="declared")
    assert declared.found[0] and np.linalg.norm(declared.xyz[0] - top_corner) > 0.008


def test_a_declared_face_keeps_its_plane_under_biased_normals():
    # normals estimated on a noisy, quantised surface lean 20 degrees off the face (within the
    # 35 degree tolerance): the declared normal keeps the top's plane where its points are; their
    # mean normal tilts it about the middle of the points within the search radius, ~1.6 cm
    # inside the corner along x, and drops the corner by 1.6 tan(20 deg) ~ 0.6 cm
    pts, _ = _seat(front=False, side=False)
    lean = np.deg2rad(20.0)
    n = np.broadcast_to([np.sin(lean), 0.0, np.cos(lean)], pts.shape)
    declared = _find(pts, n, PREDICTED)
    assert declared.found[0] and abs(declared.xyz[0, 2] - CORNER[2]) < 1e-9
    assert np.all(np.abs(declared.xyz[0, :2] - CORNER[:2]) <= SPACING)
    measured = _find(pts, n, PREDICTED, plane_normals="measured")
    assert not measured.found[0] or np.linalg.norm(measured.xyz[0] - CORNER) > 0.004


def test_unseen_faces_end_beyond_the_outermost_reading_by_the_edge_outset():
    # the top alone: its edges bound x and y at the last grid point; the outset moves those out
    # and leaves the seen top's height alone, after the support test (a 2 cm outset, beyond the
    # 1.5 cm support, still finds the corner the readings show)
    pts, n = _seat(front=False, side=False)
    at_reading = _find(pts, n, PREDICTED)
    for outset in (0.003, 0.02):
        out = _find(pts, n, PREDICTED, edge_outset=outset)
        assert out.found[0]
        np.testing.assert_allclose(out.xyz[0] - at_reading.xyz[0], [outset, outset, 0.0], atol=1e-9)
    # three faces seen: nothing is bounded, nothing moves
    np.testing.assert_array_equal(_find(*_seat(), PREDICTED, edge_outset=0.01).xyz, _find(*_seat(), PREDICTED).xyz)
    # one outset per keypoint
    preds = np.stack([PREDICTED, PREDICTED])
    both = find_box_corners(preds, np.asarray([[X, Y, Z]] * 2), pts, n, radius=0.06, gate=0.08, edge_outset=[0.0, 0.004])
    np.testing.assert_allclose(both.xyz[1] - both.xyz[0], [0.004, 0.004, 0.0], atol=1e-9)


def test_an_occluded_corner_stays_unfound_whatever_the_outset():
    hidden = lambda p: ~((p[:, 0] > CORNER[0] - 0.04) & (p[:, 1] > CORNER[1] - 0.04))  # noqa: E731
    out = _find(*_seat(front=False, side=False, keep=hidden), PREDICTED, edge_outset=0.03)
    assert not out.found[0]
    np.testing.assert_array_equal(out.xyz[0], PREDICTED)


def test_plane_normals_per_keypoint_match_one_at_a_time():
    pts, n = _seat()
    preds = np.stack([PREDICTED, PREDICTED + [0.005, 0.0, 0.0]])
    faces = np.asarray([[X, Y, Z], [X, Y, Z]])
    leaning = n + np.array([0.0, 0.0, 0.3])  # not unit on purpose: only their directions count
    leaning /= np.linalg.norm(leaning, axis=1, keepdims=True)
    both = find_box_corners(preds, faces, pts, leaning, radius=0.06, gate=0.08, plane_normals=["declared", "measured"])
    for k, mode in enumerate(("declared", "measured")):
        one = find_box_corners(preds[k:k + 1], faces[k:k + 1], pts, leaning, radius=0.06, gate=0.08, plane_normals=mode)
        np.testing.assert_array_equal(both.xyz[k], one.xyz[0])
    assert not np.allclose(both.xyz[0], both.xyz[1], atol=1e-4)


def test_an_occluded_corner_is_not_found():
    # something in front hides the corner's 4 x 4 cm: the top face's extremes come from two
    # places, no seen point is near their meeting point
    hidden = lambda p: ~((p[:, 0] > CORNER[0] - 0.04) & (p[:, 1] > CORNER[1] - 0.04))  # noqa: E731
    out = _find(*_seat(front=False, side=False, keep=hidden), PREDICTED)
    assert not out.found[0]
    np.testing.assert_array_equal(out.xyz[0], PREDICTED)


def test_too_few_points_beyond_the_gate_and_no_faces():
    pts, n = _seat()
    far = _find(pts, n, CORNER + [0.05, 0.0, 0.0], gate=0.03)  # the corner is 5 cm from the prediction
    assert not far.found[0] and far.faces_seen[0] == 3
    assert not _find(pts[:5], n[:5], PREDICTED).found[0]
    none = find_box_corners(PREDICTED[None], np.zeros((1, 3, 3)), pts, n, radius=0.06, gate=0.08)
    assert not none.found[0] and none.faces_seen[0] == 0
    unknown = _find(pts, np.full_like(pts, np.nan), PREDICTED)  # normals unknown everywhere
    assert not unknown.found[0]
    empty = find_box_corners(np.zeros((0, 3)), np.zeros((0, 3, 3)), pts, n, radius=0.06, gate=0.08)
    assert empty.xyz.shape == (0, 3)


def test_batch_matches_one_at_a_time():
    pts, n = _seat()
    preds = np.stack([PREDICTED, CORNER + [0.01, -0.01, -0.01]])
    faces = np.asarray([[X, Y, Z], [Y, Z, np.zeros(3)]])
    both = find_box_corners(preds, faces, pts, n, radius=0.06, gate=0.08)
    for k in range(2):
        one = find_box_corners(preds[k:k + 1], faces[k:k + 1], pts, n, radius=0.06, gate=0.08)
        np.testing.assert_array_equal(both.xyz[k], one.xyz[0])
        assert both.found[k] == one.found[0]


@pytest.mark.parametrize("bad", [
    dict(predicted=np.zeros((1, 2))),
    dict(predicted=np.full((1, 3), np.nan)),
    dict(faces=np.zeros((2, 3, 3))),
    dict(normals=np.zeros((4, 3))),
    dict(radius=0.0),
    dict(gate=-1.0),
    dict(normal_tolerance_deg=90.0),
    dict(extreme_quantile=0.2),
    dict(min_points=0),
    dict(plane_normals="fitted"),
    dict(plane_normals=["declared", "measured"]),  # two modes for one keypoint
    dict(edge_outset=-0.001),
    dict(edge_outset=float("nan")),
    dict(edge_outset=[0.0, 0.0]),  # two outsets for one keypoint
    dict(layer_fraction=0.0),
    dict(layer_fraction=1.5),
    dict(layer_fraction=float("nan")),
    dict(layer_fraction=np.full((1, 2), 0.5)),  # two fractions for three face slots
])
def test_bad_input(bad):
    args = dict(predicted=np.zeros((1, 3)), faces=np.zeros((1, 3, 3)), points=np.zeros((5, 3)),
                normals=np.zeros((5, 3)), radius=0.06, gate=0.08)
    args.update(bad)
    with pytest.raises(InputError):
        find_box_corners(**args)


def test_a_few_noisy_points_in_front_of_a_face_do_not_move_it():
    # depth noise at 3 m scatters some top-face points (here one in seven) 3.5 cm up: the face is where
    # most of them are
    pts, n = _seat(front=False, side=False)
    rng = np.random.default_rng(0)
    stray = pts[rng.choice(len(pts), len(pts) // 6, replace=False)] + [0.0, 0.0, 0.035]
    out = _find(np.concatenate([pts, stray]), np.concatenate([n, n[: len(stray)]]), PREDICTED)
    assert out.found[0] and abs(out.xyz[0, 2] - CORNER[2]) < 0.003


def test_a_noisy_face_lies_at_most_two_thirds_of_sigma_out():
    # depth noise of 3 mm along the top's normal: the plane the outermost dense window gives sits
    # about 0.67 sigma out (the window starts at the median); the corner moves with it
    pts, n = _seat(front=False, side=False)
    noisy = pts + np.random.default_rng(1).normal(0.0, 0.003, len(pts))[:, None] * Z
    out = _find(noisy, n, PREDICTED)
    assert out.found[0] and 0.0 < out.xyz[0, 2] - CORNER[2] < 0.8 * 0.003


def test_the_densest_layer_of_a_noisy_face_lies_on_it():
    # the same noisy top: its densest window holds the points around the true plane, whose median
    # lies within a fifth of sigma of it (at half the densest window, 0.67 sigma out as above)
    pts, n = _seat(front=False, side=False)
    noisy = pts + np.random.default_rng(1).normal(0.0, 0.003, len(pts))[:, None] * Z
    outer, densest = _find(noisy, n, PREDICTED), _find(noisy, n, PREDICTED, layer_fraction=1.0)
    assert outer.found[0] and densest.found[0]
    assert abs(densest.xyz[0, 2] - CORNER[2]) < 0.2 * 0.003 < 0.5 * 0.003 < outer.xyz[0, 2] - CORNER[2]


def test_layer_fraction_per_face():
    # a face 3.5 cm behind the seat's front, with more points in the search sphere than the front
    # shows: at half the densest window the front still wins, at the densest the corner goes onto
    # the face behind; so the fraction is set per face slot (faces X, Y, Z here)
    inset, inset_n = _face(X, CORNER + [-0.035, 0.0, 0.0], Y, Z, (-0.10, 0.0), (-0.06, -0.01))
    pts, n = _seat(top=True, front=True, side=False)
    pts, n = np.concatenate([pts, inset, inset]), np.concatenate([n, inset_n, inset_n])
    kept = _find(pts, n, PREDICTED)
    behind = _find(pts, n, PREDICTED, layer_fraction=np.array([[1.0, 0.5, 0.5]]))
    assert kept.found[0] and abs(kept.xyz[0, 0] - CORNER[0]) < 1e-9
    assert behind.found[0] and abs(behind.xyz[0, 0] - (CORNER[0] - 0.035)) < 1e-9
    # the top's slot alone at 1: nothing lies under the top, the corner stays where it was
    top_only = _find(pts, n, PREDICTED, layer_fraction=np.array([[0.5, 0.5, 1.0]]))
    np.testing.assert_allclose(top_only.xyz, kept.xyz, atol=1e-12)


def test_faces_that_run_on_past_the_search_sphere_show_no_corner():
    # the fit put the corner 7 cm behind the front edge: within the 6 cm sphere the top face ends
    # only where the sphere does, so the "edge" there is no edge
    pts, n = _seat(front=False, side=False)
    behind = CORNER - [0.07, 0.0, 0.0]
    out = _find(pts, n, behind)
    assert not out.found[0] and out.faces_seen[0] == 1
    np.testing.assert_array_equal(out.xyz[0], behind)


# seed_at_top_edge: a backrest 0.40 m wide (y in [-0.20, 0.20]) rising to z = 0.90, 3 cm thick (x in [-0.03, 0])
BACK_TOP_LEFT = np.array([0.0, 0.20, 0.90])


def _quantised_front(rng, sigma=0.02, step=0.05, offset=0.017):
    """The seat's front face (+x at x = CORNER x), 20 x 20 cm, read by a sensor along -x: noise of
    ``sigma`` then steps of ``step`` in x, the face ``offset`` above a step."""
    pts, n = _face(X, CORNER, Y, Z, (-0.20, 0.0), (-0.20, 0.0))
    x = pts[:, 0] + rng.normal(0.0, sigma, len(pts))
    base = CORNER[0] - offset
    pts = pts.copy()
    pts[:, 0] = base + np.round((x - base) / step) * step
    return pts, n


def test_a_face_plane_averages_over_quantisation_layers():
    # 2 cm noise in 5 cm steps (a reading at 3-4 m): the outer dense window's median snaps to one
    # layer; the fitted plane lies within 3 mm of the face
    rng = np.random.default_rng(0)
    pts, _ = _quantised_front(rng)
    tol = np.full(len(pts), 2.5 * np.sqrt(0.02 ** 2 + 0.05 ** 2 / 12))
    plane = fit_face_plane(pts, X, tol, seed=1)
    assert plane is not None and plane.inliers.sum() > 0.9 * len(pts)
    assert float(plane.normal @ X) > np.cos(np.deg2rad(2.0)) and abs(plane.offset - CORNER[0]) < 0.003
    from semcorr_core.keypoints.corners import _outer_dense_window

    window = _outer_dense_window(pts[:, 0], 0.015, 0.5)
    assert abs(float(np.median(pts[window, 0])) - CORNER[0]) > 0.015  # a layer, not the face


def test_a_face_plane_keeps_to_its_expected_direction():
    pts, _ = _face(X, CORNER, Y, Z, (-0.15, 0.0), (-0.15, 0.0))
    tol = np.full(len(pts), 0.005)
    tilt = lambda deg: np.array([np.cos(np.deg2rad(deg)), 0.0, np.sin(np.deg2rad(deg))])
    assert fit_face_plane(pts, tilt(30.0), tol) is not None  # within 35 degrees of the face
    assert fit_face_plane(pts, tilt(50.0), tol) is None
    assert fit_face_plane(pts, tilt(50.0), tol, max_angle_deg=60.0) is not None
    flipped = fit_face_plane(pts, -X, tol, max_angle_deg=10.0)
    assert flipped is not None and float(flipped.normal @ X) < -0.999  # oriented along what was expected
    assert abs(flipped.offset + CORNER[0]) < 1e-9


def test_a_face_plane_needs_its_inliers():
    pts, _ = _face(X, CORNER, Y, Z, (-0.01, 0.0), (-0.01, 0.0))  # 9 points
    assert fit_face_plane(pts, X, np.full(len(pts), 0.005)) is None
    assert fit_face_plane(pts, X, np.full(len(pts), 0.005), min_inliers=5) is not None
    blob = np.random.default_rng(3).normal(0.0, 0.1, (300, 3))  # no plane within 2 mm holds 20 points
    assert fit_face_plane(blob, X, np.full(300, 0.002)) is None


@pytest.mark.parametrize("bad", [
    dict(points=np.zeros((30, 2))),
    dict(points=np.full((30, 3), np.nan)),
    dict(expected_normal=np.zeros(3)),
    dict(expected_normal=np.array([1.0, np.nan, 0.0])),
    dict(tolerance=np.full(29, 0.01)),
    dict(tolerance=np.zeros(30)),
    dict(max_angle_deg=90.0),
    dict(hypotheses=0),
    dict(min_inliers=2),
])
def test_face_plane_bad_input(bad):
    args = dict(points=np.random.default_rng(0).normal(size=(30, 3)), expected_normal=X, tolerance=np.full(30, 0.01))
    args.update(bad)
    with pytest.raises(InputError):
        fit_face_plane(**args)


def test_a_given_face_plane_is_the_face():
    # the front's normals unknown (NaN, as at a depth edge): without its plane the front is unseen and
    # bounds x at the outermost top / side reading; given its plane (here 4 mm out), x is that plane
    pts, n = _seat()
    n = n.copy()
    front = np.isclose(pts[:, 0], CORNER[0]) & ~np.isclose(pts[:, 2], CORNER[2])
    n[front] = np.nan
    planes = np.full((1, 3, 4), np.nan)
    planes[0, 0] = [1.0, 0.0, 0.0, CORNER[0] + 0.004]
    tol = np.full(len(pts), 0.005)
    unseen = _find(pts, n, PREDICTED)
    given = _find(pts, n, PREDICTED, face_planes=planes, face_tolerance=tol)
    assert unseen.found[0] and given.found[0] and given.faces_seen[0] == 3
    assert abs(unseen.xyz[0, 0] - CORNER[0]) <= SPACING
    assert given.xyz[0, 0] == pytest.approx(CORNER[0] + 0.004, abs=1e-9)
    np.testing.assert_allclose(given.xyz[0, 1:], CORNER[1:], atol=1e-9)  # the side and top as before


def test_face_planes_without_a_plane_change_nothing():
    pts, n = _seat()
    noisy = pts + np.random.default_rng(2).normal(0.0, 0.003, pts.shape)
    predicted = np.stack([PREDICTED, PREDICTED + 0.01])
    faces = np.asarray([[X, Y, Z]] * 2, float)
    kw = dict(radius=0.06, gate=0.08)
    plain = find_box_corners(predicted, faces, noisy, n, **kw)
    nan = find_box_corners(predicted, faces, noisy, n, face_planes=np.full((2, 3, 4), np.nan),
                           face_tolerance=np.full(len(pts), 0.01), **kw)
    np.testing.assert_array_equal(plain.xyz, nan.xyz)
    np.testing.assert_array_equal(plain.found, nan.found)
    np.testing.assert_array_equal(plain.faces_seen, nan.faces_seen)


@pytest.mark.parametrize("bad", [
    dict(face_planes=np.full((1, 2, 4), np.nan), face_tolerance=np.full(5, 0.01)),  # two slots for three faces
    dict(face_planes=np.full((1, 3, 3), np.nan), face_tolerance=np.full(5, 0.01)),
    dict(face_planes=np.full((1, 3, 4), np.nan)),  # no tolerance
    dict(face_planes=np.full((1, 3, 4), np.nan), face_tolerance=np.full(4, 0.01)),
    dict(face_planes=np.full((1, 3, 4), np.nan), face_tolerance=np.zeros(5)),
    dict(face_planes=np.full((1, 3, 4), np.nan), face_tolerance=np.full(5, np.nan)),
])
def test_face_planes_bad_input(bad):
    args = dict(predicted=np.zeros((1, 3)), faces=np.zeros((1, 3, 3)), points=np.zeros((5, 3)),
                normals=np.zeros((5, 3)), radius=0.06, gate=0.08)
    args.update(bad)
    with pytest.raises(InputError, match="face_"):
        find_box_corners(**args)


def _backrest(width=0.40, height=0.30, spacing=SPACING):
    """The backrest's front face (+x) and its top face (+z), grid points ``spacing`` apart."""
    half = width / 2
    front, _ = _face(X, np.array([0.0, -half, 0.90]), Y, Z, (0.0, width), (-height, 0.0))
    top, _ = _face(Z, np.array([-0.03, -half, 0.90]), X, Y, (0.0, 0.03), (0.0, width))
    return np.concatenate([front, top])


def _seed(points, predicted, outward=(0.0, 1.0, 0.0), **kw):
    return seed_at_top_edge(np.atleast_2d(predicted), np.atleast_2d(np.asarray(outward, float)), points,
                            **{"reach": 0.12, **kw})


def test_a_low_narrow_prediction_moves_to_the_top_edge_and_its_end():
    # the fit put the corner 7 cm low and 6 cm in from the side: the seed takes the top's height
    # (within the grid spacing: the 0.99 quantile of the heights) and the end of the top band
    low = BACK_TOP_LEFT + [0.0, -0.06, -0.07]
    out = _seed(_backrest(), low)
    assert out.moved.tolist() == [True]
    assert abs(out.xyz[0, 2] - 0.90) <= SPACING
    assert abs(out.xyz[0, 1] - 0.20) <= 0.02 * 0.40  # the 0.98 quantile of the band's y, near its end
    assert out.xyz[0, 0] == low[0]  # across the edge it stays where the fit put it
    # the right corner runs out along -y to the other end
    right = _seed(_backrest(), low * [1, -1, 1], outward=(0.0, -1.0, 0.0))
    assert abs(right.xyz[0, 1] + 0.20) <= 0.02 * 0.40 and abs(right.xyz[0, 2] - 0.90) <= SPACING


def test_a_high_prediction_comes_down_to_the_top():
    high = BACK_TOP_LEFT + [0.0, 0.0, 0.05]
    out = _seed(_backrest(), high)
    assert out.moved[0] and abs(out.xyz[0, 2] - 0.90) <= SPACING


def test_zero_outward_sets_the_height_only():
    low = BACK_TOP_LEFT + [0.0, -0.06, -0.07]
    out = _seed(_backrest(), low, outward=(0.0, 0.0, 0.0))
    assert out.moved[0] and abs(out.xyz[0, 2] - 0.90) <= SPACING
    np.testing.assert_array_equal(out.xyz[0, :2], low[:2])


def test_too_few_points_near_leave_the_prediction():
    low = BACK_TOP_LEFT + [0.0, -0.06, -0.07]
    sparse = _backrest()[::200]  # a grazing or slatted view: a handful of readings near the corner
    out = _seed(sparse, low, min_points=20)
    assert out.moved.tolist() == [False]
    np.testing.assert_array_equal(out.xyz, np.atleast_2d(low))
    # nothing within reach at all (the backrest left the segment)
    far = _seed(_backrest(), BACK_TOP_LEFT + [0.5, 0.0, 0.0])
    assert not far.moved[0] and np.array_equal(far.xyz[0], BACK_TOP_LEFT + [0.5, 0.0, 0.0])


def test_non_finite_points_are_ignored():
    pts = _backrest()
    with_nan = np.concatenate([pts, np.full((50, 3), np.nan), np.full((5, 3), np.inf)])
    low = BACK_TOP_LEFT + [0.0, -0.06, -0.07]
    np.testing.assert_array_equal(_seed(with_nan, low).xyz, _seed(pts, low).xyz)


def test_seeds_batch_matches_one_at_a_time():
    pts = _backrest()
    preds = np.array([BACK_TOP_LEFT + [0.0, -0.06, -0.07], BACK_TOP_LEFT * [1, -1, 1] + [0.0, 0.05, 0.04]])
    outward = np.array([[0.0, 1.0, 0.0], [0.0, -1.0, 0.0]])
    both = seed_at_top_edge(preds, outward, pts, reach=0.12)
    for k in range(2):
        one = seed_at_top_edge(preds[k:k + 1], outward[k:k + 1], pts, reach=0.12)
        np.testing.assert_array_equal(one.xyz[0], both.xyz[k])
        assert one.moved[0] == both.moved[k]


@pytest.mark.parametrize("bad", [
    dict(predicted=np.zeros((1, 2))),
    dict(predicted=np.full((1, 3), np.nan)),
    dict(outward=np.zeros((2, 3))),
    dict(outward=np.full((1, 3), np.inf)),
    dict(points=np.zeros((5, 2))),
    dict(reach=0.0),
    dict(reach=float("nan")),
    dict(band=-0.01),
    dict(top_quantile=0.3),
    dict(end_quantile=1.5),
    dict(min_points=0),
    dict(min_band_points=0),
])
def test_seed_bad_input(bad):
    args = dict(predicted=np.zeros((1, 3)), outward=np.zeros((1, 3)), points=np.zeros((5, 3)), reach=0.1)
    args.update(bad)
    with pytest.raises(InputError):
        seed_at_top_edge(**args)
