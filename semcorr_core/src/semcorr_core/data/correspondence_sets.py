"""Correspondence sets (CPNet, seed 000): groups of semantically equivalent points on different
models of one category.

A *correspondence set* holds at most one point per model; all its points mean "the same thing"
(e.g. the front-left leg tip of every chair). CPNet learns dense embeddings by pulling points of
one set together and pushing different sets apart; benchmarks match points between model pairs.

:class:`CorrespondenceSets` stores ``models`` (model ids, index = position) and ``sets``
(one ``{model_index: PointRef}`` mapping per set, named by ``set_names``). A :class:`PointRef`
locates the point on its model by any of: ``point_index`` (into the model's point cloud, e.g. the
KeypointNet .pcd), ``face`` + ``barycentric`` (on the model's mesh, see
:meth:`ShapeInstance.surface_points`), and ``xyz`` (coordinates in the frame the source used:
ShapeNet frame for KeypointNet, canonical frame for shapes).

Built from

* KeypointNet annotations (:meth:`CorrespondenceSets.from_keypointnet`): one set per
  ``semantic_id`` over all models of the class, named ``kp_<semantic_id>``;
* ShapeInstances (:meth:`CorrespondenceSets.from_shapes`): one set per keypoint name.

:meth:`pairs` / :meth:`matched_point_indices` / :meth:`matched_xyz` give, for two models, the
points that correspond (the sets containing both). JSON I/O by :meth:`save` / :meth:`load`
(format ``semcorr-correspondence-sets/1``; set members keyed by the model index as a string).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semcorr_core.data.shape import ShapeInstance
from semcorr_core.data.json_file import read_json_file
from semcorr_core.errors import DatasetFormatError, InputError

__all__ = ["CORRESPONDENCE_SETS_FORMAT", "CorrespondenceSets", "PointRef"]

CORRESPONDENCE_SETS_FORMAT = "semcorr-correspondence-sets/1"


@dataclass(frozen=True)
class PointRef:
    """Where one member of a set lies on its model (any subset of the three locators)."""

    point_index: int | None = None
    face: int | None = None
    barycentric: tuple[float, float, float] | None = None
    xyz: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        if self.point_index is None and self.face is None and self.xyz is None:
            raise InputError("a PointRef needs point_index, face+barycentric or xyz")
        if (self.face is None) != (self.barycentric is None):
            raise InputError("PointRef: face and barycentric go together")

    def to_dict(self) -> dict:
        d: dict[str, Any] = {}
        if self.point_index is not None:
            d["point_index"] = int(self.point_index)
        if self.face is not None:
            d["face"] = int(self.face)
            d["barycentric"] = [float(v) for v in self.barycentric]
        if self.xyz is not None:
            d["xyz"] = [float(v) for v in self.xyz]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "PointRef":
        bary = d.get("barycentric")
        xyz = d.get("xyz")
        return cls(
            point_index=None if d.get("point_index") is None else int(d["point_index"]),
            face=None if d.get("face") is None else int(d["face"]),
            barycentric=None if bary is None else tuple(float(v) for v in bary),
            xyz=None if xyz is None else tuple(float(v) for v in xyz),
        )

    def locate(self, shape: ShapeInstance) -> np.ndarray:
        """Coordinates on ``shape`` (its frame): from face+barycentric if present, else xyz."""
        if self.face is not None:
            return shape.surface_points(np.array([self.face]), np.array([self.barycentric]))[0]
        if self.xyz is not None:
            return np.asarray(self.xyz, dtype=np.float64)
        raise InputError("PointRef has only a point_index; index the model's point cloud instead")


@dataclass
class CorrespondenceSets:
    """Correspondence sets over the models of one category (see the module docstring)."""

    category: str
    models: list[str]
    sets: list[dict[int, PointRef]]
    set_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.set_names:
            self.set_names = [f"set_{i}" for i in range(len(self.sets))]
        if len(self.set_names) != len(self.sets):
            raise InputError(f"{len(self.set_names)} set names for {len(self.sets)} sets")
        if len(set(self.models)) != len(self.models):
            raise InputError("model ids must be unique")
        n = len(self.models)
        for i, s in enumerate(self.sets):
            for m in s:
                if not 0 <= int(m) < n:
                    raise InputError(f"set {i} refers to model index {m}, but there are {n} models")
        self._model_pos = {m: i for i, m in enumerate(self.models)}

    # -- queries ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.sets)

    def model_index(self, model: int | str) -> int:
        """Index of a model given its index or its id."""
        if isinstance(model, (int, np.integer)) and not isinstance(model, bool):
            if not 0 <= int(model) < len(self.models):
                raise InputError(f"model index {model} out of range [0, {len(self.models)})")
            return int(model)
        try:
            return self._model_pos[model]
        except KeyError:
            raise InputError(f"model {model!r} is not in these correspondence sets") from None

    def set_sizes(self) -> np.ndarray:
        """Number of models in each set."""
        return np.array([len(s) for s in self.sets], dtype=np.int64)

    def sets_of_model(self, model: int | str) -> dict[int, PointRef]:
        """``{set_index: PointRef}`` of the sets the model takes part in."""
        m = self.model_index(model)
        return {i: s[m] for i, s in enumerate(self.sets) if m in s}

    def pairs(self, a: int | str, b: int | str) -> list[tuple[int, PointRef, PointRef]]:
        """Matched points of models ``a`` and ``b``: ``(set_index, ref_on_a, ref_on_b)`` for each
        set holding both, in set order."""
        ia, ib = self.model_index(a), self.model_index(b)
        return [(i, s[ia], s[ib]) for i, s in enumerate(self.sets) if ia in s and ib in s]

    def matched_point_indices(self, a: int | str, b: int | str) -> np.ndarray:
        """``(M, 2)`` int array of point-cloud index pairs (sets where both have point_index)."""
        rows = [
            (ra.point_index, rb.point_index)
            for _, ra, rb in self.pairs(a, b)
            if ra.point_index is not None and rb.point_index is not None
        ]
        return np.array(rows, dtype=np.int64).reshape(-1, 2)

    def matched_xyz(
        self, a: int | str, b: int | str, shape_a: ShapeInstance | None = None, shape_b: ShapeInstance | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(set_indices (M,), xyz_a (M, 3), xyz_b (M, 3))``. With shapes, points come from
        face+barycentric on the shape (its frame), else from the stored xyz; pairs whose points
        cannot be located are left out."""
        idx, pa, pb = [], [], []
        for i, ra, rb in self.pairs(a, b):
            try:
                xa = ra.locate(shape_a) if shape_a is not None else _xyz(ra)
                xb = rb.locate(shape_b) if shape_b is not None else _xyz(rb)
            except InputError:
                continue
            idx.append(i)
            pa.append(xa)
            pb.append(xb)
        return (
            np.array(idx, dtype=np.int64),
            np.array(pa, dtype=np.float64).reshape(-1, 3),
            np.array(pb, dtype=np.float64).reshape(-1, 3),
        )

    # -- builders --------------------------------------------------------------------------

    @classmethod
    def from_keypointnet(
        cls,
        annotations: Sequence[Mapping[str, Any]],
        class_id: str | None = None,
        *,
        category: str | None = None,
        min_models: int = 1,
        name_map: Mapping[int, str] | None = None,
    ) -> "CorrespondenceSets":
        """One set per ``semantic_id`` across the models of ``class_id`` (default: the class of
        the first entry), sets ordered by semantic id; members carry point_index, face +
        barycentric (the .ply faces) and xyz (ShapeNet frame). Sets seen on fewer than
        ``min_models`` models are dropped."""
        from semcorr_core.data.keypointnet import KEYPOINTNET_CLASSES, keypoint_name

        if not annotations:
            raise InputError("from_keypointnet: no annotations")
        class_id = class_id or annotations[0]["class_id"]
        entries = [e for e in annotations if e["class_id"] == class_id]
        if not entries:
            raise InputError(f"from_keypointnet: no model of class {class_id}")
        models = [e["model_id"] for e in entries]
        by_sid: dict[int, dict[int, PointRef]] = {}
        for mi, e in enumerate(entries):
            for kp in e["keypoints"]:
                sid = int(kp["semantic_id"])
                mesh = kp.get("mesh_info") or {}
                pcd = kp.get("pcd_info") or {}
                face = mesh.get("face_index")
                uv = mesh.get("face_uv")
                ref = PointRef(
                    point_index=None if pcd.get("point_index") is None else int(pcd["point_index"]),
                    face=None if face is None or uv is None else int(face),
                    barycentric=None if face is None or uv is None else tuple(float(v) for v in uv),
                    xyz=tuple(float(v) for v in kp["xyz"]),
                )
                members = by_sid.setdefault(sid, {})
                if mi in members:
                    raise DatasetFormatError(f"model {e['model_id']}: semantic_id {sid} appears twice")
                members[mi] = ref
        sids = sorted(s for s, mem in by_sid.items() if len(mem) >= min_models)
        return cls(
            category=category or KEYPOINTNET_CLASSES.get(class_id, class_id),
            models=models,
            sets=[by_sid[s] for s in sids],
            set_names=[keypoint_name(s, name_map) for s in sids],
        )

    @classmethod
    def from_shapes(cls, shapes: Iterable[ShapeInstance], *, min_models: int = 1) -> "CorrespondenceSets":
        """One set per keypoint name across ``shapes`` (all of one category), in first-seen
        name order. Members carry xyz (canonical frame) and, where the shape's
        ``params["keypoint_faces"]`` lists the keypoint, face + barycentric."""
        shapes = list(shapes)
        if not shapes:
            raise InputError("from_shapes: no shapes")
        cats = {s.category for s in shapes}
        if len(cats) != 1:
            raise InputError(f"from_shapes: shapes of several categories {sorted(cats)}; build one set list per category")
        names: list[str] = []
        members: dict[str, dict[int, PointRef]] = {}
        for mi, s in enumerate(shapes):
            faces = s.params.get("keypoint_faces", {}) or {}
            for name, xyz in s.keypoints.items():
                fi = faces.get(name)
                ref = PointRef(
                    face=None if fi is None else int(fi["face"]),
                    barycentric=None if fi is None else tuple(float(v) for v in fi["barycentric"]),
                    xyz=tuple(float(v) for v in xyz),
                )
                if name not in members:
                    names.append(name)
                    members[name] = {}
                members[name][mi] = ref
        names = [n for n in names if len(members[n]) >= min_models]
        return cls(
            category=cats.pop(),
            models=[s.instance_id for s in shapes],
            sets=[members[n] for n in names],
            set_names=names,
        )

    # -- I/O -------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "format": CORRESPONDENCE_SETS_FORMAT,
            "category": self.category,
            "models": list(self.models),
            "set_names": list(self.set_names),
            "sets": [{str(m): ref.to_dict() for m, ref in sorted(s.items())} for s in self.sets],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, where: str = "correspondence sets") -> "CorrespondenceSets":
        if d.get("format") != CORRESPONDENCE_SETS_FORMAT:
            raise DatasetFormatError(
                f"{where}: format {d.get('format')!r} is not {CORRESPONDENCE_SETS_FORMAT!r}"
            )
        try:
            return cls(
                category=str(d["category"]),
                models=[str(m) for m in d["models"]],
                sets=[{int(m): PointRef.from_dict(r) for m, r in s.items()} for s in d["sets"]],
                set_names=[str(n) for n in d.get("set_names", [])],
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise DatasetFormatError(f"{where}: malformed content ({type(e).__name__}: {e})") from None

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(), separators=(",", ":")), encoding="utf-8")
        return p

    @classmethod
    def load(cls, path: str | Path) -> "CorrespondenceSets":
        p = Path(path)
        d = read_json_file(p, "correspondence-set file")
        if not isinstance(d, dict):
            raise DatasetFormatError(f"correspondence-set file {p}: top level must be an object")
        return cls.from_dict(d, where=f"correspondence-set file {p}")


def _xyz(ref: PointRef) -> np.ndarray:
    if ref.xyz is None:
        raise InputError("PointRef has no xyz")
    return np.asarray(ref.xyz, dtype=np.float64)
