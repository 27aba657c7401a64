"""Point-cloud samples for the embedding model: shapes, determinism, keypoint members, transforms,
the dataset and DataLoader workers, Eq. 2 set distances, bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import trimesh

from semcorr_core.data.point_clouds import (
    EmbeddingSample,
    PartialViewConfig,
    PointCloudDataset,
    collate,
    complete_cloud,
    keypoint_geodesics,
    partial_cloud,
    prepare_shape,
    sample_surface,
    set_distance_matrix,
)
from semcorr_core.data.shape import ShapeInstance
from semcorr_core.data.shapes import generate_shapes
from semcorr_core.errors import InputError, UnknownCategoryError
from semcorr_core.geometry import apply_transform, invert_transform

N = 512


@pytest.fixture(scope="module")
def mugs():
    return generate_shapes("mug", 3, seed=4)


@pytest.fixture(scope="module")
def mug(mugs):
    return prepare_shape(mugs[0])


def _equal(a: EmbeddingSample, b: EmbeddingSample) -> None:
    for name in ("points", "canonical", "normals", "face_id", "keypoint_index", "transform", "keypoint_visible"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert (a.shape_id, a.mode, a.index) == (b.shape_id, b.mode, b.index)


def test_sample_surface_points_lie_on_their_faces(mug):
    s = sample_surface(mug, 2000, np.random.default_rng(0))
    assert s.points.shape == (2000, 3) and s.face_ids.dtype == np.int64
    np.testing.assert_allclose(mug.shape.surface_points(s.face_ids, s.barycentric), s.points, atol=1e-12)
    assert (s.barycentric >= 0).all() and np.allclose(s.barycentric.sum(1), 1)
    np.testing.assert_allclose(np.linalg.norm(s.normals, axis=1), 1.0, atol=1e-9)
    # area weighting: the share of samples on the handle matches its share of the area
    parts = mug.shape.face_parts
    if parts is not None and len(np.unique(parts)) > 1:
        area = np.diff(np.concatenate([[0.0], mug.cum_area]))
        p = parts[0]
        assert abs(np.mean(parts[s.face_ids] == p) - area[parts == p].sum() / area.sum()) < 0.05


def test_complete_cloud_holds_exact_keypoints(mug):
    s = complete_cloud(mug, N, np.random.default_rng(1), similarity=False)
    K = len(s.keypoint_names)
    assert s.points.shape == (N, 3) and s.points.dtype == np.float32 and s.canonical.dtype == np.float32
    assert s.keypoint_index.shape == (K,) and s.keypoint_index.dtype == np.int64
    assert s.normals.shape == (N, 3) and s.face_id.shape == (N,) and s.transform.shape == (4, 4)
    assert (s.keypoint_index >= 0).all() and len(set(s.keypoint_index.tolist())) == K
    a = mug.anchors
    kp = mug.shape.keypoint_array
    for k, name in enumerate(s.keypoint_names):
        member = s.canonical[s.keypoint_index[k]]
        np.testing.assert_allclose(member, a.xyz[k], atol=1e-6)
        if a.on_surface[k]:  # surface keypoints: the keypoint itself is a point of the cloud
            np.testing.assert_allclose(member, kp[k], atol=1e-6, err_msg=name)
    # rim_center is in the air: its member is the closest rim point on the +x side (to within a
    # chord of the rim polygon)
    rc = s.keypoint_names.index("rim_center")
    assert not a.on_surface[rc] and 0.02 < a.offset[rc] < 0.06 and a.xyz[rc, 0] > 0.02 and abs(a.xyz[rc, 1]) < 5e-3
    assert set(a.on_surface.nonzero()[0]) == {1, 2, 3, 4, 5}


def test_similarity_round_trip(mug):
    s = complete_cloud(mug, N, np.random.default_rng(2), scale_range=(0.8, 1.25), translation_range=0.2)
    back = apply_transform(invert_transform(s.transform), s.points)
    np.testing.assert_allclose(back, s.canonical, atol=2e-6)
    scale = np.cbrt(np.linalg.det(s.transform[:3, :3]))
    assert 0.8 <= scale <= 1.25 and not np.allclose(s.transform[:3, :3] / scale, np.eye(3))
    np.testing.assert_allclose(np.linalg.norm(s.normals, axis=1), 1.0, atol=1e-5)
    # jitter moves points off the surface, canonical stays exact
    j = complete_cloud(mug, N, np.random.default_rng(2), similarity=False, jitter_std=0.002)
    off = np.linalg.norm(j.points - j.canonical, axis=1)
    assert 0.0005 < off.mean() < 0.004


def test_same_seed_same_arrays(mug):
    for make in (complete_cloud, partial_cloud):
        a = make(mug, N, np.random.default_rng(7))
        b = make(mug, N, np.random.default_rng(7))
        c = make(mug, N, np.random.default_rng(8))
        _equal(a, b)
        assert not np.array_equal(a.points, c.points)


def test_partial_cloud_members_and_absence(mugs):
    view = PartialViewConfig()
    rng = np.random.default_rng(3)
    present = []
    for i in range(12):
        ps = prepare_shape(mugs[i % 3])
        s = partial_cloud(ps, N, rng, noise=bool(i % 2))
        assert s.points.shape == (N, 3) and s.mode == "partial" and (s.points[:, 2] > 0).all()
        ok = s.keypoint_index >= 0
        present.append(ok)
        d = np.linalg.norm(s.canonical[s.keypoint_index[ok]] - ps.anchors.xyz[ok], axis=1)
        assert (d <= 0.0065).all(), d  # 5 mm, or 2 pixel footprints at ~0.3 m
        # each member faces the same way as its anchor
        n_member = ps.face_normals[s.face_id[s.keypoint_index[ok]]]
        assert ((n_member * ps.anchors.normal[ok]).sum(1) >= view.normal_cos_min - 1e-6).all()
        if i % 2 == 0:  # clean depth: the camera-frame points are the posed canonical points
            np.testing.assert_allclose(apply_transform(s.transform, s.canonical), s.points, atol=1e-5)
    present = np.array(present)
    names = list(s.keypoint_names)
    # the outer bottom faces the table: seen from above it is never there (the inner floor is
    # within 5 mm of it, but faces the other way)
    assert not present[:, names.index("bottom_center")].any()
    assert present[:, names.index("rim_front")].mean() >= 0.5
    assert present.mean() > 0.2


def test_partial_cloud_keeps_every_pixel_when_too_few(mug):
    s = partial_cloud(mug, 30000, np.random.default_rng(5), noise=False, resample="random")
    assert s.points.shape == (30000, 3)
    ok = s.keypoint_index >= 0
    assert ok.any()
    d = np.linalg.norm(s.canonical[s.keypoint_index[ok]] - mug.anchors.xyz[ok], axis=1)
    assert (d <= 0.0065).all()


def test_dataset_reproducible_mixed_and_held_out(mugs):
    ds = PointCloudDataset("mug", 3, seed=4, n_points=N, mode="mixed", length=8, holdout_keypoints=["handle_outer"])
    again = PointCloudDataset("mug", 3, seed=4, n_points=N, mode="mixed", length=8, holdout_keypoints=["handle_outer"])
    assert len(ds) == 8 and ds.keypoint_names[0] == "rim_center"
    samples = [ds[i] for i in range(8)]
    for i in (5, 2):  # any order of access, any instance of the dataset
        _equal(samples[i], again[i])
    assert {s.mode for s in samples} == {"complete", "partial"}
    ho = ds.keypoint_names.index("handle_outer")
    for s in samples:
        assert s.keypoint_index[ho] == -1
        assert np.abs(s.points.mean(0)).max() < 1e-5  # centred, and the transform knows it
        if s.mode == "complete":
            np.testing.assert_allclose(apply_transform(s.transform, s.canonical), s.points, atol=2e-5)
    full = PointCloudDataset("mug", 3, seed=4, n_points=N, mode="complete", length=3)
    assert all(full[i].keypoint_index[ho] >= 0 for i in range(3))
    batch = collate(samples[:4])
    assert batch["points"].shape == (4, N, 3) and batch["points"].dtype == torch.float32
    assert batch["keypoint_index"].shape == (4, 6) and batch["keypoint_index"].dtype == torch.int64
    assert batch["transform"].shape == (4, 4, 4) and batch["shape_index"].tolist() == [0, 1, 2, 0]


def test_dataloader_workers_agree():
    ds = PointCloudDataset("can", 2, seed=9, n_points=256, mode="mixed", length=6)
    loaders = [
        torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=collate, num_workers=w) for w in (0, 2)
    ]
    b0, b2 = (list(dl) for dl in loaders)
    assert len(b0) == len(b2) == 2
    for x, y in zip(b0, b2):
        for key in ("points", "canonical", "keypoint_index", "transform", "index"):
            assert torch.equal(x[key], y[key]), key
        assert x["mode"] == y["mode"] and x["shape_id"] == y["shape_id"]


def test_set_distance_matrix_mug(mugs):
    D = set_distance_matrix(mugs, generate_shapes("mug", 1, 0)[0].keypoint_names)
    assert D.shape == (6, 6) and D.dtype == torch.float32
    assert torch.allclose(D, D.T) and (D.diagonal() == 0).all()
    off = D[~torch.eye(6, dtype=torch.bool)]
    assert (off > 0).all() and (off < 0.4).all()
    # rim_center's anchor is on the inner rim edge: over the rim, down the outside, to the centre
    # of the base is about the height plus the base radius
    hand = np.mean([m.params["height"] + m.params["radius_bottom"] for m in mugs])
    assert 0.75 * hand < float(D[0, 1]) < 1.15 * hand
    # a geodesic is never shorter than the straight line between the anchors (up to the shift of
    # handle_top / handle_bottom, which lie under the handle, to the nearest uncovered vertex)
    for m in mugs:
        g, _ = keypoint_geodesics(m)
        a = prepare_shape(m).anchors.xyz
        assert (g + 8e-3 >= np.linalg.norm(a[:, None] - a[None], axis=-1)).all()


def test_set_distance_bridges_touching_parts_and_falls_back_to_euclid():
    chair = generate_shapes("chair", 1, seed=2)[0]
    g, _ = keypoint_geodesics(chair)
    names = list(chair.keypoint_names)
    i, j = names.index("leg_front_left"), names.index("leg_front_right")
    straight = np.linalg.norm(chair.keypoints["leg_front_left"] - chair.keypoints["leg_front_right"])
    # legs are separate components touching the seat: the path climbs up, over and down
    assert g[i, j] > straight + 0.5 * chair.keypoints["seat_front_left"][2]
    # two boxes that never touch: Euclidean distance between the keypoints
    a = trimesh.creation.box(extents=(0.1, 0.1, 0.1))
    b = trimesh.creation.box(extents=(0.1, 0.1, 0.1))
    b.apply_translation((0.5, 0.0, 0.0))
    v = np.concatenate([a.vertices, b.vertices])
    f = np.concatenate([a.faces, b.faces + len(a.vertices)])
    s = ShapeInstance("blocks", "two", v, f, {"p": [0.05, 0.0, 0.0], "q": [0.45, 0.0, 0.0]})
    g2, present = keypoint_geodesics(s)
    assert present.all() and g2[0, 1] == pytest.approx(0.4, abs=1e-6)


def test_bad_input(mug, mugs):
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="n_points"):
        complete_cloud(mug, 0, rng)
    with pytest.raises(InputError, match="n_points"):
        complete_cloud(mug, 3, rng)  # cannot hold six keypoints
    with pytest.raises(InputError, match="Generator"):
        partial_cloud(mug, N, 123)
    with pytest.raises(InputError, match="resample"):
        partial_cloud(mug, N, rng, resample="grid")
    with pytest.raises(InputError, match="ShapeInstance"):
        sample_surface(np.zeros((3, 3)), 10, rng)
    with pytest.raises(InputError, match="scale_range"):
        complete_cloud(mug, N, rng, scale_range=(1.2, 0.8))
    with pytest.raises(InputError, match="mode"):
        PointCloudDataset("mug", 2, mode="both")
    with pytest.raises(InputError, match="holdout_keypoints"):
        PointCloudDataset("mug", 2, holdout_keypoints=["spout"])
    with pytest.raises(InputError, match="category"):
        PointCloudDataset("mug", shapes=generate_shapes("can", 1, 0))
    with pytest.raises(UnknownCategoryError):
        PointCloudDataset("teapot", 2)
    with pytest.raises(InputError, match="at least one shape"):
        set_distance_matrix([])
    s1 = complete_cloud(mug, N, rng)
    s2 = complete_cloud(mug, N + 1, rng)
    with pytest.raises(InputError, match="point count"):
        collate([s1, s2])
    with pytest.raises(IndexError):
        PointCloudDataset("mug", 2, length=2)[2]


def test_partial_cloud_in_gravity_frame_stands_upright(mug):
    cam = partial_cloud(mug, N, np.random.default_rng(3), noise=False)
    grav = partial_cloud(mug, N, np.random.default_rng(3), noise=False, frame="gravity")
    np.testing.assert_array_equal(cam.canonical, grav.canonical)  # same view, other frame
    # canonical +z (the support-plane normal) is +z of the gravity frame: a rotation about z only
    R = grav.transform[:3, :3]
    np.testing.assert_allclose(R[:, 2], [0, 0, 1], atol=1e-9)
    np.testing.assert_allclose(R[2], [0, 0, 1], atol=1e-9)
    np.testing.assert_allclose(apply_transform(grav.transform, grav.canonical), grav.points, atol=1e-5)
    # distances inside the cloud do not change
    np.testing.assert_allclose(np.linalg.norm(grav.points - grav.points[0], axis=1),
                               np.linalg.norm(cam.points - cam.points[0], axis=1), atol=1e-5)
    with pytest.raises(InputError, match="frame"):
        partial_cloud(mug, N, np.random.default_rng(3), frame="world")


def test_dataset_cache_returns_the_same_samples_without_redrawing(mugs, monkeypatch):
    kw = dict(n_points=N, mode="mixed", length=4, frame="gravity")
    cached = PointCloudDataset("mug", 3, seed=4, cache=True, **kw)
    plain = PointCloudDataset("mug", 3, seed=4, **kw)
    first = [cached[i] for i in range(4)]
    for i in range(4):
        _equal(first[i], plain[i])
    import semcorr_core.data.point_clouds as pc

    def fail(*a, **k):
        raise AssertionError("a cached sample was drawn again")

    monkeypatch.setattr(pc, "partial_cloud", fail)
    monkeypatch.setattr(pc, "complete_cloud", fail)
    for i in range(4):
        again = cached[i]
        _equal(again, first[i])
        again.points = None  # callers replacing a field do not corrupt the cache
        assert cached[i].points is not None


def test_parts_seen_counts_points_per_part(mug):
    from semcorr_core.data.point_clouds import parts_seen

    s = complete_cloud(mug, 512, np.random.default_rng(0))
    shape = mug.shape
    assert {"body", "handle"} <= set(parts_seen(s.face_id, mug)) <= set(shape.part_names)
    on_handle = np.asarray(shape.face_parts)[s.face_id] == shape.part_names.index("handle")
    # keep 9 handle points: below the default threshold of 10, so the handle is not seen
    keep = np.concatenate([np.flatnonzero(~on_handle), np.flatnonzero(on_handle)[:9]])
    thin = dataclasses.replace(s, face_id=np.concatenate([s.face_id[keep], [-1, -1]]))  # -1: no face
    assert "handle" not in parts_seen(thin.face_id, mug)
    assert "handle" in parts_seen(thin.face_id, mug, min_points=9)
    bare = dataclasses.replace(shape, face_parts=None, part_names=())
    assert parts_seen(s.face_id, bare) == ()


def test_view_symmetry_mug_without_handle_is_rotation_symmetric():
    from semcorr_core.data.categories import get_category

    mug_spec, bottle_spec = get_category("mug"), get_category("bottle")
    assert mug_spec.view_symmetry(("body", "handle")).kind == "reflection"
    assert mug_spec.view_symmetry(("body",)).kind == "rotation_z"
    assert mug_spec.view_symmetry(()).kind == "rotation_z"
    assert get_category("chair").view_symmetry(()).kind == "reflection"
    assert bottle_spec.view_symmetry(()).kind == "rotation_z"


def test_rendered_mug_views_with_hidden_handle_observe_no_handle_keypoint(mug):
    from semcorr_core.data.point_clouds import parts_seen

    seen = []
    for v in range(10):
        s = partial_cloud(mug, 256, np.random.default_rng([3, v]), frame="gravity")
        handle_seen = "handle" in parts_seen(s.face_id, mug)
        seen.append(handle_seen)
        if not handle_seen:
            assert s.keypoint_index[s.keypoint_names.index("handle_outer")] < 0
    assert any(seen) and not all(seen)


def test_axis_keypoint_anchors_stay_at_their_own_height():
    # bottle shoulder: on the shoulder at its own height, out along +x, where the radius is half-way
    # between body and neck radius, whatever the shoulder's style and slope
    styles = set()
    for s in generate_shapes("bottle", 12, seed=21):
        a = prepare_shape(s).anchors
        k = a.names.index("shoulder")
        assert abs(a.xyz[k, 2] - a.keypoints[k, 2]) < 1e-4
        assert abs(a.xyz[k, 1]) < 1e-6 and a.xyz[k, 0] > 0
        mid = 0.5 * (s.params["body_radius"] + s.params["neck_radius"])
        assert abs(a.xyz[k, 0] - mid) < 5e-4  # the mesh's 10 shoulder facets, not the exact curve
        styles.add(s.params["shoulder_style"])
    assert styles == {"round", "conical", "ogee"}
    # a can's bottom_center below a domed base: the closest point is the dome's pole, on the axis
    for s in generate_shapes("can", 6, seed=21):
        a = prepare_shape(s).anchors
        k = a.names.index("bottom_center")
        assert np.hypot(*a.xyz[k, :2]) < 0.005
