"""KeypointNet (You et al., CVPR 2020) annotations and geometry -> :class:`ShapeInstance`.

On-disk layout (``root`` = the KeypointNet folder)::

    annotations/<category>.json                         # e.g. chair.json: list of annotated models
    models/<class_id>/<model_id>/models/model_normalized.ply   # ShapeNetCore.v2 mesh, as in the
    ShapeNetCore.v2.ply/<class_id>/<model_id>.ply              #   repo sample, or the released .ply set
    pcds/<class_id>/<model_id>.pcd                      # 2048-point coloured cloud (PCD v0.7)

Each annotation entry: ``class_id``, ``model_id``, ``keypoints`` (list of ``{xyz, rgb,
semantic_id, pcd_info: {point_index}, mesh_info: {face_index, face_uv}}``) and ``symmetries``
(``reflection``/``rotation`` groups of keypoint *list positions*).

Barycentric convention of ``face_uv`` (measured on the in-tree chair
88382b877be91b2a572f8e1c1caad99e, all 10 keypoints, checked against all 6 vertex orders):
``face_uv = [w0, w1, w2]`` are the full barycentric weights (they sum to 1) of the face's
vertices **in the order the .ply lists them**::

    xyz = w0 * V[faces[f, 0]] + w1 * V[faces[f, 1]] + w2 * V[faces[f, 2]]

(equivalently ``u = w0, v = w1`` weigh vertices 0 and 1 and ``1 - u - v`` weighs vertex 2).
This reproduces the stored ``xyz`` to ~3e-17 on ``model_normalized.ply``; every other vertex
order is off by 0.02-0.2 (bbox diagonal 1). Pitfall: the *.obj* loaded by trimesh is wrong (max
error 0.77) because trimesh regroups faces by material; read in file order (our
:func:`~semcorr_core.data.mesh_io.load_mesh` does) the .obj gives the same faces as the .ply
(error ~1e-8, from the .obj's shorter decimals). We use the .ply.

``pcd_info.point_index`` indexes the model's .pcd; the point there equals ``xyz`` to the
.pcd's 6 printed decimals (max error ~5e-7 on the in-tree chair).

Frames: ShapeNetCore.v2 ``model_normalized`` is +y up, unit bbox diagonal, centred on the bbox;
the seat front of the in-tree chair faces -z and its left/right axis is x. ``frame="canonical"``
maps this to the semcorr canonical frame (+z up, origin at the bottom centre of the bbox) with
:data:`SHAPENET_TO_CANONICAL` (ShapeNet -z -> +x, +y -> +z, -x -> +y; a proper rotation) and
multiplies by ``scale`` (ShapeNet meshes are in normalised units, not metres: pass the metric
size you want; the unit is recorded in ``params["units"]``). ``frame="shapenet"`` keeps the
file's coordinates (needed to compare with the stored ``xyz``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semcorr_core.data.mesh_io import load_mesh
from semcorr_core.data.shape import ShapeInstance, Symmetry
from semcorr_core.data.json_file import read_json_file
from semcorr_core.errors import DatasetFormatError, InputError, MeshLoadError

__all__ = [
    "KEYPOINTNET_CLASSES",
    "SHAPENET_TO_CANONICAL",
    "PointCloud",
    "annotation_keypoints",
    "find_entry",
    "keypoint_name",
    "list_annotated_models",
    "load_annotations",
    "load_keypointnet_model",
    "load_keypointnet_pcd",
    "mesh_path",
    "pcd_path",
    "read_pcd",
    "rebuild_keypoints_from_faces",
]

#: WordNet synset id -> category name, the 16 KeypointNet categories.
KEYPOINTNET_CLASSES: dict[str, str] = {
    "02691156": "airplane",
    "02808440": "bathtub",
    "02818832": "bed",
    "02876657": "bottle",
    "02954340": "cap",
    "02958343": "car",
    "03001627": "chair",
    "03467517": "guitar",
    "03513137": "helmet",
    "03624134": "knife",
    "03642806": "laptop",
    "03790512": "motorcycle",
    "03797390": "mug",
    "04225987": "skateboard",
    "04379243": "table",
    "04530566": "vessel",
}

#: Rotation ShapeNet normalised frame (+y up, front -z) -> semcorr canonical (+z up, front +x).
SHAPENET_TO_CANONICAL = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


# ----------------------------------------------------------------------------------------------
# annotations


def load_annotations(source: str | Path, category: str | None = None) -> list[dict]:
    """Parse a KeypointNet annotation JSON.

    ``source`` is the JSON file, or the KeypointNet root together with ``category`` (name such
    as ``"chair"`` or synset id) to read ``<root>/annotations/<name>.json``. The entries are
    checked for the fields this module uses; a problem raises :class:`DatasetFormatError`
    naming the file, the entry and the field.
    """
    p = Path(source)
    if p.is_dir():
        if category is None:
            raise DatasetFormatError(f"{p} is a directory: pass category= (e.g. 'chair') or the JSON file itself")
        name = KEYPOINTNET_CLASSES.get(category, category)
        p = p / "annotations" / f"{name}.json"
    data = read_json_file(p, "KeypointNet annotation file")
    if not isinstance(data, list):
        raise DatasetFormatError(f"KeypointNet annotation file {p}: top level must be a list of models")
    for i, entry in enumerate(data):
        _check_entry(entry, f"{p}: entry {i}")
    return data


def _check_entry(entry: Any, where: str) -> None:
    if not isinstance(entry, dict):
        raise DatasetFormatError(f"{where} is not an object")
    for key in ("class_id", "model_id", "keypoints"):
        if key not in entry:
            raise DatasetFormatError(f"{where} lacks {key!r}")
    if not isinstance(entry["keypoints"], list):
        raise DatasetFormatError(f"{where} ({entry['model_id']}): 'keypoints' is not a list")
    seen = set()
    for j, kp in enumerate(entry["keypoints"]):
        if not isinstance(kp, dict) or "semantic_id" not in kp or "xyz" not in kp:
            raise DatasetFormatError(f"{where} ({entry['model_id']}): keypoint {j} lacks semantic_id/xyz")
        sid = kp["semantic_id"]
        if sid in seen:
            raise DatasetFormatError(f"{where} ({entry['model_id']}): semantic_id {sid} appears twice")
        seen.add(sid)


def list_annotated_models(
    annotations: Sequence[Mapping[str, Any]], root: str | Path | None = None, *, require: str | None = None
) -> list[str]:
    """Model ids of ``annotations`` in file order.

    With ``root`` and ``require="mesh"`` (or ``"pcd"``) only models whose mesh (point cloud)
    exists under ``root`` are listed.
    """
    if require not in (None, "mesh", "pcd"):
        raise InputError(f"require must be None, 'mesh' or 'pcd', got {require!r}")
    if require is not None and root is None:
        raise InputError("list_annotated_models: require= needs root=")
    out = []
    for e in annotations:
        if require == "mesh" and _find_mesh(Path(root), e["class_id"], e["model_id"]) is None:
            continue
        if require == "pcd" and not _pcd_candidate(Path(root), e["class_id"], e["model_id"]).is_file():
            continue
        out.append(e["model_id"])
    return out


def find_entry(annotations: Sequence[Mapping[str, Any]], model_id: str) -> Mapping[str, Any]:
    """The annotation entry of ``model_id`` (:class:`DatasetFormatError` if absent)."""
    for e in annotations:
        if e["model_id"] == model_id:
            return e
    raise DatasetFormatError(f"model {model_id} is not in the KeypointNet annotations ({len(annotations)} models)")


def keypoint_name(semantic_id: int, name_map: Mapping[int, str] | None = None) -> str:
    """``name_map[semantic_id]`` if given and present, else ``"kp_<semantic_id>"``."""
    if name_map is not None and int(semantic_id) in name_map:
        return str(name_map[int(semantic_id)])
    return f"kp_{int(semantic_id)}"


def annotation_keypoints(entry: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Arrays of one entry's keypoints, sorted by semantic_id: ``semantic_id`` (K,), ``xyz``
    (K, 3), ``point_index`` (K,) (-1 where absent), ``face_index`` (K,) (-1 where absent),
    ``face_uv`` (K, 3) (NaN where absent) and ``list_pos`` (K,) (position in the JSON list)."""
    kps = entry["keypoints"]
    order = sorted(range(len(kps)), key=lambda j: kps[j]["semantic_id"])
    sid = np.array([kps[j]["semantic_id"] for j in order], dtype=np.int64)
    xyz = np.array([kps[j]["xyz"] for j in order], dtype=np.float64).reshape(-1, 3)
    pidx = np.array([kps[j].get("pcd_info", {}).get("point_index", -1) for j in order], dtype=np.int64)
    fidx = np.array([kps[j].get("mesh_info", {}).get("face_index", -1) for j in order], dtype=np.int64)
    uv = np.array(
        [kps[j].get("mesh_info", {}).get("face_uv", [np.nan] * 3) for j in order], dtype=np.float64
    ).reshape(-1, 3)
    return {"semantic_id": sid, "xyz": xyz, "point_index": pidx, "face_index": fidx, "face_uv": uv,
            "list_pos": np.array(order, dtype=np.int64)}


