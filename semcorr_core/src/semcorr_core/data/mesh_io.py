"""Real meshes -> :class:`~semcorr_core.data.shape.ShapeInstance`.

Two entry points:

* :func:`load_mesh` reads a triangle mesh (``.obj``, ``.ply``, ``.off``, ``.stl``) and returns
  ``(vertices (V, 3) float64, faces (F, 3) int64)`` **in file order**: no vertex merging, no
  face reordering, so face indices stored by annotation tools (KeypointNet ``face_index``, our
  YAML ``face:`` keypoints) stay valid.
* :func:`load_annotated_mesh` combines a mesh with a keypoint YAML file (format below) and
  returns a :class:`ShapeInstance` in the canonical frame, ready for the renderer.

Every failure (missing, unreadable, corrupt or empty mesh; malformed YAML) raises
:class:`~semcorr_core.errors.MeshLoadError` naming the file and what is wrong.

Keypoint YAML format (``semcorr-keypoints/1``)
-----------------------------------------------

.. code-block:: yaml

    format: semcorr-keypoints/1   # optional; checked when present
    category: mug                 # required (or pass category= to load_annotated_mesh)
    instance_id: mug_0001         # optional; default: the mesh file stem
    mesh: mug.obj                 # optional: mesh path relative to the YAML file, used when
                                  # load_annotated_mesh gets mesh_path=None
    units: mm                     # unit of the mesh file's coordinates: m | cm | mm | in, or a
                                  # number = metres per file unit. Optional, default m.
    transform:                    # optional: file frame -> canonical frame (see below)
      scale: 1.0                  # optional, default 1 (dimensionless, > 0)
      rotation: [[1, 0, 0], [0, 1, 0], [0, 0, 1]]   # optional, proper rotation, default identity
      translation: [0, 0, 0]      # optional, metres, default 0
    keypoints_frame: mesh         # frame of xyz keypoints: mesh (default) or canonical
    symmetry:                     # optional, default none (see semcorr_core.data.shape.Symmetry)
      kind: reflection            # none | rotation_z | reflection
      plane_normal: [0, 1, 0]     # canonical frame, needed for reflection
      keypoint_swaps: [[handle_left, handle_right]]
    keypoints:                    # required, non-empty; order is kept
      rim_centre: [0.0, 0.0, 95.0]                        # xyz (in keypoints_frame)
      handle: {face: 120, barycentric: [0.2, 0.3, 0.5]}   # surface point on a mesh face

Coordinates: a point ``x`` of the mesh file goes to the canonical frame as
``x_c = scale * R @ (u * x) + translation`` with ``u`` the metres-per-unit of ``units``. The mesh
vertices and the ``keypoints_frame: mesh`` xyz keypoints get this mapping; ``canonical`` xyz
keypoints are taken as given (metres, canonical frame). A ``{face, barycentric}`` keypoint is
``sum_k b_k * V[faces[face][k]]`` on the *transformed* vertices (a similarity maps barycentric
combinations to barycentric combinations, so it does not matter in which frame it is evaluated);
``faces`` are as :func:`load_mesh` returns them (file order, polygons fan-triangulated
``(v0, vi, vi+1)``). Barycentrics must be finite, >= -1e-6 and sum to 1 within 1e-3 (they are
renormalised to sum exactly 1).

The returned shape's ``params`` record provenance: ``source``, ``mesh_path``,
``keypoints_yaml``, ``units_to_m``, ``transform`` (4x4 list, file frame -> canonical) and
``keypoint_faces`` (``name -> {"face", "barycentric"}`` for the surface keypoints).
:func:`save_keypoint_yaml` writes the same format; saving a shape loaded with
:func:`load_annotated_mesh` and reloading it with the same mesh gives the same keypoints.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from semcorr_core.data.shape import ShapeInstance, Symmetry
from semcorr_core.errors import InputError, MeshLoadError

__all__ = [
    "KEYPOINT_YAML_FORMAT",
    "SUPPORTED_MESH_SUFFIXES",
    "UNITS_TO_METRES",
    "load_annotated_mesh",
    "load_mesh",
    "parse_transform",
    "save_keypoint_yaml",
]

KEYPOINT_YAML_FORMAT = "semcorr-keypoints/1"
SUPPORTED_MESH_SUFFIXES = (".obj", ".ply", ".off", ".stl")
UNITS_TO_METRES = {"m": 1.0, "cm": 0.01, "mm": 0.001, "in": 0.0254}
_BARY_SUM_TOL = 1e-3
_ROT_TOL = 1e-4


# ----------------------------------------------------------------------------------------------
# meshes


def load_mesh(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a triangle mesh; return ``(vertices (V, 3) float64, faces (F, 3) int64)``.

    ``.obj`` is parsed by a small reader of our own that keeps the file's vertex and face order
    (all ``g``/``o``/``usemtl`` groups merged into one mesh; polygons fan-triangulated as
    ``(v0, vi, vi+1)``; negative indices resolved; texture/normal indices ignored). trimesh's OBJ
    importer is avoided on purpose: it regroups faces by material and splits vertices by UV, which
    breaks face indices stored by annotation tools. ``.ply``, ``.off`` and ``.stl`` are read by
    trimesh with ``process=False`` (no merging or reordering).

    Raises :class:`MeshLoadError` when the file is missing, has an unsupported suffix, cannot be
    parsed, has no vertices or no faces, non-finite coordinates or out-of-range face indices.
    """
    p = Path(path)
    if not p.exists():
        raise MeshLoadError(f"mesh file {p} does not exist")
    if not p.is_file():
        raise MeshLoadError(f"mesh path {p} is not a regular file")
    suffix = p.suffix.lower()
    if suffix not in SUPPORTED_MESH_SUFFIXES:
        raise MeshLoadError(
            f"mesh file {p}: unsupported format {suffix or '(no suffix)'!r}; "
            f"supported: {', '.join(SUPPORTED_MESH_SUFFIXES)}"
        )
    if p.stat().st_size == 0:
        raise MeshLoadError(f"mesh file {p} is empty (0 bytes)")
    if suffix == ".obj":
        vertices, faces = _read_obj(p)
    else:
        vertices, faces = _read_with_trimesh(p)
    return _validated(p, vertices, faces)


