"""Category shapes: the mesh + keypoints + symmetry record every data source produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from semcorr_core.errors import InputError

SymmetryKind = Literal["none", "rotation_z", "reflection"]


@dataclass(frozen=True)
class Symmetry:
    """Symmetry of a category in its canonical frame.

    kind:
        ``"none"``; ``"rotation_z"`` (continuous rotation about the canonical +z axis: bottle, bowl,
        can); ``"reflection"`` (mirror through the plane through the origin with normal
        ``plane_normal``: mug through its handle plane, chair left/right).
    keypoint_swaps:
        Pairs of keypoint names that trade places under the symmetry (chair ``*_left`` <->
        ``*_right``). Keypoints not listed map to themselves.
    """

    kind: SymmetryKind = "none"
    plane_normal: tuple[float, float, float] | None = None
    keypoint_swaps: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("none", "rotation_z", "reflection"):
            raise InputError(f"unknown symmetry kind {self.kind!r}; use none, rotation_z or reflection")
        if self.kind == "reflection":
            if self.plane_normal is None:
                raise InputError("a reflection symmetry needs plane_normal (canonical-frame unit vector)")
            n = np.asarray(self.plane_normal, dtype=float)
            if n.shape != (3,) or not np.isclose(np.linalg.norm(n), 1.0, atol=1e-6):
                raise InputError(f"plane_normal must be a unit 3-vector, got {self.plane_normal}")

    def reflection_matrix(self) -> np.ndarray:
        """3x3 matrix of the mirror (identity when the symmetry is not a reflection)."""
        if self.kind != "reflection":
            return np.eye(3)
        n = np.asarray(self.plane_normal, dtype=float)
        return np.eye(3) - 2.0 * np.outer(n, n)

    def swapped_name(self, name: str) -> str:
        for a, b in self.keypoint_swaps:
            if name == a:
                return b
            if name == b:
                return a
        return name

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "plane_normal": None if self.plane_normal is None else list(self.plane_normal),
            "keypoint_swaps": [list(p) for p in self.keypoint_swaps],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Symmetry":
        pn = d.get("plane_normal")
        return cls(
            kind=d.get("kind", "none"),
            plane_normal=None if pn is None else tuple(float(v) for v in pn),
            keypoint_swaps=tuple(tuple(p) for p in d.get("keypoint_swaps", ())),
        )


@dataclass
class ShapeInstance:
    """One object instance in its canonical frame (metres; +z up the category axis; origin at
    the bottom centre; category-specific +x, see ``semcorr_core.data.categories``).

    Because vertices live in the canonical frame, the canonical coordinate of any surface point is
    the barycentric interpolation of its face's vertices.
    """

    category: str
    instance_id: str
    vertices: np.ndarray  # (V, 3) float64
    faces: np.ndarray  # (F, 3) int64
    keypoints: dict[str, np.ndarray]  # name -> (3,) canonical xyz, ordered as the category lists them
    symmetry: Symmetry = field(default_factory=Symmetry)
    face_parts: np.ndarray | None = None  # (F,) int part label per face, optional
    part_names: tuple[str, ...] = ()
    params: dict = field(default_factory=dict)  # generator parameters, for provenance

    def __post_init__(self) -> None:
        self.vertices = np.ascontiguousarray(self.vertices, dtype=np.float64)
        self.faces = np.ascontiguousarray(self.faces, dtype=np.int64)
        if self.vertices.ndim != 2 or self.vertices.shape[1] != 3:
            raise InputError(f"vertices must be (V, 3), got {self.vertices.shape}")
        if self.faces.ndim != 2 or self.faces.shape[1] != 3:
            raise InputError(f"faces must be (F, 3), got {self.faces.shape}")
        if self.faces.size and (self.faces.min() < 0 or self.faces.max() >= len(self.vertices)):
            raise InputError("faces index vertices out of range")
        self.keypoints = {k: np.asarray(v, dtype=np.float64).reshape(3) for k, v in self.keypoints.items()}

    @property
    def keypoint_names(self) -> tuple[str, ...]:
        return tuple(self.keypoints)

    @property
    def keypoint_array(self) -> np.ndarray:
        """(K, 3) keypoints in ``keypoint_names`` order."""
        if not self.keypoints:
            return np.zeros((0, 3))
        return np.stack([self.keypoints[k] for k in self.keypoint_names])

    def surface_points(self, face_ids: np.ndarray, barycentric: np.ndarray) -> np.ndarray:
        """Canonical xyz of surface points given face ids (N,) and barycentrics (N, 3)."""
        tri = self.vertices[self.faces[np.asarray(face_ids)]]  # (N, 3, 3)
        return np.einsum("nk,nkd->nd", np.asarray(barycentric, dtype=np.float64), tri)

    def bbox_diagonal(self) -> float:
        return float(np.linalg.norm(self.vertices.max(0) - self.vertices.min(0)))