# ----------------------------------------------------------------------------------------------
# geometry


def rebuild_keypoints_from_faces(
    vertices: np.ndarray, faces: np.ndarray, face_index: np.ndarray, face_uv: np.ndarray
) -> np.ndarray:
    """Keypoints ``(N, 3)`` from KeypointNet ``mesh_info``: ``sum_k face_uv[:, k] *
    vertices[faces[face_index, k]]`` (convention in the module docstring; use the .ply mesh)."""
    V = np.asarray(vertices, dtype=np.float64)
    F = np.asarray(faces, dtype=np.int64)
    fi = np.asarray(face_index, dtype=np.int64).reshape(-1)
    uv = np.asarray(face_uv, dtype=np.float64).reshape(-1, 3)
    if len(fi) != len(uv):
        raise InputError(f"face_index ({len(fi)}) and face_uv ({len(uv)}) differ in length")
    if len(fi) and (fi.min() < 0 or fi.max() >= len(F)):
        raise InputError(f"face_index out of range [0, {len(F)}): min {fi.min()}, max {fi.max()}")
    return np.einsum("nk,nkd->nd", uv, V[F[fi]])


def _find_mesh(root: Path, class_id: str, model_id: str) -> Path | None:
    for cand in (
        root / "models" / class_id / model_id / "models" / "model_normalized.ply",
        root / "ShapeNetCore.v2.ply" / class_id / f"{model_id}.ply",
    ):
        if cand.is_file():
            return cand
    return None


