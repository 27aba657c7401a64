"""Real-data tests of the mesh / KeypointNet / correspondence-set loaders on ../shared/data.

Data provenance: ../shared/data/PROVENANCE.txt (KeypointNet chair.json + one in-tree chair,
ShapeNet mug from ACRONYM, Wild6D category templates).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from semcorr_core.data.correspondence_sets import CorrespondenceSets, PointRef
from semcorr_core.data.keypointnet import (
    annotation_keypoints,
    find_entry,
    list_annotated_models,
    load_annotations,
    load_keypointnet_model,
    load_keypointnet_pcd,
    mesh_path,
    read_pcd,
    rebuild_keypoints_from_faces,
)
from semcorr_core.data.mesh_io import load_annotated_mesh, load_mesh, save_keypoint_yaml
from semcorr_core.data.shape import ShapeInstance, Symmetry
from semcorr_core.errors import DatasetFormatError, MeshLoadError

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
KPN = DATA / "keypointnet"
CHAIR = "88382b877be91b2a572f8e1c1caad99e"
CHAIR_CLASS = "03001627"
MUG_TEMPLATE = DATA / "category_templates_wild6d" / "mug.obj"


@pytest.fixture(scope="module", autouse=True)
def _require_shared_data():
    if not (KPN / "annotations" / "chair.json").is_file():
        pytest.fail(
            f"shared real data not found at {DATA.resolve()} (expected keypointnet/annotations/chair.json); "
            "the repository must sit next to ../shared/data"
        )


@pytest.fixture(scope="module")
def chair_annotations():
    return load_annotations(KPN / "annotations" / "chair.json")


@pytest.fixture(scope="module")
def chair_mesh():
    return load_mesh(mesh_path(KPN, CHAIR_CLASS, CHAIR))


# ---------------------------------------------------------------------------------------------
# KeypointNet


def test_keypointnet_rebuild_from_faces_matches_xyz(chair_annotations, chair_mesh):
    V, F = chair_mesh
    assert V.shape == (814, 3) and F.shape == (3304, 3)
    kp = annotation_keypoints(find_entry(chair_annotations, CHAIR))
    assert len(kp["xyz"]) == 10
    rebuilt = rebuild_keypoints_from_faces(V, F, kp["face_index"], kp["face_uv"])
    err = float(np.abs(rebuilt - kp["xyz"]).max())
    print(f"KeypointNet chair {CHAIR}: max |rebuilt - xyz| = {err:.3e} (ply, face_uv = weights of face vertices 0,1,2)")
    assert err < 1e-6
    # the convention is specific: any other vertex order is far off
    rolled = rebuild_keypoints_from_faces(V, F[:, [1, 2, 0]], kp["face_index"], kp["face_uv"])
    assert np.abs(rolled - kp["xyz"]).max() > 1e-3


def test_keypointnet_obj_in_file_order_matches_ply(chair_annotations, chair_mesh):
    V_obj, F_obj = load_mesh(KPN / "models" / CHAIR_CLASS / CHAIR / "models" / "model_normalized.obj")
    assert F_obj.shape == chair_mesh[1].shape
    kp = annotation_keypoints(find_entry(chair_annotations, CHAIR))
    rebuilt = rebuild_keypoints_from_faces(V_obj, F_obj, kp["face_index"], kp["face_uv"])
    assert np.abs(rebuilt - kp["xyz"]).max() < 1e-6


def test_keypointnet_pcd_point_index_matches_xyz(chair_annotations):
    pc = load_keypointnet_pcd(KPN, CHAIR_CLASS, CHAIR)
    assert pc.points.shape == (2048, 3)
    assert pc.rgb is not None and pc.rgb.shape == (2048, 3) and pc.rgb.dtype == np.uint8
    kp = annotation_keypoints(find_entry(chair_annotations, CHAIR))
    err = float(np.abs(pc.points[kp["point_index"]] - kp["xyz"]).max())
    print(f"KeypointNet chair {CHAIR}: max |pcd[point_index] - xyz| = {err:.3e}")
    assert err < 1e-5  # the .pcd is printed with 6 decimals
    # keypoint rgb is the cloud colour at that point
    rgb = np.array([k["rgb"] for k in sorted(find_entry(chair_annotations, CHAIR)["keypoints"],
                                             key=lambda k: k["semantic_id"])])
    assert np.array_equal(pc.rgb[kp["point_index"]], rgb)


def test_keypointnet_listing(chair_annotations):
    assert len(chair_annotations) == 999
    ids = list_annotated_models(chair_annotations)
    assert len(ids) == 999 and len(set(ids)) == 999
    assert list_annotated_models(chair_annotations, KPN, require="mesh") == [CHAIR]
    assert list_annotated_models(chair_annotations, KPN, require="pcd") == [CHAIR]


def test_keypointnet_model_as_shape_instance(chair_annotations):
    raw = load_keypointnet_model(KPN, CHAIR, chair_annotations, frame="shapenet")
    assert isinstance(raw, ShapeInstance)
    assert raw.category == "chair" and raw.instance_id == CHAIR
    assert raw.keypoint_names == tuple(f"kp_{s}" for s in (0, 1, 2, 3, 4, 5, 17, 18, 19, 20))
    stored = annotation_keypoints(find_entry(chair_annotations, CHAIR))["xyz"]
    assert np.abs(raw.keypoint_array - stored).max() < 1e-6

    shape = load_keypointnet_model(KPN, CHAIR, chair_annotations, name_map={0: "back_top_a"}, scale=0.9)
    assert shape.keypoint_names[0] == "back_top_a"
    lo, hi = shape.vertices.min(0), shape.vertices.max(0)
    assert abs(lo[2]) < 1e-9 and np.allclose((lo[:2] + hi[:2]) / 2, 0, atol=1e-9)  # bottom centre at origin
    assert np.isclose(shape.bbox_diagonal(), 0.9 * raw.bbox_diagonal())
    assert hi[2] > hi[0] - lo[0]  # +z is the chair's up axis (taller than wide)
    # canonical keypoints equal face+barycentric evaluated on the canonical vertices
    kf = shape.params["keypoint_faces"]
    names = list(shape.keypoints)
    on_surface = shape.surface_points([kf[n]["face"] for n in names], [kf[n]["barycentric"] for n in names])
    assert np.abs(on_surface - shape.keypoint_array).max() < 1e-9
    # legs (kp_17..20) touch the floor; seat front (kp_4, kp_5) is towards +x, in front of the back (kp_2, kp_3)
    assert all(abs(shape.keypoints[f"kp_{s}"][2]) < 1e-3 for s in (17, 18, 19, 20))
    assert min(shape.keypoints["kp_4"][0], shape.keypoints["kp_5"][0]) > max(
        shape.keypoints["kp_2"][0], shape.keypoints["kp_3"][0]
    )
    # left/right reflection symmetry from the annotation's reflection groups
    assert shape.symmetry.kind == "reflection"
    assert shape.symmetry.plane_normal == (0.0, 1.0, 0.0)
    assert ("kp_4", "kp_5") in shape.symmetry.keypoint_swaps


def test_keypointnet_wrong_face_order_is_detected(chair_annotations, tmp_path):
    # a mesh with the same vertices but faces rolled -> rebuild check fails loudly
    V, F = load_mesh(mesh_path(KPN, CHAIR_CLASS, CHAIR))
    root = tmp_path / "kpn"
    p = root / "ShapeNetCore.v2.ply" / CHAIR_CLASS / f"{CHAIR}.ply"
    p.parent.mkdir(parents=True)
    import trimesh

    trimesh.Trimesh(V, np.roll(F, 1, axis=0), process=False).export(p)
    with pytest.raises(MeshLoadError, match="face order"):
        load_keypointnet_model(root, CHAIR, chair_annotations)


def test_pcd_binary_reader_round_trip(tmp_path):
    pts = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    rgb = np.random.default_rng(1).integers(0, 256, size=(50, 3)).astype(np.uint32)
    packed = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    rec = np.zeros(50, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<u4")])
    rec["x"], rec["y"], rec["z"], rec["rgb"] = pts[:, 0], pts[:, 1], pts[:, 2], packed
    header = (
        "VERSION .7\nFIELDS x y z rgb\nSIZE 4 4 4 4\nTYPE F F F U\nCOUNT 1 1 1 1\n"
        "WIDTH 50\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS 50\nDATA binary\n"
    )
    p = tmp_path / "c.pcd"
    p.write_bytes(header.encode() + rec.tobytes())
    pc = read_pcd(p)
    assert np.array_equal(pc.points, pts.astype(np.float64))
    assert np.array_equal(pc.rgb, rgb.astype(np.uint8))
    (tmp_path / "bad.pcd").write_text("hello\nworld\n")
    with pytest.raises(MeshLoadError, match="bad.pcd"):
        read_pcd(tmp_path / "bad.pcd")


# ---------------------------------------------------------------------------------------------
# generic mesh loader


@pytest.mark.parametrize(
    "path",
    sorted((DATA / "shapenet_mug_acronym").glob("*.obj")) + [MUG_TEMPLATE],
    ids=lambda p: p.name,
)
def test_load_mesh_real_obj(path):
    V, F = load_mesh(path)
    assert V.dtype == np.float64 and F.dtype == np.int64
    assert V.ndim == 2 and V.shape[1] == 3 and F.ndim == 2 and F.shape[1] == 3
    assert 100 < len(V) < 1_000_000 and 100 < len(F) < 2_000_000
    assert np.all(np.isfinite(V))
    assert F.min() >= 0 and F.max() < len(V)
    assert len(np.unique(F)) > 0.5 * len(V)  # most vertices used (the Wild6D mug has ~27% unreferenced)
    ext = V.max(0) - V.min(0)
    assert np.all(np.isfinite(ext)) and np.all(ext > 0)
    # vertex count equals the file's "v" lines: nothing merged or split
    n_v = sum(1 for line in path.read_text().splitlines() if line.startswith("v "))
    assert len(V) == n_v


def test_load_mesh_multi_group_obj_merged(tmp_path):
    p = tmp_path / "two.obj"
    p.write_text(
        "o a\nv 0 0 0\nv 1 0 0\nv 0 1 0\nusemtl m1\nf 1 2 3\n"
        "o b\nv 0 0 1\nv 1 0 1\nv 1 1 1\nv 0 1 1\nusemtl m2\nf 4/1/1 5/2/1 6/3/1 7/4/1\nf -1 -2 -3\n"
    )
    V, F = load_mesh(p)
    assert V.shape == (7, 3)
    assert F.tolist() == [[0, 1, 2], [3, 4, 5], [3, 5, 6], [6, 5, 4]]


def test_load_mesh_ply_off_stl(tmp_path):
    import trimesh

    V, F = load_mesh(MUG_TEMPLATE)
    m = trimesh.Trimesh(V, F, process=False)
    for suffix in (".ply", ".off"):
        p = tmp_path / f"mug{suffix}"
        m.export(p)
        V2, F2 = load_mesh(p)
        assert np.allclose(V2, V, atol=1e-6) and np.array_equal(F2, F)
    p = tmp_path / "mug.stl"
    m.export(p)
    V3, F3 = load_mesh(p)
    assert len(F3) == len(F) and np.allclose(V3[F3], V[F], atol=1e-5)


# ---------------------------------------------------------------------------------------------
# keypoint YAML


def _mug_yaml(tmp_path: Path) -> Path:
    y = tmp_path / "mug_kp.yaml"
    y.write_text(
        """format: semcorr-keypoints/1
