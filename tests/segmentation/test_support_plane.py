"""Default segmenter: support-plane fit and instance clustering on rendered scenes with exact masks."""

from __future__ import annotations

import numpy as np
import pytest

from semcorr_core.data.render import DepthNoiseConfig, RaycastRenderer, SceneConfig, sample_scene
from semcorr_core.data.shapes import generate_shape
from semcorr_core.errors import InputError, InvalidDepthError
from semcorr_core.geometry.camera import PinholeCamera
from semcorr_core.segmentation import fit_support_plane, segment_objects


def _plane_points(rng, n=2000, normal=(0.1, -0.8, -0.3), offset=0.9, outliers=600):
    normal = np.asarray(normal, float) / np.linalg.norm(normal)
    a = np.cross(normal, [1.0, 0, 0])
    a /= np.linalg.norm(a)
    b = np.cross(normal, a)
    uv = rng.uniform(-1, 1, (n, 2))
    pts = -offset * normal + uv[:, :1] * a + uv[:, 1:] * b + rng.normal(0, 0.002, (n, 1)) * normal
    junk = rng.uniform(-1, 1, (outliers, 3)) + [0, 0, 1.5]
    return np.concatenate([pts, junk]), normal, offset


def test_plane_fit_recovers_normal_and_faces_the_camera():
    pts, normal, offset = _plane_points(np.random.default_rng(0))
    plane = fit_support_plane(pts, seed=1)
    # the plane passes at distance `offset` from the camera (origin); the normal points to it
    assert plane.offset == pytest.approx(offset, abs=2e-3)
    assert plane.offset > 0
    angle = np.degrees(np.arccos(min(1.0, abs(float(plane.normal @ normal)))))
    assert angle < 0.5
    assert 0.7 < plane.inlier_fraction < 0.8  # 2000 plane points of 2600


@pytest.mark.parametrize("bad, match", [
    (np.zeros((10, 2)), r"\(N, 3\)"),
    (np.zeros((2, 3)), "at least 3"),
    (np.array([[0, 0, 1], [1, 0, 1], [np.nan, 0, 1]]), "NaN"),
])
def test_plane_fit_bad_input(bad, match):
    with pytest.raises(InputError, match=match):
        fit_support_plane(bad)


def test_no_plane_in_view_is_a_clear_error():
    blob = np.random.default_rng(3).normal(size=(500, 3))  # a volume, no dominant plane
    with pytest.raises(InputError, match="no plane"):
        fit_support_plane(blob, threshold=0.005, min_inlier_fraction=0.3)


def _scene(seed, objects=(2, 2), distractors=(0, 0), noise=False):
    config = SceneConfig(width=320, height=240, objects_per_scene=objects, distractors_per_scene=distractors,
                         elevation_deg=(25, 60))
    rng = np.random.default_rng(seed)
    shapes = [generate_shape("mug", 1), generate_shape("bottle", 2)]
    scene = sample_scene(shapes, rng, config)
    return RaycastRenderer(config.camera()).render(scene, rng, DepthNoiseConfig(enabled=noise))


@pytest.mark.parametrize("seed, noise", [(0, False), (1, True), (2, True)])
def test_segments_match_the_rendered_instances(seed, noise):
    f = _scene(seed, noise=noise)
    seg = segment_objects(f.depth, f.camera)
    # the rendered support plane is z = 0 in the world: its normal in the camera frame
    n_cam = f.camera_pose[:3, :3].T @ np.array([0.0, 0.0, 1.0])
    assert float(seg.plane.normal @ n_cam) > np.cos(np.radians(1.0))
    assert seg.labels.shape == f.depth.shape and len(seg.masks) == int(seg.labels.max())
    for obj in f.objects:
        gt = f.instance_mask == obj.instance_index
        if gt.sum() < 300:
            continue
        ious = [(m & gt).sum() / (m | gt).sum() for m in seg.masks]
        assert max(ious) > 0.8, (obj.instance_index, max(ious, default=0))
    assert np.isnan(seg.heights[f.depth == 0]).all()


def test_empty_depth_and_bad_arguments():
    cam = PinholeCamera.from_fov(64, 48, 60.0)
    with pytest.raises(InvalidDepthError):
        segment_objects(np.zeros((48, 64), np.float32), cam)
    almost = np.zeros((48, 64), np.float32)
    almost[10, 10:13] = 1.0  # three readings (a rendered frame looking past everything had this)
    with pytest.raises(InvalidDepthError, match="3 valid readings"):
        segment_objects(almost, cam)
    with pytest.raises(InputError):
        segment_objects(np.zeros((48, 64, 1), np.float32), cam)
    with pytest.raises(InputError):
        segment_objects(np.ones((48, 64), np.float32), "not a camera")
    with pytest.raises(InputError):
        segment_objects(np.ones((40, 64), np.float32), cam)  # size mismatch with the intrinsics