def mesh_path(root: str | Path, class_id: str, model_id: str) -> Path:
    """The .ply mesh of a model (:class:`MeshLoadError` naming the places looked at if absent)."""
    p = _find_mesh(Path(root), class_id, model_id)
    if p is None:
        raise MeshLoadError(
            f"no KeypointNet .ply mesh for {class_id}/{model_id} under {root} (looked for "
            f"models/{class_id}/{model_id}/models/model_normalized.ply and ShapeNetCore.v2.ply/{class_id}/{model_id}.ply)"
        )
    return p


def _pcd_candidate(root: Path, class_id: str, model_id: str) -> Path:
    return root / "pcds" / class_id / f"{model_id}.pcd"


def pcd_path(root: str | Path, class_id: str, model_id: str) -> Path:
    p = _pcd_candidate(Path(root), class_id, model_id)
    if not p.is_file():
        raise MeshLoadError(f"no KeypointNet point cloud {p}")
    return p


def load_keypointnet_model(
    root: str | Path,
    model_id: str,
    annotations: Sequence[Mapping[str, Any]] | str | Path | None = None,
    *,
    category: str | None = None,
    name_map: Mapping[int, str] | None = None,
    frame: str = "canonical",
    scale: float = 1.0,
    check_tol: float | None = 1e-5,
) -> ShapeInstance:
    """One annotated KeypointNet model as a :class:`ShapeInstance`.

    ``annotations``: the parsed list (:func:`load_annotations`), a JSON path, or ``None`` to read
    ``<root>/annotations/<category>.json`` (then ``category`` is required). Keypoints are named
    ``"kp_<semantic_id>"`` (or by ``name_map``), ordered by semantic id, rebuilt from
    ``face_index`` + ``face_uv`` on the .ply mesh; with ``check_tol`` they must agree with the
    stored ``xyz`` within that distance (else :class:`MeshLoadError`: wrong mesh / face order).

    ``frame``: ``"canonical"`` (see module docstring; times ``scale``) or ``"shapenet"`` (file
    coordinates times ``scale``). Reflection symmetry groups become a ``reflection``
    :class:`Symmetry` whose plane normal is estimated from the paired keypoints (snapped to the
    nearest axis when within 10 degrees); circular rotation groups about the up axis become
    ``rotation_z`` when there is no reflection.

    ``params`` carry ``source="keypointnet"``, ``class_id``, ``model_id``, ``mesh_path``,
    ``frame``, ``units``, ``transform`` (4x4, file -> returned frame), ``semantic_ids``,
    ``keypoint_faces`` (name -> {face, barycentric}), ``point_index`` (name -> .pcd index) and
    ``xyz_file`` (name -> stored xyz).
    """
    root = Path(root)
    if annotations is None:
        if category is None:
            raise InputError("load_keypointnet_model: pass annotations= or category=")
        annotations = load_annotations(root, category)
    elif isinstance(annotations, (str, Path)):
        annotations = load_annotations(annotations)
    entry = find_entry(annotations, model_id)
    class_id = entry["class_id"]
    if frame not in ("canonical", "shapenet"):
        raise InputError(f"frame must be 'canonical' or 'shapenet', got {frame!r}")
    if not (np.isfinite(scale) and scale > 0):
        raise InputError(f"scale must be finite and positive, got {scale}")

    mp = mesh_path(root, class_id, model_id)
    V_file, F = load_mesh(mp)
    kp = annotation_keypoints(entry)
    if np.any(kp["face_index"] < 0):
        raise DatasetFormatError(f"model {model_id}: some keypoints lack mesh_info.face_index")
    if kp["face_index"].max(initial=-1) >= len(F):
        raise MeshLoadError(
            f"model {model_id}: face_index {kp['face_index'].max()} out of range for {mp} ({len(F)} faces); wrong mesh?"
        )
    rebuilt = rebuild_keypoints_from_faces(V_file, F, kp["face_index"], kp["face_uv"])
    if check_tol is not None and len(rebuilt):
        err = float(np.abs(rebuilt - kp["xyz"]).max())
        if err > check_tol:
            raise MeshLoadError(
                f"model {model_id}: keypoints rebuilt from face_index/face_uv on {mp} differ from the stored xyz by "
                f"{err:.3g} (> {check_tol}); the mesh's face order does not match the annotation"
            )

    if frame == "canonical":
        lo, hi = V_file.min(0), V_file.max(0)
        bottom_centre = np.array([(lo[0] + hi[0]) / 2, lo[1], (lo[2] + hi[2]) / 2])
        R = SHAPENET_TO_CANONICAL
        t = -scale * (R @ bottom_centre)
    else:
        R = np.eye(3)
        t = np.zeros(3)
    T = np.eye(4)
    T[:3, :3] = scale * R
    T[:3, 3] = t
    V = V_file @ T[:3, :3].T + t

    names = [keypoint_name(s, name_map) for s in kp["semantic_id"]]
    if len(set(names)) != len(names):
        raise InputError(f"name_map gives the same name to several semantic ids of model {model_id}")
    keypoints = {n: x for n, x in zip(names, rebuilt @ T[:3, :3].T + t)}

    symmetry = _symmetry(entry, kp, names, R)
    params = {
        "source": "keypointnet",
        "class_id": class_id,
        "model_id": model_id,
        "mesh_path": str(mp),
        "frame": frame,
        "units": "shapenet_normalized" if scale == 1.0 else f"shapenet_normalized*{scale:g}",
        "transform": T.tolist(),
        "semantic_ids": [int(s) for s in kp["semantic_id"]],
        "keypoint_faces": {
            n: {"face": int(f), "barycentric": [float(v) for v in b]}
            for n, f, b in zip(names, kp["face_index"], kp["face_uv"])
        },
        "point_index": {n: int(i) for n, i in zip(names, kp["point_index"]) if i >= 0},
        "xyz_file": {n: [float(v) for v in x] for n, x in zip(names, kp["xyz"])},
    }
    cat = category or class_id
    cat = KEYPOINTNET_CLASSES.get(cat, cat)  # synset id -> name
    return ShapeInstance(
        category=cat, instance_id=model_id, vertices=V, faces=F, keypoints=keypoints, symmetry=symmetry, params=params
    )