def _read_obj(p: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise MeshLoadError(f"mesh file {p} cannot be read: {e}") from e
    if "\x00" in text[:4096]:
        raise MeshLoadError(f"mesh file {p} is not a text OBJ file (binary content)")
    verts: list[tuple[float, float, float]] = []
    faces: list[tuple[int, int, int]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.lstrip()
        if not line or line[0] not in "vf":
            continue
        parts = line.split()
        if not parts:
            continue
        tag = parts[0]
        if tag == "v":
            try:
                verts.append((float(parts[1]), float(parts[2]), float(parts[3])))
            except (IndexError, ValueError):
                raise MeshLoadError(
                    f"mesh file {p}, line {lineno}: malformed vertex line {line.strip()[:80]!r}"
                ) from None
        elif tag == "f":
            n = len(verts)
            idx = []
            try:
                for tok in parts[1:]:
                    i = int(tok.split("/", 1)[0])
                    if i == 0:
                        raise ValueError
                    idx.append(i - 1 if i > 0 else n + i)
            except ValueError:
                raise MeshLoadError(
                    f"mesh file {p}, line {lineno}: malformed face line {line.strip()[:80]!r}"
                ) from None
            if len(idx) < 3:
                raise MeshLoadError(
                    f"mesh file {p}, line {lineno}: face with fewer than 3 vertices {line.strip()[:80]!r}"
                )
            for k in range(1, len(idx) - 1):
                faces.append((idx[0], idx[k], idx[k + 1]))
    V = np.asarray(verts, dtype=np.float64).reshape(-1, 3)
    F = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    return V, F


def _read_with_trimesh(p: Path) -> tuple[np.ndarray, np.ndarray]:
    import trimesh

    try:
        mesh = trimesh.load(str(p), process=False, force="mesh")
    except Exception as e:  # trimesh raises many types on corrupt input
        raise MeshLoadError(f"mesh file {p} cannot be parsed as {p.suffix.lower()}: {type(e).__name__}: {e}") from e
    if not isinstance(mesh, trimesh.Trimesh):
        raise MeshLoadError(
            f"mesh file {p} holds no triangle mesh (got {type(mesh).__name__}; a point cloud or empty scene?)"
        )
    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64).reshape(-1, 3)


def _validated(p: Path, V: np.ndarray, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(V) == 0:
        raise MeshLoadError(f"mesh file {p} has no vertices (empty or not a mesh file)")
    if len(F) == 0:
        raise MeshLoadError(f"mesh file {p} has {len(V)} vertices but no faces (a point cloud?)")
    if not np.all(np.isfinite(V)):
        raise MeshLoadError(f"mesh file {p} has non-finite vertex coordinates (NaN/inf)")
    if F.min() < 0 or F.max() >= len(V):
        raise MeshLoadError(
            f"mesh file {p}: face indices out of range [0, {len(V)}) (min {F.min()}, max {F.max()})"
        )
    return np.ascontiguousarray(V), np.ascontiguousarray(F)


# ----------------------------------------------------------------------------------------------
# keypoint YAML


def parse_transform(d: Mapping[str, Any] | None, *, where: str = "transform") -> np.ndarray:
    """4x4 similarity matrix from a ``{scale, rotation, translation}`` mapping (any may be absent).

    Raises :class:`MeshLoadError` (prefixed by ``where``) if the rotation is not a proper 3x3
    rotation, the scale is not positive and finite, or the translation is not a 3-vector.
    """
    T = np.eye(4)
    if d is None:
        return T
    if not isinstance(d, Mapping):
        raise MeshLoadError(f"{where}: must be a mapping with scale/rotation/translation, got {type(d).__name__}")
    unknown = set(d) - {"scale", "rotation", "translation"}
    if unknown:
        raise MeshLoadError(f"{where}: unknown keys {sorted(unknown)}; allowed: scale, rotation, translation")
    try:
        s = float(d.get("scale", 1.0))
        R = np.asarray(d.get("rotation", np.eye(3)), dtype=np.float64)
        t = np.asarray(d.get("translation", (0.0, 0.0, 0.0)), dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise MeshLoadError(f"{where}: non-numeric value ({e})") from None
    if not (math.isfinite(s) and s > 0):
        raise MeshLoadError(f"{where}.scale must be a finite positive number, got {s}")
    if R.shape != (3, 3) or not np.all(np.isfinite(R)):
        raise MeshLoadError(f"{where}.rotation must be a 3x3 matrix (list of 3 rows), got shape {R.shape}")
    if not np.allclose(R @ R.T, np.eye(3), atol=_ROT_TOL) or np.linalg.det(R) < 0:
        raise MeshLoadError(f"{where}.rotation is not a proper rotation (R R^T != I or det < 0): {R.tolist()}")
    if t.shape != (3,) or not np.all(np.isfinite(t)):
        raise MeshLoadError(f"{where}.translation must be 3 finite numbers, got {t.tolist()}")
    T[:3, :3] = s * R
    T[:3, 3] = t
    return T


def _units_to_m(units: Any, where: str) -> float:
    if units is None:
        return 1.0
    if isinstance(units, str):
        if units not in UNITS_TO_METRES:
            raise MeshLoadError(
                f"{where}: unknown units {units!r}; use one of {sorted(UNITS_TO_METRES)} or a number (metres per unit)"
            )
        return UNITS_TO_METRES[units]
    if isinstance(units, bool) or not isinstance(units, (int, float)) or not (units > 0 and math.isfinite(units)):
        raise MeshLoadError(f"{where}: units must be a unit name or a positive number, got {units!r}")
    return float(units)


def _vec3(value: Any, where: str) -> np.ndarray:
    try:
        v = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise MeshLoadError(f"{where}: expected 3 numbers, got {value!r}") from None
    if v.shape != (3,) or not np.all(np.isfinite(v)):
        raise MeshLoadError(f"{where}: expected 3 finite numbers, got {value!r}")
    return v


def _face_bary(value: Mapping[str, Any], n_faces: int, where: str) -> tuple[int, np.ndarray]:
    unknown = set(value) - {"face", "barycentric"}
    if unknown or "face" not in value or "barycentric" not in value:
        raise MeshLoadError(
            f"{where}: a surface keypoint needs exactly the keys 'face' and 'barycentric', got {sorted(value)}"
        )
    f = value["face"]
    if isinstance(f, bool) or not isinstance(f, (int, np.integer)):
        raise MeshLoadError(f"{where}.face must be an integer face index, got {f!r}")
    if not 0 <= int(f) < n_faces:
        raise MeshLoadError(f"{where}.face = {f} is out of range: the mesh has {n_faces} faces")
    b = _vec3(value["barycentric"], f"{where}.barycentric")
    if b.min() < -1e-6 or abs(b.sum() - 1.0) > _BARY_SUM_TOL:
        raise MeshLoadError(
            f"{where}.barycentric = {b.tolist()} must be >= 0 and sum to 1 (sum is {b.sum():.6g})"
        )
    return int(f), b / b.sum()


def _read_yaml(path: Path) -> dict:
    import yaml

    if not path.exists():
        raise MeshLoadError(f"keypoint file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise MeshLoadError(f"keypoint file {path} cannot be read: {e}") from e
    except yaml.YAMLError as e:
        raise MeshLoadError(f"keypoint file {path} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise MeshLoadError(f"keypoint file {path}: top level must be a mapping, got {type(data).__name__}")
    return data


def load_annotated_mesh(
    mesh_path: str | Path | None, keypoints_yaml: str | Path, category: str | None = None
) -> ShapeInstance:
    """Mesh + keypoint YAML (format in the module docstring) -> :class:`ShapeInstance`.

    ``mesh_path=None`` uses the YAML's ``mesh`` entry (relative to the YAML file's folder).
    ``category`` fills in a YAML without ``category``; if both are given they must agree.
    Raises :class:`MeshLoadError` naming the file and the problem.
    """
    ypath = Path(keypoints_yaml)
    data = _read_yaml(ypath)
    where = f"keypoint file {ypath}"
    if mesh_path is None:
        if not isinstance(data.get("mesh"), str) or not data["mesh"]:
            raise MeshLoadError(f"{where}: no mesh path given and no 'mesh' entry in the file")
        mesh_path = ypath.parent / data["mesh"]
    mesh_path = Path(mesh_path)

    known = {
        "format", "category", "instance_id", "mesh", "units", "transform",
        "keypoints_frame", "symmetry", "keypoints",
    }
    unknown = set(data) - known
    if unknown:
        raise MeshLoadError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(known)}")
    fmt = data.get("format")
    if fmt is not None and fmt != KEYPOINT_YAML_FORMAT:
        raise MeshLoadError(f"{where}: format {fmt!r} is not supported (expected {KEYPOINT_YAML_FORMAT!r})")

    cat = data.get("category")
    if cat is None:
        if category is None:
            raise MeshLoadError(f"{where}: missing required key 'category' (or pass category=...)")
        cat = category
    elif category is not None and str(cat) != category:
        raise MeshLoadError(f"{where}: category {cat!r} disagrees with the requested category {category!r}")
    cat = str(cat)
    instance_id = str(data.get("instance_id", mesh_path.stem))

    u = _units_to_m(data.get("units"), f"{where}: units")
    T = parse_transform(data.get("transform"), where=f"{where}: transform")
    frame = data.get("keypoints_frame", "mesh")
    if frame not in ("mesh", "canonical"):
        raise MeshLoadError(f"{where}: keypoints_frame must be 'mesh' or 'canonical', got {frame!r}")

    kps_raw = data.get("keypoints")
    if kps_raw is None:
        raise MeshLoadError(f"{where}: missing required key 'keypoints' (name -> xyz or {{face, barycentric}})")
    if not isinstance(kps_raw, dict) or not kps_raw:
        raise MeshLoadError(f"{where}: 'keypoints' must be a non-empty mapping name -> xyz or {{face, barycentric}}")

    V_file, F = load_mesh(mesh_path)
    A = T[:3, :3] * u  # file -> canonical linear part
    V = V_file @ A.T + T[:3, 3]

    keypoints: dict[str, np.ndarray] = {}
    keypoint_faces: dict[str, dict] = {}
    for name, value in kps_raw.items():
        kw = f"{where}: keypoints.{name}"
        if not isinstance(name, str) or not name:
            raise MeshLoadError(f"{where}: keypoint names must be non-empty strings, got {name!r}")
        if isinstance(value, dict):
            f, b = _face_bary(value, len(F), kw)
            keypoints[name] = b @ V[F[f]]
            keypoint_faces[name] = {"face": f, "barycentric": b.tolist()}
        else:
            x = _vec3(value, kw)
            keypoints[name] = x @ A.T + T[:3, 3] if frame == "mesh" else x

    sym_raw = data.get("symmetry")
    try:
        symmetry = Symmetry() if sym_raw is None else Symmetry.from_dict(sym_raw)
    except (InputError, TypeError, ValueError, AttributeError) as e:
        raise MeshLoadError(f"{where}: bad symmetry {sym_raw!r}: {e}") from None
    for pair in symmetry.keypoint_swaps:
        if len(pair) != 2 or any(n not in keypoints for n in pair):
            raise MeshLoadError(f"{where}: symmetry.keypoint_swaps entry {list(pair)} must name two listed keypoints")

    Tfull = T.copy()
    Tfull[:3, :3] = A
    params = {
        "source": "mesh_io",
        "mesh_path": str(mesh_path),
        "keypoints_yaml": str(ypath),
        "units_to_m": u,
        "transform": Tfull.tolist(),
        "keypoint_faces": keypoint_faces,
    }
    return ShapeInstance(
        category=cat,
        instance_id=instance_id,
        vertices=V,
        faces=F,
        keypoints=keypoints,
        symmetry=symmetry,
        params=params,
    )


def save_keypoint_yaml(
    path: str | Path,
    shape_or_keypoints: ShapeInstance | Mapping[str, Any],
    *,
    category: str | None = None,
    instance_id: str | None = None,
    units: str | float | None = None,
    transform: np.ndarray | Mapping[str, Any] | None = None,
    keypoints_frame: str | None = None,
    symmetry: Symmetry | None = None,
    keypoint_faces: Mapping[str, Mapping[str, Any]] | None = None,
    mesh: str | None = None,
) -> Path:
    """Write a keypoint YAML file (format in the module docstring); return its path.

    From a :class:`ShapeInstance`: category, instance_id, symmetry and keypoints come from the
    shape. Keypoints listed in ``params["keypoint_faces"]`` are written as ``{face, barycentric}``,
    the others as canonical xyz (``keypoints_frame: canonical``); the shape's
    ``params["transform"]`` (set by :func:`load_annotated_mesh`) is written as ``units: m`` +
    ``transform`` so the mesh file maps to the same canonical vertices on reload.

    From a mapping ``name -> xyz | {face, barycentric}``: written as given, with the keyword
    arguments (``category`` is then required). ``transform`` may be a 4x4 similarity matrix or a
    ``{scale, rotation, translation}`` mapping. Keyword arguments override the shape's values.
    """
    import yaml

    out: dict[str, Any] = {"format": KEYPOINT_YAML_FORMAT}
    kp_out: dict[str, Any] = {}
    if isinstance(shape_or_keypoints, ShapeInstance):
        shape = shape_or_keypoints
        faces_info = dict(shape.params.get("keypoint_faces", {}) or {})
        if keypoint_faces is not None:
            faces_info.update(keypoint_faces)
        category = category or shape.category
        instance_id = instance_id or shape.instance_id
        symmetry = symmetry if symmetry is not None else shape.symmetry
        if transform is None and "transform" in shape.params:
            transform = np.asarray(shape.params["transform"], dtype=np.float64)
            units = "m" if units is None else units
        keypoints_frame = keypoints_frame or "canonical"
        for name, xyz in shape.keypoints.items():
            if name in faces_info:
                fi = faces_info[name]
                kp_out[name] = {"face": int(fi["face"]), "barycentric": [float(v) for v in fi["barycentric"]]}
            else:
                kp_out[name] = [float(v) for v in np.asarray(xyz, dtype=np.float64).reshape(3)]
    else:
        faces_info = dict(keypoint_faces or {})
        for name, value in shape_or_keypoints.items():
            if name in faces_info:
                value = faces_info[name]
            if isinstance(value, Mapping):
                kp_out[str(name)] = {
                    "face": int(value["face"]),
                    "barycentric": [float(v) for v in value["barycentric"]],
                }
            else:
                kp_out[str(name)] = [float(v) for v in np.asarray(value, dtype=np.float64).reshape(3)]
    if not category:
        raise InputError("save_keypoint_yaml: category is required when saving a plain keypoint mapping")
    if not kp_out:
        raise InputError("save_keypoint_yaml: no keypoints to save")

    out["category"] = str(category)
    if instance_id is not None:
        out["instance_id"] = str(instance_id)
    if mesh is not None:
        out["mesh"] = str(mesh)
    if units is not None:
        out["units"] = units
    if transform is not None:
        out["transform"] = _transform_to_dict(transform)
    if keypoints_frame is not None:
        if keypoints_frame not in ("mesh", "canonical"):
            raise InputError(f"keypoints_frame must be 'mesh' or 'canonical', got {keypoints_frame!r}")
        out["keypoints_frame"] = keypoints_frame
    if symmetry is not None and symmetry.kind != "none":
        out["symmetry"] = symmetry.to_dict()
    out["keypoints"] = kp_out

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(yaml.safe_dump(out, sort_keys=False, default_flow_style=None), encoding="utf-8")
    return p


def _transform_to_dict(transform: np.ndarray | Mapping[str, Any]) -> dict:
    if isinstance(transform, Mapping):
        T = parse_transform(transform, where="save_keypoint_yaml: transform")
    else:
        T = np.asarray(transform, dtype=np.float64)
        if T.shape != (4, 4):
            raise InputError(f"transform must be a 4x4 matrix or a mapping, got shape {T.shape}")
    M = T[:3, :3]
    s = float(np.cbrt(np.linalg.det(M)))
    if not s > 0:
        raise InputError("transform has a non-positive determinant; it must be a similarity (scale * rotation)")
    R = M / s
    return {"scale": s, "rotation": [[float(v) for v in row] for row in R], "translation": [float(v) for v in T[:3, 3]]}
