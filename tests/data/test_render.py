"""Renderer: exact ground truth (canonical coordinates, reprojection), noise, visibility, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from semcorr_core.data.render import DepthNoiseConfig, RaycastRenderer, SceneConfig, sample_scene
from semcorr_core.data.render.frame import DISTRACTOR_ID_BASE
from semcorr_core.data.render.scene import Scene, SceneObject
from semcorr_core.data.render.texture import random_texture
from semcorr_core.data.shape import ShapeInstance, Symmetry
from semcorr_core.data.shapes import generate_shape
from semcorr_core.errors import InputError
from semcorr_core.geometry.camera import PinholeCamera
from semcorr_core.geometry.transforms import apply_transform, invert_transform, look_at, make_transform

SMALL = SceneConfig(width=160, height=120, distractors_per_scene=(2, 3))


def _can() -> ShapeInstance:
    m = trimesh.creation.cylinder(radius=0.04, height=0.1, sections=48)
    m.apply_translation([0, 0, 0.05])
    return ShapeInstance("can", "test_can", m.vertices, m.faces,
                         {"top_center": [0, 0, 0.1], "bottom_center": [0, 0, 0]}, Symmetry("rotation_z"))


def _render(shape, seed=0, config=SMALL, noise=DepthNoiseConfig(enabled=False)):
    rng = np.random.default_rng(seed)
    scene = sample_scene([shape], rng, config)
    return scene, RaycastRenderer(config.camera()).render(scene, rng, noise)


@pytest.mark.parametrize("category", ["mug", "chair"])
def test_canonical_coordinates_equal_ray_hit(category):
    shape = generate_shape(category, 3)
    _, f = _render(shape, seed=1, config=SceneConfig(distractors_per_scene=(1, 2)))
    obj = f.objects[0]
    sel = f.instance_mask == obj.instance_index
    assert sel.sum() > 500
    # Camera-frame point seen by each pixel: its ray (z = 1 direction) scaled by the exact depth.
    hit_cam = f.camera.pixel_rays()[sel] * f.depth_clean[sel][:, None]
    hit_canonical = apply_transform(invert_transform(obj.pose), hit_cam)
    err_ray = np.linalg.norm(hit_canonical - f.canonical[sel], axis=1)
    from_faces = shape.surface_points(f.face_id[sel], f.barycentric[sel])
    err_faces = np.linalg.norm(from_faces - f.canonical[sel], axis=1)
    assert err_ray.max() < 1e-5, err_ray.max()
    assert err_faces.max() < 1e-5, err_faces.max()
    assert np.isnan(f.canonical[~sel & (f.instance_mask == 0)]).all()


def test_reprojection_of_rendered_points_is_subpixel_exact():
    """Half-pixel convention: the surface point rendered at pixel (i, j) projects back to exactly
    (i, j) through the GT pose and the OpenCV pinhole model."""
    shape = generate_shape("mug", 0)
    _, f = _render(shape, seed=2, config=SceneConfig(distractors_per_scene=(0, 0)))
    obj = f.objects[0]
    ys, xs = np.nonzero(f.instance_mask == obj.instance_index)
    uv = f.camera.project(apply_transform(obj.pose, f.canonical[ys, xs].astype(np.float64)))
    err = np.linalg.norm(uv - np.stack([xs, ys], 1), axis=1)
    assert err.max() < 0.01, err.max()
    # Keypoint annotations use the same projection.
    expect = f.camera.project(apply_transform(obj.pose, shape.keypoint_array))
    np.testing.assert_allclose(obj.keypoints_uv, expect, atol=1e-9)


def test_visible_keypoint_is_what_the_pixel_sees():
    """Cast a ray through a visible keypoint's annotated (sub-pixel) position: it must hit the
    keypoint itself (surface keypoints) - the annotation and the image agree."""
    shape = _can()
    cam = SMALL.camera()
    # Looking down at the can: top_center visible, bottom_center hidden under the top cap.
    eye = np.array([0.25, 0.0, 0.35])
    scene = Scene([SceneObject(shape.vertices, shape.faces, np.eye(4), random_texture(np.random.default_rng(0)), shape)],
                  [], random_texture(np.random.default_rng(1)), np.array([0, 0, 1.0]), 0.3, (0.5, 0.5, 0.5),
                  look_at(eye, [0, 0, 0.05]), cam)
    r = RaycastRenderer(cam)
    f = r.render(scene, np.random.default_rng(0), DepthNoiseConfig(enabled=False))
    obj = f.objects[0]
    assert obj.keypoints_visible.tolist() == [True, False]
    rc, _, _ = r._build(scene)
    u, v = obj.keypoints_uv[0]
    d = np.array([(u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy, 1.0])
    t = r.cast(rc, np.concatenate([np.zeros(3), d])[None])["t_hit"][0]
    np.testing.assert_allclose(t * d, obj.keypoints_cam[0], atol=1e-5)


def test_noise_off_is_exact_and_noise_on_is_sensor_like():
    shape = _can()
    _, clean = _render(shape, seed=5)
    np.testing.assert_array_equal(clean.depth, clean.depth_clean)
    _, noisy = _render(shape, seed=5, noise=DepthNoiseConfig(enabled=True))
    both = (noisy.depth > 0) & (noisy.depth_clean > 0)
    diff = noisy.depth[both] - noisy.depth_clean[both]
    assert 0 < np.abs(diff).mean() < 0.01  # millimetre-scale noise, not garbage
    assert ((noisy.depth == 0) & (noisy.depth_clean > 0)).sum() > 0  # dropouts / holes exist
    # Disparity quantisation: depth values take few distinct levels compared to the clean map.
    assert len(np.unique(noisy.depth[both])) < 0.5 * len(np.unique(noisy.depth_clean[both]))


def test_same_seed_same_frame_and_different_seed_differs():
    shape = _can()
    _, a = _render(shape, seed=7, noise=DepthNoiseConfig())
    _, b = _render(shape, seed=7, noise=DepthNoiseConfig())
    _, c = _render(shape, seed=8, noise=DepthNoiseConfig())
    np.testing.assert_array_equal(a.color, b.color)
    np.testing.assert_array_equal(a.depth, b.depth)
    assert not np.array_equal(a.color, c.color)


def test_instance_ids_and_distractors():
    shape = _can()
    _, f = _render(shape, seed=3, config=SceneConfig(width=320, height=240, objects_per_scene=(2, 2),
                                                      distractors_per_scene=(3, 3), fill_fraction=(0.8, 0.8)))
    ids = set(np.unique(f.instance_mask).tolist())
    assert {1, 2} <= ids
    assert all(i in (0, 1, 2) or i >= DISTRACTOR_ID_BASE for i in ids)
    dis = f.instance_mask >= DISTRACTOR_ID_BASE
    assert np.isnan(f.canonical[dis]).all() and (f.face_id[dis] == -1).all()
    assert len(f.objects) == 2 and [o.instance_index for o in f.objects] == [1, 2]


def test_depth_mm_encoding():
    _, f = _render(_can(), seed=4)
    mm = f.depth_mm
    assert mm.dtype == np.uint16
    valid = f.depth > 0
    assert np.abs(mm[valid] / 1000.0 - f.depth[valid]).max() <= 0.0005 + 1e-7
    assert (mm[~valid] == 0).all()


def test_camera_sphere_elevation_respected():
    shape = _can()
    cfg = SceneConfig(width=64, height=48, elevation_deg=(30.0, 40.0))
    rng = np.random.default_rng(0)
    for _ in range(10):
        s = sample_scene([shape], rng, cfg)
        assert 30.0 <= s.meta["elevation_deg"] <= 40.0
        assert s.camera_pose[2, 3] > 0  # above the table


def test_renderer_rejects_scene_of_other_camera():
    scene, _ = _render(_can())
    other = RaycastRenderer(PinholeCamera.from_fov(200, 100, 60))
    with pytest.raises(InputError, match="different camera"):
        other.render(scene, np.random.default_rng(0))


SHARED = __import__("pathlib").Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def test_real_keypointnet_chair_renders_with_exact_ground_truth():
    """A real mesh (KeypointNet chair, scaled to ~1 m) goes through the same renderer."""
    from semcorr_core.data.keypointnet import load_annotations, load_keypointnet_model

    root = SHARED / "keypointnet"
    assert root.is_dir(), f"shared data missing: {root}"
    ann = load_annotations(root / "annotations" / "chair.json")
    chair = load_keypointnet_model(root, "88382b877be91b2a572f8e1c1caad99e", ann, category="chair", scale=1.0)
    _, f = _render(chair, seed=3, config=SceneConfig(width=320, height=240, distractors_per_scene=(0, 0)))
    obj = f.objects[0]
    sel = f.instance_mask == obj.instance_index
    assert sel.sum() > 1000
    hit = apply_transform(invert_transform(obj.pose), f.camera.pixel_rays()[sel] * f.depth_clean[sel][:, None])
    assert np.abs(hit - f.canonical[sel]).max() < 1e-5
    assert obj.keypoints_cam.shape == (len(chair.keypoints), 3) and obj.keypoints_visible.any()


def test_lambert_shading_of_the_support_plane():
    """Light straight above: the plane shows its full albedo; light from below: ambient only."""
    shape = _can()
    rng = np.random.default_rng(0)
    scene = sample_scene([shape], rng, SMALL)
    r = RaycastRenderer(SMALL.camera())
    means = []
    for light in ([0.0, 0.0, 1.0], [0.0, 0.0, -1.0]):
        scene.light_dir_world = np.array(light)
        f = r.render(scene, np.random.default_rng(1), DepthNoiseConfig(enabled=False), color_noise_std=0.0)
        plane = (f.instance_mask == 0) & (f.depth_clean > 0)
        means.append(f.color[plane].astype(float).mean())
    assert means[1] / means[0] == pytest.approx(scene.ambient, rel=0.02)


def test_camera_next_to_an_object_casts_every_ray():
    """A mesh reaching behind the camera has no finite image box: every pixel is ray cast (this
    used to fail with a shape mismatch in bench pipeline)."""
    config = SceneConfig(width=80, height=60, distractors_per_scene=(0, 0))
    rng = np.random.default_rng(3)
    scene = sample_scene([_can()], rng, config)
    centre = scene.objects[0].pose[:3, 3] + np.array([0.0, 0.0, 0.05])
    scene.camera_pose = look_at(centre + np.array([0.0, 0.03, 0.0]), centre + np.array([0.0, 0.5, 0.0]),
                                up=(0.0, 0.0, 1.0))  # inside the can's radius, looking out through its wall
    renderer = RaycastRenderer(config.camera())
    verts = [apply_transform(invert_transform(scene.camera_pose), o.vertices @ o.pose[:3, :3].T + o.pose[:3, 3])
             for o in scene.objects]
    assert len(renderer._object_region(verts)) == 80 * 60
    f = renderer.render(scene, rng, DepthNoiseConfig(enabled=False))
    assert f.depth.shape == (60, 80) and (f.instance_mask == 1).sum() > 100