def _symmetry(entry: Mapping[str, Any], kp: dict[str, np.ndarray], names: list[str], R: np.ndarray) -> Symmetry:
    sym = entry.get("symmetries") or {}
    pos_to_name = {int(p): n for p, n in zip(kp["list_pos"], names)}
    pos_to_xyz = {int(p): x for p, x in zip(kp["list_pos"], kp["xyz"])}
    swaps: list[tuple[str, str]] = []
    diffs = []
    for group in sym.get("reflection", []) or []:
        idx = [int(i) for i in group.get("kp_indexes", [])]
        if len(idx) == 2 and all(i in pos_to_name for i in idx):
            swaps.append((pos_to_name[idx[0]], pos_to_name[idx[1]]))
            diffs.append(pos_to_xyz[idx[0]] - pos_to_xyz[idx[1]])
    if swaps:
        D = np.array(diffs)
        D = D[np.linalg.norm(D, axis=1) > 1e-9]
        if len(D):
            _, _, vt = np.linalg.svd(D, full_matrices=False)
            n = vt[0]
        else:
            n = np.array([1.0, 0.0, 0.0])
        n = R @ (n / np.linalg.norm(n))
        ax = int(np.argmax(np.abs(n)))
        if abs(n[ax]) > np.cos(np.deg2rad(10.0)):
            n = np.eye(3)[ax]
        if n[np.argmax(np.abs(n))] < 0:
            n = -n
        return Symmetry(kind="reflection", plane_normal=tuple(float(v) for v in n), keypoint_swaps=tuple(swaps))
    for group in sym.get("rotation", []) or []:
        if group.get("is_circle") and "circle" in group:
            normal = R @ np.asarray(group["circle"].get("normal", [0, 1, 0]), dtype=np.float64)
            if np.linalg.norm(normal) > 0 and abs(normal[2]) / np.linalg.norm(normal) > np.cos(np.deg2rad(10.0)):
                return Symmetry(kind="rotation_z")
    return Symmetry()