def test_flat_scene_has_no_objects():
    f = _scene(4, objects=(1, 1))
    plane_only = np.where(f.instance_mask == 0, f.depth, 0).astype(np.float32)
    seg = segment_objects(plane_only, f.camera)
    assert seg.masks == [] and (seg.labels == 0).all()


def test_small_touching_pieces_join_the_larger_one_only():
    from semcorr_core.segmentation.support_plane import _absorb_small_pieces

    sizes = np.array([100, 30, 95, 5])
    # 1 touches 0 (30 <= 0.7 * 100: joins); 2 touches 0 (95 > 0.7 * 130: stays); 3 touches 2 (joins)
    roots = _absorb_small_pieces(sizes, np.array([[0, 1], [0, 2], [2, 3]]), 0.7)
    assert roots[1] == roots[0] and roots[2] != roots[0] and roots[3] == roots[2]
    assert (_absorb_small_pieces(sizes, np.zeros((0, 2), np.int64), 0.7) == np.arange(4)).all()


def test_cluttered_scenes_median_iou():
    """Several objects and distractors with sensor noise: most category objects come out whole
    (median IoU over 5 scenes, measured 0.74; objects touching in the top-down view may merge or split)."""
    ious = []
    for seed in range(5):
        f = _scene(seed, objects=(1, 3), distractors=(0, 3), noise=True)
        seg = segment_objects(f.depth, f.camera)
        for obj in f.objects:
            gt = f.instance_mask == obj.instance_index
            if gt.sum() >= 300:
                ious.append(max([(m & gt).sum() / (m | gt).sum() for m in seg.masks] or [0.0]))
    assert np.median(ious) > 0.7, ious  # measured 0.74 (seeds 0-4)


def test_depth_noise_model_hand_computed():
    from semcorr_core.segmentation import DepthNoiseModel

    m = DepthNoiseModel()
    # z = 2 m, fx = 500: axial 0.0012 + 0.0019 * 1.6**2 = 0.006064; step 4 * 0.125 / (500 * 0.05) = 0.02
    expected = np.sqrt(0.006064 ** 2 + 0.02 ** 2 / 12)
    assert abs(float(m.sigma(np.array(2.0), 500.0)) - expected) < 1e-12
    assert np.all(np.diff(m.sigma(np.linspace(0.5, 4, 20), 500.0)) > 0)
    with pytest.raises(InputError):
        DepthNoiseModel(baseline_m=0.0).validate()
    with pytest.raises(InputError):
        segment_objects(np.ones((48, 64), np.float32), PinholeCamera.from_fov(64, 48, 60.0),
                        noise=DepthNoiseModel(sigma_base=float("nan")))
    with pytest.raises(InputError):
        segment_objects(np.ones((48, 64), np.float32), PinholeCamera.from_fov(64, 48, 60.0), noise_sigmas=-1.0)


def _sensor_depth(z, cam, rng, noise=None):
    """Kinect-class readings of the true depth ``z`` (0 = none): axial noise, then disparity
    quantised in steps of ``disparity_step_px`` (the model of DepthNoiseModel)."""
    from semcorr_core.segmentation import DepthNoiseModel

    noise = noise or DepthNoiseModel()
    noisy = z + rng.normal(0, 1, z.shape) * (noise.sigma_base + noise.sigma_quadratic * (z - 0.4) ** 2)
    disparity = np.round(cam.fx * noise.baseline_m / np.maximum(noisy, 1e-6) / noise.disparity_step_px)
    return np.where(z > 0, cam.fx * noise.baseline_m / np.maximum(disparity * noise.disparity_step_px, 1e-9), 0.0)


def _plane_depth(cam, normal, offset):
    """True depth of the plane ``normal @ x + offset = 0`` through every pixel (0 where behind)."""
    t = -offset / (cam.pixel_rays() @ normal)
    return np.where(t > 0, t, 0.0)


