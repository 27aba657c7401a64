"""Procedural category shape engine: determinism, canonical frame, symmetry, mesh validity."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from semcorr_core.data.categories import CATEGORY_NAMES, get_category
from semcorr_core.data.shape import ShapeInstance
from semcorr_core.data.shapes import generate_shape, generate_shapes, instance_rng
from semcorr_core.data.shapes.primitives import signed_volume
from semcorr_core.errors import InputError, UnknownCategoryError

EXPECTED_KEYPOINTS = {
    "mug": ("rim_center", "bottom_center", "handle_top", "handle_bottom", "handle_outer", "rim_front"),
    "bottle": ("cap_top", "neck", "shoulder", "bottom_center"),
    "bowl": ("rim_center", "bottom_center"),
    "can": ("top_center", "bottom_center"),
    "chair": (
        "seat_front_left", "seat_front_right", "seat_back_left", "seat_back_right",
        "leg_front_left", "leg_front_right", "leg_back_left", "leg_back_right",
        "back_top_left", "back_top_right",
    ),
}
MAX_FACES = {"mug": 6000, "bottle": 6000, "bowl": 6000, "can": 6000, "chair": 4000}
N_INST = 20


@pytest.fixture(scope="module")
def instances() -> dict[str, list[ShapeInstance]]:
    return {c: generate_shapes(c, N_INST, seed=1234) for c in CATEGORY_NAMES}


def _components(sh: ShapeInstance) -> list[np.ndarray]:
    """Face index arrays of the vertex-connected components."""
    F = sh.faces
    rows = np.repeat(F[:, 0], 2)
    cols = F[:, 1:].reshape(-1)
    n = len(sh.vertices)
    g = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, lab = connected_components(g, directed=False)
    flab = lab[F[:, 0]]
    return [np.nonzero(flab == k)[0] for k in np.unique(flab)]


def _surface_distance(sh: ShapeInstance, p: np.ndarray) -> float:
    tri = sh.vertices[sh.faces]
    q = trimesh.triangles.closest_point(tri, np.tile(p, (len(tri), 1)))
    return float(np.min(np.linalg.norm(q - p, axis=1)))


# ---------------------------------------------------------------- registry


def test_registry_names_and_order():
    assert CATEGORY_NAMES == ("mug", "bottle", "bowl", "can", "chair")
    for c in CATEGORY_NAMES:
        spec = get_category(c)
        assert spec.keypoint_names == EXPECTED_KEYPOINTS[c]
        assert set(spec.keypoint_definitions) == set(spec.keypoint_names)
        assert set(spec.surface_keypoints) <= set(spec.keypoint_names)
        assert spec.frame
        json.dumps(spec.to_dict())
    assert get_category(" Mug ").name == "mug"
    assert get_category("bottle").symmetry.kind == "rotation_z"
    assert get_category("mug").symmetry.plane_normal == (0.0, 1.0, 0.0)
    chair = get_category("chair").symmetry
    for name in EXPECTED_KEYPOINTS["chair"]:
        other = chair.swapped_name(name)
        assert other != name and other.replace("right", "left") == name.replace("right", "left")


@pytest.mark.parametrize("bad", ["teapot", "", None, 3])
def test_unknown_category(bad):
    with pytest.raises(UnknownCategoryError) as ei:
        get_category(bad)
    msg = str(ei.value)
    assert all(c in msg for c in CATEGORY_NAMES)
    with pytest.raises(UnknownCategoryError):
        generate_shape(bad, 0)


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_bad_seed(seed):
    with pytest.raises(InputError):
        generate_shape("mug", seed)


def test_bad_n():
    with pytest.raises(InputError):
        generate_shapes("mug", -2, 0)
    assert generate_shapes("mug", 0, 0) == []


# ---------------------------------------------------------------- determinism


@pytest.mark.parametrize("cat", CATEGORY_NAMES)
def test_determinism(cat):
    a, b, c = generate_shape(cat, 7), generate_shape(cat, 7), generate_shape(cat, 8)
    assert np.array_equal(a.vertices, b.vertices) and np.array_equal(a.faces, b.faces)
    assert np.array_equal(a.face_parts, b.face_parts) and a.params == b.params
    assert all(np.array_equal(a.keypoints[k], b.keypoints[k]) for k in a.keypoints)
    assert a.instance_id == b.instance_id != c.instance_id
    assert a.vertices.shape != c.vertices.shape or not np.allclose(a.vertices, c.vertices)
    assert a.params != c.params
    g1 = generate_shape(cat, np.random.default_rng(5))
    g2 = generate_shape(cat, np.random.default_rng(5))
    assert np.array_equal(g1.vertices, g2.vertices) and g1.instance_id == g2.instance_id


@pytest.mark.parametrize("cat", CATEGORY_NAMES)
def test_set_instances_reproducible_alone(cat):
    many = generate_shapes(cat, 4, seed=99)
    for i in (0, 3):
        alone = generate_shape(cat, 99, index=i)
        assert np.array_equal(alone.vertices, many[i].vertices)
        assert alone.instance_id == many[i].instance_id
        via_rng = generate_shape(cat, instance_rng(99, i))
        assert np.array_equal(via_rng.vertices, many[i].vertices)
    assert len({s.instance_id for s in many}) == 4
    assert not np.array_equal(many[0].keypoint_array, many[1].keypoint_array)


# ---------------------------------------------------------------- per-instance facts


@pytest.mark.parametrize("cat", CATEGORY_NAMES)
def test_keypoints_and_frame(instances, cat):
    spec = get_category(cat)
    for sh in instances[cat]:
        assert sh.category == cat
        assert sh.keypoint_names == EXPECTED_KEYPOINTS[cat]
        assert sh.symmetry == spec.symmetry
        assert abs(sh.vertices[:, 2].min()) < 1e-9
        assert np.all(np.isfinite(sh.vertices))
        if "bottom_center" in sh.keypoints:
            assert np.allclose(sh.keypoints["bottom_center"], 0.0, atol=1e-12)
        assert sh.face_parts is not None and len(sh.face_parts) == len(sh.faces)
        assert sh.face_parts.min() >= 0 and sh.face_parts.max() < len(sh.part_names)
        json.dumps(sh.params)
        if spec.symmetry.kind == "rotation_z":
            kp = sh.keypoint_array
            assert np.allclose(kp[:, :2], 0.0, atol=1e-12)  # all on the axis
            # rotationally symmetric body: centred on the axis
            assert np.allclose(sh.vertices[:, :2].max(0), -sh.vertices[:, :2].min(0), atol=1e-9)


def test_mug_frame(instances):
    for sh in instances["mug"]:
        k = sh.keypoints
        H = sh.params["height"]
        assert k["handle_outer"][0] > 0 and abs(k["handle_outer"][1]) < 1e-9
        assert np.isclose(k["handle_outer"][0], sh.vertices[:, 0].max(), atol=1e-12)
        assert k["handle_top"][2] > k["handle_bottom"][2] > 0
        assert k["handle_top"][0] > 0 and k["handle_bottom"][0] > 0
        top = sh.vertices[np.isclose(sh.vertices[:, 2], H, atol=1e-12)]
        assert np.isclose(k["rim_front"][0], -sh.params["radius_top"]) and k["rim_front"][2] == H
        assert np.isclose(k["rim_front"][0], top[:, 0].min(), atol=1e-12)  # outermost rim point at -x
        assert np.allclose(k["rim_center"], [0, 0, H]) and np.isclose(sh.vertices[:, 2].max(), H)
        assert k["handle_top"][2] < H and k["handle_outer"][2] < H
        # the handle stays on +x, the body is centred on the axis
        handle = sh.faces[sh.face_parts == sh.part_names.index("handle")]
        assert sh.vertices[np.unique(handle), 0].min() > 0


def test_chair_frame(instances):
    for sh in instances["chair"]:
        k = sh.keypoints
        for name, p in k.items():
            if name.endswith("_left"):
                assert p[1] > 0
                assert np.allclose(k[name.replace("_left", "_right")], p * [1, -1, 1], atol=1e-12)
        assert k["seat_front_left"][0] > k["seat_back_left"][0]
        assert k["leg_front_left"][0] > 0 > k["leg_back_left"][0]
        for leg in ("leg_front_left", "leg_front_right", "leg_back_left", "leg_back_right"):
            assert k[leg][2] == 0.0
        legs = np.stack([k[n] for n in k if n.startswith("leg_")])
        assert np.allclose(legs[:, :2].mean(0), 0.0, atol=1e-12)  # origin below the leg-footprint centre
        assert k["back_top_left"][2] > k["seat_back_left"][2] + 0.25
        hs = sh.params["seat_height"]
        assert all(np.isclose(k[n][2], hs) for n in k if n.startswith("seat_"))


@pytest.mark.parametrize("cat", CATEGORY_NAMES)
def test_symmetry_keypoints(instances, cat):
    sym = get_category(cat).symmetry
    rng = np.random.default_rng(0)
    for sh in instances[cat]:
        names = sh.keypoint_names
        kp = sh.keypoint_array
        if sym.kind == "reflection":
            mapped = kp @ sym.reflection_matrix().T
        else:
            a = rng.uniform(0, 2 * np.pi)
            Rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
            mapped = kp @ Rz.T
        target = np.stack([sh.keypoints[sym.swapped_name(n)] for n in names])
        assert np.allclose(mapped, target, atol=1e-12)


@pytest.mark.parametrize("cat", CATEGORY_NAMES)
def test_symmetry_mesh(instances, cat):
    """The mesh maps onto itself: mirrored (mug, chair) or rotated by one ring step (lathed)."""
    sym = get_category(cat).symmetry
    for sh in instances[cat][:8]:
        V = sh.vertices
        if sym.kind == "reflection":
            W = V @ sym.reflection_matrix().T
        else:
            a = 2 * np.pi / sh.params["n_seg"]
            Rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
            W = V @ Rz.T
        d, _ = cKDTree(V).query(W)
        assert d.max() < 1e-9


def test_mug_mirrored_points_on_mesh(instances):
    sh = instances["mug"][0]
    rng = np.random.default_rng(1)
    fid = rng.integers(0, len(sh.faces), 40)
    bary = rng.dirichlet(np.ones(3), 40)
    pts = sh.surface_points(fid, bary) * [1, -1, 1]
    assert max(_surface_distance(sh, p) for p in pts) < 1e-9


@pytest.mark.parametrize("cat", CATEGORY_NAMES)
def test_surface_keypoints_on_surface(instances, cat):
    spec = get_category(cat)
    for sh in instances[cat][:8]:
        for name in spec.surface_keypoints:
            assert _surface_distance(sh, sh.keypoints[name]) < 1e-6, (sh.instance_id, name)
        for name in set(spec.keypoint_names) - set(spec.surface_keypoints):
            assert np.allclose(sh.keypoints[name][:2], 0.0)  # non-surface ones are axis points


def test_mug_handle_ends_buried_in_wall(instances):
    """The tube ends lie inside the wall solid (never poking into the cavity or out of the body)."""
    import open3d as o3d

    for sh in instances["mug"][:10]:
        body = sh.faces[sh.face_parts != sh.part_names.index("handle")]
        m = o3d.t.geometry.TriangleMesh()
        m.vertex.positions = o3d.core.Tensor(sh.vertices.astype(np.float32))
        m.triangle.indices = o3d.core.Tensor(body.astype(np.int32))
        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(m)
        hp = sh.params["handle"]
        hv = np.unique(sh.faces[sh.face_parts == sh.part_names.index("handle")])
        P = sh.vertices[hv]
        ends = P[
            (np.isclose(P[:, 0], hp["end_x_top"], atol=1e-6) & (P[:, 2] > hp["center_z"]))
            | (np.isclose(P[:, 0], hp["end_x_bottom"], atol=1e-6) & (P[:, 2] < hp["center_z"]))
        ]
        assert len(ends) >= 2 * (hp["n_sides"] + 1) - 4
        occ = scene.compute_occupancy(o3d.core.Tensor(ends.astype(np.float32))).numpy()
        assert occ.all(), sh.instance_id
        # the rest of the handle is outside the body
        outside = P[P[:, 0] > max(hp["end_x_top"], hp["end_x_bottom"]) + 0.012]
        occ = scene.compute_occupancy(o3d.core.Tensor(outside.astype(np.float32))).numpy()
        assert not occ.any()


@pytest.mark.parametrize("cat", CATEGORY_NAMES)
def test_mesh_validity(instances, cat):
    for sh in instances[cat]:
        F, V = sh.faces, sh.vertices
        assert len(F) <= MAX_FACES[cat], (sh.instance_id, len(F))
        # no degenerate faces
        assert np.all((F[:, 0] != F[:, 1]) & (F[:, 1] != F[:, 2]) & (F[:, 0] != F[:, 2]))
        tri = V[F]
        area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
        assert area.min() > 1e-10, (sh.instance_id, area.min())
        assert len(np.unique(F)) == len(V)  # no unused vertices
        comps = _components(sh)
        for fids in comps:
            f = F[fids]
            directed = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
            keys = directed[:, 0] * len(V) + directed[:, 1]
            rev = directed[:, 1] * len(V) + directed[:, 0]
            assert len(np.unique(keys)) == len(keys)  # each directed edge once: consistent winding
            assert np.isin(rev, keys).all()  # each edge has its twin: closed
            assert signed_volume(V, f) > 0  # outward normals


def test_components_watertight_trimesh(instances):
    for cat in CATEGORY_NAMES:
        sh = instances[cat][0]
        tm = trimesh.Trimesh(sh.vertices, sh.faces, process=False)
        parts = tm.split(only_watertight=False)
        assert len(parts) == len(_components(sh))
        for p in parts:
            assert p.is_watertight and p.is_winding_consistent and p.volume > 0


# ---------------------------------------------------------------- variation

RANGES = {
    "mug": {"height": (0.07, 0.12), "radius_top": (0.035, 0.05), "wall_thickness": (0.002, 0.006)},
    "bottle": {"height": (0.15, 0.32), "body_radius": (0.0, 0.045)},
    "bowl": {"radius": (0.06, 0.14), "wall_thickness": (0.003, 0.008)},
    "can": {"radius": (0.025, 0.05), "height": (0.06, 0.16)},
    "chair": {"seat_height": (0.40, 0.50), "seat_depth": (0.36, 0.50), "back_height": (0.30, 0.50)},
}


@pytest.mark.parametrize("cat", CATEGORY_NAMES)
def test_variation(instances, cat):
    shapes = instances[cat]
    heights = np.array([s.vertices[:, 2].max() for s in shapes])
    assert (heights.max() - heights.min()) / heights.mean() > 0.2
    widths = np.array([np.ptp(s.vertices[:, 1]) for s in shapes])
    assert (widths.max() - widths.min()) / widths.mean() > 0.1
    for key, (lo, hi) in RANGES[cat].items():
        vals = np.array([s.params[key] for s in shapes])
        assert vals.min() >= lo and vals.max() <= hi, key
        assert np.ptp(vals) > 0.3 * (hi - lo) if lo > 0 else np.ptp(vals) > 0
    # distinct keypoint layouts per instance
    kp = np.stack([s.keypoint_array.ravel() for s in shapes])
    assert len(np.unique(kp.round(9), axis=0)) == len(shapes)


def test_style_variety(instances):
    seen = lambda cat, f: {f(s.params) for s in generate_shapes(cat, 40, seed=3)}  # noqa: E731
    assert seen("mug", lambda p: p["handle"]["style"]) == {"round", "D", "square"}
    assert seen("mug", lambda p: p["body_style"]) == {"straight", "tapered", "belly"}
    assert seen("bottle", lambda p: p["shoulder_style"]) == {"round", "conical", "ogee"}
    assert seen("bowl", lambda p: p["foot"] is None) == {True, False}
    assert seen("can", lambda p: p["style"]) == {"beverage", "food"}
    assert seen("chair", lambda p: p["back_style"]) == {"panel", "h_slats", "v_slats"}
    assert seen("chair", lambda p: p["leg_section"]) == {"round", "square"}
    assert seen("chair", lambda p: p["arms"] is None) == {True, False}
    assert seen("chair", lambda p: p["leg_splay"] > 0) == {True, False}


def test_mug_is_hollow(instances):
    """A ray straight down the axis from above the rim hits the inner floor, not the base."""
    for sh in instances["mug"][:5]:
        inner = sh.faces[sh.face_parts == sh.part_names.index("interior")]
        zin = sh.vertices[np.unique(inner), 2]
        assert np.isclose(zin.min(), sh.params["bottom_thickness"])
        # cavity volume = outer volume - solid volume is substantial
        tm = trimesh.Trimesh(sh.vertices, sh.faces[sh.face_parts != sh.part_names.index("handle")], process=False)
        H, r = sh.params["height"], sh.params["radius_top"]
        assert tm.volume < 0.6 * np.pi * r**2 * H