# ----------------------------------------------------------------------------------------------
# point clouds


@dataclass
class PointCloud:
    """A PCD file's content: ``points`` (N, 3) float64 and every field as an array (``fields``,
    keyed by the header's FIELDS names; COUNT > 1 fields are (N, COUNT)). ``rgb`` (N, 3) uint8
    is unpacked from a packed ``rgb``/``rgba`` field when present."""

    points: np.ndarray
    fields: dict[str, np.ndarray]
    rgb: np.ndarray | None = None
    width: int = 0
    height: int = 1


_PCD_TYPES = {("F", 4): "<f4", ("F", 8): "<f8", ("U", 1): "<u1", ("U", 2): "<u2", ("U", 4): "<u4",
              ("U", 8): "<u8", ("I", 1): "<i1", ("I", 2): "<i2", ("I", 4): "<i4", ("I", 8): "<i8"}


def read_pcd(path: str | Path) -> PointCloud:
    """Read a PCD v0.7 file (``DATA ascii`` or ``binary`` by our own reader;
    ``binary_compressed`` through open3d, points and colours only).

    Raises :class:`MeshLoadError` naming the file and the problem.
    """
    p = Path(path)
    if not p.is_file():
        raise MeshLoadError(f"point cloud file {p} does not exist")
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise MeshLoadError(f"point cloud file {p} cannot be read: {e}") from e
    header: dict[str, list[str]] = {}
    pos = 0
    while True:
        nl = raw.find(b"\n", pos)
        if nl < 0:
            raise MeshLoadError(f"point cloud file {p}: header has no DATA line (not a PCD file?)")
        line = raw[pos:nl].decode("ascii", errors="replace").strip()
        pos = nl + 1
        if not line or line.startswith("#"):
            continue
        key, *vals = line.split()
        header[key.upper()] = vals
        if key.upper() == "DATA":
            break
    try:
        names = header["FIELDS"]
        sizes = [int(s) for s in header["SIZE"]]
        types = [t.upper() for t in header["TYPE"]]
        counts = [int(c) for c in header.get("COUNT", ["1"] * len(names))]
        n = int(header["POINTS"][0]) if "POINTS" in header else int(header["WIDTH"][0]) * int(header["HEIGHT"][0])
        width = int(header.get("WIDTH", [n])[0])
        height = int(header.get("HEIGHT", ["1"])[0])
        data_kind = header["DATA"][0].lower()
    except (KeyError, IndexError, ValueError) as e:
        raise MeshLoadError(f"point cloud file {p}: malformed PCD header ({e})") from None
    if not (len(names) == len(sizes) == len(types) == len(counts)):
        raise MeshLoadError(f"point cloud file {p}: FIELDS/SIZE/TYPE/COUNT lengths differ")
    if not {"x", "y", "z"} <= set(names):
        raise MeshLoadError(f"point cloud file {p}: no x/y/z fields (FIELDS {names})")
    try:
        dtype = np.dtype([(nm, _PCD_TYPES[(t, s)], (c,)) for nm, t, s, c in zip(names, types, sizes, counts)])
    except KeyError as e:
        raise MeshLoadError(f"point cloud file {p}: unsupported field type/size {e}") from None

    if data_kind == "ascii":
        text = raw[pos:].decode("ascii", errors="replace").split()
        ncols = sum(counts)
        if len(text) < n * ncols:
            raise MeshLoadError(f"point cloud file {p}: expected {n} points x {ncols} values, file is truncated")
        table = np.array(text[: n * ncols], dtype=object).reshape(n, ncols)
        arr = np.zeros(n, dtype=dtype)
        col = 0
        try:
            for nm, c in zip(names, counts):
                base = np.dtype(dtype[nm].base)
                vals = table[:, col: col + c]
                if base.kind == "f":
                    arr[nm] = vals.astype(np.float64).astype(base)
                else:  # integers; PCL sometimes writes packed rgb as a float literal
                    arr[nm] = np.array([[_int_or_float_bits(v, base) for v in row] for row in vals], dtype=base)
                col += c
        except ValueError as e:
            raise MeshLoadError(f"point cloud file {p}: non-numeric value in ascii data ({e})") from None
    elif data_kind == "binary":
        need = n * dtype.itemsize
        if len(raw) - pos < need:
            raise MeshLoadError(f"point cloud file {p}: binary data truncated ({len(raw) - pos} < {need} bytes)")
        arr = np.frombuffer(raw, dtype=dtype, count=n, offset=pos)
    elif data_kind == "binary_compressed":
        return _read_pcd_open3d(p, width, height)
    else:
        raise MeshLoadError(f"point cloud file {p}: unknown DATA kind {data_kind!r}")

    fields = {nm: (arr[nm][:, 0] if c == 1 else arr[nm]).copy() for nm, c in zip(names, counts)}
    points = np.stack([fields["x"], fields["y"], fields["z"]], axis=1).astype(np.float64)
    rgb = None
    for key in ("rgb", "rgba"):
        if key in fields:
            packed = fields[key]
            packed = packed.view(np.uint32) if packed.dtype.itemsize == 4 else packed.astype(np.uint32)
            rgb = np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], axis=1).astype(np.uint8)
            break
    return PointCloud(points=points, fields=fields, rgb=rgb, width=width, height=height)