def test_a_far_noisy_floor_is_not_an_object():
    """A floor 1-4 m away with quantised depth (steps of ~4 cm there): fixed 5 mm thresholds raise
    parts of it as objects; thresholds that follow the sensor's noise find none."""
    cam = PinholeCamera.from_fov(160, 120, 60.0)
    rng = np.random.default_rng(0)
    # floor plane y = 1.2 in the camera frame (camera 1.2 m above it, looking slightly down)
    tilt = np.deg2rad(20.0)
    normal = np.array([0.0, -np.cos(tilt), -np.sin(tilt)])
    z = _plane_depth(cam, normal, 1.2)
    z[(z > 4.0) | (z < 0.3)] = 0.0
    depth = _sensor_depth(z, cam, rng)
    assert np.median(depth[depth > 0]) > 2.0
    depth = depth.astype(np.float32)
    fixed = segment_objects(depth, cam, noise=None, min_pixels=20)
    adaptive = segment_objects(depth, cam, min_pixels=20)
    assert len(fixed.masks) > 0  # the old behaviour: the floor stands up in places
    assert adaptive.masks == []


def _far_floor_with_a_seat(seed):
    """Points of a floor 3.2-4 m away, seen from 3.3 m above it at 55 deg down, with a seat-like
    slab 0.45 m above it filling a quarter of the view; sensor noise and quantisation on."""
    cam = PinholeCamera.from_fov(320, 240, 55.0)
    tilt = np.deg2rad(55.0)
    floor = np.array([0.0, -np.cos(tilt), -np.sin(tilt)])  # unit, towards the camera
    z = _plane_depth(cam, floor, 3.3)
    seat = np.zeros(z.shape, bool)
    seat[70:170, 100:220] = True
    z = np.where(seat, _plane_depth(cam, floor, 3.3 - 0.45), z)
    z[(z > 4.0) | (z < 0.3)] = 0.0
    pts = cam.backproject(_sensor_depth(z, cam, np.random.default_rng(seed)).astype(np.float32))
    return pts[np.isfinite(pts[..., 2])], floor, cam


@pytest.mark.parametrize("seed", range(4))
def test_plane_fit_with_the_sensor_noise_finds_a_far_floor(seed):
    """A floor 3.2-4 m off scatters by 2-3 cm and comes in 5-6 cm steps: within one fixed
    centimetre a tilted layer of the readings wins (measured 1.6-3.1 deg, 3-8 cm off on seeds 0-4);
    with tolerances grown by the noise model the floor does (0.17-0.25 deg, 0.5-0.7 cm)."""
    from semcorr_core.segmentation import DepthNoiseModel

    pts, floor, cam = _far_floor_with_a_seat(seed)

    def error(plane):
        return np.degrees(np.arccos(min(1.0, abs(float(plane.normal @ floor))))), abs(plane.offset - 3.3)

    fixed_angle, fixed_offset = error(fit_support_plane(pts, seed=seed))
    angle, offset = error(fit_support_plane(pts, seed=seed, noise=DepthNoiseModel(), fx=cam.fx))
    assert angle < 0.4 and offset < 0.01
    assert fixed_angle > 1.0 and fixed_offset > 0.02  # the failure the noise model mends


def test_plane_fit_near_the_camera_is_the_fixed_threshold_fit():
    """Nearer than ~1.2 m (640 px camera) the noise stays under the threshold everywhere: the same
    inliers, uniform weights, the same plane."""
    from semcorr_core.segmentation import DepthNoiseModel

    cam = PinholeCamera.from_fov(640, 480, 55.0)
    tilt = np.deg2rad(50.0)
    floor = np.array([0.0, -np.cos(tilt), -np.sin(tilt)])
    z = _plane_depth(cam, floor, 0.6)
    z[(z > 1.2) | (z < 0.3)] = 0.0
    rng = np.random.default_rng(5)
    pts = cam.backproject(_sensor_depth(z, cam, rng).astype(np.float32))
    pts = pts[np.isfinite(pts[..., 2])][::7]
    assert float(pts[:, 2].max()) < 1.25
    junk = rng.uniform([-0.2, -0.2, 0.6], [0.2, 0.2, 0.9], (800, 3))  # objects above it
    pts = np.concatenate([pts, junk])
    fixed = fit_support_plane(pts, seed=2)
    noisy = fit_support_plane(pts, seed=2, noise=DepthNoiseModel(), fx=cam.fx)
    assert np.allclose(noisy.normal, fixed.normal, atol=1e-9) and noisy.offset == pytest.approx(fixed.offset, abs=1e-9)
    assert noisy.inlier_fraction == fixed.inlier_fraction