category: mug
instance_id: wild6d_mug
units: cm
transform:
  scale: 2.0
  rotation: [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
  translation: [0.1, 0.0, 0.05]
symmetry:
  kind: reflection
  plane_normal: [0, 1, 0]
  keypoint_swaps: [[side_a, side_b]]
keypoints:
  top: [0.0, 0.0, 10.0]
  side_a: {face: 5, barycentric: [0.2, 0.3, 0.5]}
  side_b: {face: 17, barycentric: [1.0, 0.0, 0.0]}
"""
    )
    return y


def test_annotated_mesh_transform_and_face_keypoints(tmp_path):
    y = _mug_yaml(tmp_path)
    shape = load_annotated_mesh(MUG_TEMPLATE, y)
    V_file, F = load_mesh(MUG_TEMPLATE)
    R = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]], dtype=float)
    expected_V = 2.0 * (0.01 * V_file) @ R.T + np.array([0.1, 0.0, 0.05])
    assert shape.category == "mug" and shape.instance_id == "wild6d_mug"
    assert np.allclose(shape.vertices, expected_V)
    assert np.array_equal(shape.faces, F)
    assert shape.keypoint_names == ("top", "side_a", "side_b")
    assert np.allclose(shape.keypoints["top"], 2.0 * R @ np.array([0, 0, 0.1]) + [0.1, 0.0, 0.05])
    assert np.allclose(shape.keypoints["side_a"], np.array([0.2, 0.3, 0.5]) @ expected_V[F[5]])
    assert np.allclose(shape.keypoints["side_b"], expected_V[F[17, 0]])
    assert np.allclose(shape.surface_points([5], [[0.2, 0.3, 0.5]])[0], shape.keypoints["side_a"])
    assert shape.symmetry == Symmetry("reflection", (0.0, 1.0, 0.0), (("side_a", "side_b"),))


def test_keypoint_yaml_round_trip(tmp_path):
    shape = load_annotated_mesh(MUG_TEMPLATE, _mug_yaml(tmp_path))
    out = save_keypoint_yaml(tmp_path / "saved.yaml", shape)
    again = load_annotated_mesh(MUG_TEMPLATE, out)
    assert again.keypoint_names == shape.keypoint_names
    for n in shape.keypoint_names:
        assert np.allclose(again.keypoints[n], shape.keypoints[n], atol=1e-12)
    assert np.allclose(again.vertices, shape.vertices, atol=1e-12)
    assert again.symmetry == shape.symmetry and again.category == shape.category
    assert again.params["keypoint_faces"] == shape.params["keypoint_faces"]

    # plain mapping, no transform, keypoints in the mesh frame; mesh found through the YAML
    kps = {"a": [0.01, 0.02, 0.03], "b": {"face": 3, "barycentric": [0.5, 0.25, 0.25]}}
    p = save_keypoint_yaml(tmp_path / "plain.yaml", kps, category="mug", instance_id="m1", mesh=str(MUG_TEMPLATE))
    s = load_annotated_mesh(None, p)
    V, F = load_mesh(MUG_TEMPLATE)
    assert s.instance_id == "m1"
    assert np.allclose(s.keypoints["a"], kps["a"])
    assert np.allclose(s.keypoints["b"], np.array([0.5, 0.25, 0.25]) @ V[F[3]])


def test_keypointnet_shape_yaml_round_trip(chair_annotations, tmp_path):
    shape = load_keypointnet_model(KPN, CHAIR, chair_annotations)
    p = save_keypoint_yaml(tmp_path / "chair.yaml", shape)
    again = load_annotated_mesh(shape.params["mesh_path"], p)
    assert np.allclose(again.vertices, shape.vertices, atol=1e-12)
    assert np.allclose(again.keypoint_array, shape.keypoint_array, atol=1e-12)
    assert again.symmetry == shape.symmetry


# ---------------------------------------------------------------------------------------------
# errors


def test_missing_mesh_raises(tmp_path):
    with pytest.raises(MeshLoadError, match="does not exist"):
        load_mesh(tmp_path / "nope.obj")
    with pytest.raises(MeshLoadError, match="unsupported format"):
        (tmp_path / "x.glb2").write_text("x")
        load_mesh(tmp_path / "x.glb2")


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.obj", b"", "empty"),
        ("text.obj", b"hello world\nthis is not a mesh\n", "no vertices"),
        ("points.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\n", "no faces"),
        ("badv.obj", b"v 0 0 zero\nf 1 2 3\n", "line 1"),
        ("range.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n", "out of range"),
        ("nan.obj", b"v 0 0 nan\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "non-finite"),
        ("garbage.ply", bytes(range(256)) * 8, "garbage.ply"),
        ("trunc.ply", b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\n", "trunc.ply"),
        ("garbage.stl", b"solid x\nfacet nonsense\n", "garbage.stl"),
        ("garbage.off", b"OFF\n3 1 0\n0 0 0\n", "garbage.off"),
    ],
)
def test_corrupt_mesh_raises(tmp_path, name, content, message):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(MeshLoadError, match=message) as ei:
        load_mesh(p)
    assert name in str(ei.value)


@pytest.mark.parametrize(
    "yaml_text, message",
    [
        ("category: mug\n", "missing required key 'keypoints'"),
        ("keypoints: {a: [0, 0, 0]}\n", "missing required key 'category'"),
        ("category: mug\nkeypoints: {}\n", "non-empty"),
        ("category: mug\nkeypoints: {a: [0, 0]}\n", "keypoints.a"),
        ("category: mug\nkeypoints: {a: {face: 999999, barycentric: [1, 0, 0]}}\n", "out of range"),
        ("category: mug\nkeypoints: {a: {face: 0, barycentric: [0.5, 0.6, 0.3]}}\n", "sum to 1"),
        ("category: mug\nkeypoints: {a: {face: 0}}\n", "barycentric"),
        ("category: mug\nunits: furlong\nkeypoints: {a: [0, 0, 0]}\n", "unknown units"),
        ("category: mug\ntransform: {rotation: [[2, 0, 0], [0, 1, 0], [0, 0, 1]]}\nkeypoints: {a: [0, 0, 0]}\n",
         "not a proper rotation"),
        ("category: mug\ntransform: {scale: -1}\nkeypoints: {a: [0, 0, 0]}\n", "scale"),
        ("category: mug\nsymmetry: {kind: spiral}\nkeypoints: {a: [0, 0, 0]}\n", "symmetry"),
        ("category: mug\nsymmetry: {kind: reflection, plane_normal: [0, 1, 0], keypoint_swaps: [[a, zz]]}\n"
         "keypoints: {a: [0, 0, 0]}\n", "keypoint_swaps"),
        ("category: mug\nkeypionts: {a: [0, 0, 0]}\n", "unknown keys"),
        ("- just\n- a list\n", "mapping"),
        ("category: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_keypoint_yaml_raises(tmp_path, yaml_text, message):
    y = tmp_path / "kp.yaml"
    y.write_text(yaml_text)
    with pytest.raises(MeshLoadError, match=message) as ei:
        load_annotated_mesh(MUG_TEMPLATE, y)
    assert "kp.yaml" in str(ei.value)


def test_annotated_mesh_missing_files(tmp_path):
    y = tmp_path / "kp.yaml"
    y.write_text("category: mug\nkeypoints: {a: [0, 0, 0]}\n")
    with pytest.raises(MeshLoadError, match="does not exist"):
        load_annotated_mesh(tmp_path / "none.obj", y)
    with pytest.raises(MeshLoadError, match="missing.yaml"):
        load_annotated_mesh(MUG_TEMPLATE, tmp_path / "missing.yaml")
    with pytest.raises(MeshLoadError, match="disagrees"):
        load_annotated_mesh(MUG_TEMPLATE, y, category="bottle")
    assert load_annotated_mesh(MUG_TEMPLATE, y, category="mug").category == "mug"


def test_bad_annotation_json_raises(tmp_path):
    p = tmp_path / "chair.json"
    p.write_text("[{\"class_id\": \"03001627\"}]")
    with pytest.raises(DatasetFormatError, match="model_id"):
        load_annotations(p)
    p.write_text("{not json")
    with pytest.raises(DatasetFormatError, match="chair.json"):
        load_annotations(p)


# ---------------------------------------------------------------------------------------------
# correspondence sets


def test_correspondence_sets_from_keypointnet(chair_annotations, tmp_path):
    cs = CorrespondenceSets.from_keypointnet(chair_annotations)
    counts = Counter(k["semantic_id"] for e in chair_annotations for k in e["keypoints"])
    assert cs.category == "chair" and len(cs.models) == 999
    assert len(cs) == len(counts) == 21
    assert cs.set_names == [f"kp_{s}" for s in sorted(counts)]
    assert cs.set_sizes().tolist() == [counts[s] for s in sorted(counts)]
    assert cs.set_sizes().sum() == sum(len(e["keypoints"]) for e in chair_annotations)

    # pairs of two models = the semantic ids both carry; points are their own keypoints
    ea, eb = chair_annotations[0], chair_annotations[1]
    pairs = cs.pairs(ea["model_id"], eb["model_id"])
    shared = sorted({k["semantic_id"] for k in ea["keypoints"]} & {k["semantic_id"] for k in eb["keypoints"]})
    assert [cs.set_names[i] for i, _, _ in pairs] == [f"kp_{s}" for s in shared]
    ka = {k["semantic_id"]: k for k in ea["keypoints"]}
    kb = {k["semantic_id"]: k for k in eb["keypoints"]}
    for (i, ra, rb), s in zip(pairs, shared):
        assert ra.xyz == tuple(ka[s]["xyz"]) and rb.xyz == tuple(kb[s]["xyz"])
        assert ra.point_index == ka[s]["pcd_info"]["point_index"]
        assert rb.face == kb[s]["mesh_info"]["face_index"]
    idx = cs.matched_point_indices(0, 1)
    assert idx.shape == (len(shared), 2)
    sets_idx, xa, xb = cs.matched_xyz(0, 1)
    assert len(sets_idx) == len(shared) and xa.shape == xb.shape == (len(shared), 3)
    assert cs.pairs(1, 0)[0][1] == pairs[0][2]  # symmetric

    # the in-tree chair: face+barycentric members locate on its mesh = its stored xyz
    shape = load_keypointnet_model(KPN, CHAIR, chair_annotations, frame="shapenet")
    m = cs.model_index(CHAIR)
    for i, ref in cs.sets_of_model(m).items():
        assert np.abs(ref.locate(shape) - np.asarray(ref.xyz)).max() < 1e-6

    # JSON round trip
    p = cs.save(tmp_path / "chair_sets.json")
    back = CorrespondenceSets.load(p)
    assert back.models == cs.models and back.set_names == cs.set_names and back.sets == cs.sets


def test_correspondence_sets_from_shapes(tmp_path):
    V = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    F = np.array([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]])
    shapes = [
        ShapeInstance("mug", "a", V, F, {"rim": [0, 0, 1], "handle": [1, 0, 0]}),
        ShapeInstance("mug", "b", V * 2, F, {"rim": [0, 0, 2], "bottom": [0, 0, 0]},
                      params={"keypoint_faces": {"bottom": {"face": 0, "barycentric": [1.0, 0.0, 0.0]}}}),
        ShapeInstance("mug", "c", V, F, {"handle": [1, 0, 0], "rim": [0, 0, 1], "bottom": [0, 0, 0]}),
    ]
    cs = CorrespondenceSets.from_shapes(shapes)
    assert cs.set_names == ["rim", "handle", "bottom"]
    assert cs.set_sizes().tolist() == [3, 2, 2]
    assert [cs.set_names[i] for i, _, _ in cs.pairs("a", "c")] == ["rim", "handle"]
    assert [cs.set_names[i] for i, _, _ in cs.pairs("b", "c")] == ["rim", "bottom"]
    _, xa, xb = cs.matched_xyz("a", "b")
    assert np.allclose(xa, [[0, 0, 1]]) and np.allclose(xb, [[0, 0, 2]])
    assert cs.sets[2][1] == PointRef(face=0, barycentric=(1.0, 0.0, 0.0), xyz=(0.0, 0.0, 0.0))
    assert len(CorrespondenceSets.from_shapes(shapes, min_models=3)) == 1
    back = CorrespondenceSets.load(cs.save(tmp_path / "s.json"))
    assert back == cs
    with pytest.raises(DatasetFormatError, match="format"):
        (tmp_path / "bad.json").write_text("{\"format\": \"other\"}")
        CorrespondenceSets.load(tmp_path / "bad.json")