def _int_or_float_bits(tok: str, base: np.dtype) -> int:
    try:
        return int(tok)
    except ValueError:
        f = np.float32(float(tok))
        return int(f.view(np.uint32)) if base.itemsize == 4 else int(float(tok))


def _read_pcd_open3d(p: Path, width: int, height: int) -> PointCloud:
    try:
        import open3d as o3d

        pc = o3d.io.read_point_cloud(str(p), remove_nan_points=False, remove_infinite_points=False)
    except Exception as e:
        raise MeshLoadError(f"point cloud file {p}: binary_compressed PCD could not be read with open3d: {e}") from e
    pts = np.asarray(pc.points, dtype=np.float64)
    if len(pts) == 0:
        raise MeshLoadError(f"point cloud file {p}: open3d read no points from the binary_compressed data")
    rgb = (np.asarray(pc.colors) * 255.0 + 0.5).astype(np.uint8) if pc.has_colors() else None
    fields = {"x": pts[:, 0].copy(), "y": pts[:, 1].copy(), "z": pts[:, 2].copy()}
    return PointCloud(points=pts, fields=fields, rgb=rgb, width=width, height=height)


def load_keypointnet_pcd(root: str | Path, class_id: str, model_id: str) -> PointCloud:
    """The 2048-point cloud of a model (``pcds/<class_id>/<model_id>.pcd``), in ShapeNet frame."""
    return read_pcd(pcd_path(root, class_id, model_id))