@pytest.mark.parametrize("kwargs, match", [
    (dict(fx=None), "focal length"),
    (dict(fx=0.0), "focal length"),
    (dict(fx=float("nan")), "focal length"),
    (dict(fx=500.0, noise_sigmas=-1.0), "noise_sigmas"),
])
def test_plane_fit_noise_model_bad_settings(kwargs, match):
    from semcorr_core.segmentation import DepthNoiseModel

    pts, _, _ = _far_floor_with_a_seat(0)
    with pytest.raises(InputError, match=match):
        fit_support_plane(pts, noise=DepthNoiseModel(), **kwargs)
    with pytest.raises(InputError):
        fit_support_plane(pts, noise=DepthNoiseModel(sigma_base=-1.0), fx=500.0)


def test_plane_fit_noise_model_needs_points_in_front_of_the_camera():
    from semcorr_core.segmentation import DepthNoiseModel

    pts, _, cam = _far_floor_with_a_seat(0)
    pts[3, 2] = 0.0
    with pytest.raises(InputError, match="in front of the camera"):
        fit_support_plane(pts, noise=DepthNoiseModel(), fx=cam.fx)
    fit_support_plane(pts)  # without a noise model any points do


def _join(points, pieces, touch_gap=1.5, standing_height=0.08):
    """Footprint joining on a plane z = 0 (heights = z), 1.5 cm cells, the segmenter's fractions."""
    from semcorr_core.segmentation.support_plane import _join_by_footprint

    return _join_by_footprint(points, pieces, np.array([0.0, 0.0, 1.0]), 0.015, 2, 0.7, 0.3, touch_gap,
                              points[:, 2], standing_height)


def test_footprint_join_shared_cells_versus_touching_cells():
    rng = np.random.default_rng(0)
    big = np.c_[rng.uniform(0.0, 0.10, (1000, 2)), np.full(1000, 0.05)]  # 10 x 10 cm footprint
    # a piece half the size whose footprint starts 1 cm past the big one's edge: cells touch only
    beside = np.c_[rng.uniform(0.11, 0.16, (500, 2)), np.full(500, 0.05)]
    # the same piece inside the big one's footprint (a mug's inside, a chair's legs): cells shared
    inside = np.c_[rng.uniform(0.02, 0.07, (500, 2)), np.full(500, 0.02)]
    pieces = np.r_[np.zeros(1000, int), np.ones(500, int)]
    apart = _join(np.r_[big, beside], pieces)
    assert len(np.unique(apart)) == 2  # 500 > 0.3 x 1000: a neighbour, not a fragment
    joined = _join(np.r_[big, inside], pieces)
    assert len(np.unique(joined)) == 1  # 500 <= 0.7 x 1000 and in its footprint
    fragment = _join(np.r_[big, beside[:250]], pieces[:1250])
    assert len(np.unique(fragment)) == 1  # 250 <= 0.3 x 1000: a fragment that came loose


def test_footprint_join_needs_touching_surfaces_for_pieces_standing_side_by_side():
    rng = np.random.default_rng(1)
    big = np.c_[rng.uniform(0.0, 0.10, (1000, 2)), np.full(1000, 0.05)]  # stands on the plane (5 cm)
    # a small piece standing on the plane 1 cm beside it in the top-down view (cells touch;
    # diagonally 1.4-1.8 cm from its points) but near the floor, 4 cm below the big one's surface:
    # > 1.5 cells (2.25 cm) away in 3D, a neighbour
    floor_level = np.c_[rng.uniform(0.11, 0.16, (250, 2)), rng.uniform(0.0, 0.01, 250)]
    pieces = np.r_[np.zeros(1000, int), np.ones(250, int)]
    assert len(np.unique(_join(np.r_[big, floor_level], pieces))) == 2
    # at the big one's height: < 1.5 cells apart, a fragment that joins; with 0.5 cells it stays
    level = floor_level.copy()
    level[:, 2] = 0.05
    assert len(np.unique(_join(np.r_[big, level], pieces))) == 1
    assert len(np.unique(_join(np.r_[big, level], pieces, touch_gap=0.5))) == 2
    # the same piece high above the plane (a chair's back over its legs): stacked, not standing
    # beside the big one, so the 3D gap does not count and it joins as a fragment
    stacked = floor_level.copy()
    stacked[:, 2] = 0.30
    assert len(np.unique(_join(np.r_[big, stacked], pieces))) == 1
    assert len(np.unique(_join(np.r_[big, stacked], pieces, standing_height=0.5))) == 2
    cam = PinholeCamera.from_fov(64, 48, 60.0)
    for bad in ({"touch_gap": -1.0}, {"touch_gap": float("nan")}, {"standing_height": -0.01}):
        with pytest.raises(InputError):
            segment_objects(np.ones((48, 64), np.float32), cam, **bad)
