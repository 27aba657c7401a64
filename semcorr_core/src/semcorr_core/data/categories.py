"""Category registry: keypoint names (in order), symmetry and canonical-frame convention.

Canonical frame for every category: metres, +z up the category axis, origin at the bottom centre
(the object stands on the plane z = 0). Category-specific choices are in ``CategorySpec.frame``.
Keypoint definitions are in ``CategorySpec.keypoint_definitions`` (the procedural generators in
``semcorr_core.data.shapes`` place them exactly so).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from semcorr_core.data.shape import Symmetry
from semcorr_core.errors import InputError, UnknownCategoryError

__all__ = ["CATEGORY_NAMES", "CategorySpec", "CATEGORIES", "get_category", "parse_category_list"]

CATEGORY_NAMES: tuple[str, ...] = ("mug", "bottle", "bowl", "can", "chair")


@dataclass(frozen=True)
class CategorySpec:
    """One category.

    name: registry key. keypoint_names: exact names in canonical order. symmetry: in the canonical
    frame. frame: one-line canonical-frame description. keypoint_definitions: name -> definition.
    surface_keypoints: the keypoints that lie on the object's surface for every procedural instance
    (the others are geometric points on the axis, e.g. the centre of an open rim).
    symmetric_unless_seen: mesh parts whose sight breaks a rotation symmetry about z. A mug whose
    handle is hidden looks the same from every heading, so where its handle is (and with it
    ``rim_front``) is not determined by the view; evaluation then compares it like a
    rotation-symmetric category (the NOCS convention for mugs, Wang et al. 2019). Empty for
    categories whose ``symmetry`` always holds.
    corner_faces: keypoint name -> the outward normals (canonical frame) of the faces of a box-like
    part that meet at it, found on those faces (:mod:`semcorr_core.keypoints.corners`). A face the
    view does not show still bounds the others: a seat's back face, hidden from the front, ends
    the seat's side face at the back edge. Chair tuning frames (seeds 7 /
    3), the seat's back corners with their back face declared too: visible found on first sight
    55 -> 70 of 121 and 90 -> 112 of 178, median 1.31 / 1.40 -> 1.07 / 0.95 cm (x had stayed
    where the fit put it, 0.7 cm inwards); the bench, visible / occluded PCK@2cm 0.730 / 0.811 ->
    0.751 / 0.836 and 0.724 / 0.731 -> 0.732 / 0.740.
    corner_faces_vary: corner keypoints whose faces turn from instance to instance relative to the
    canonical frame (a backrest tilted 0-20 degrees): their planes take the observed points' own
    normals; every other corner's faces lie along the declared normals in the fitted pose (a
    chair's seat is level and square to its legs).
    top_edge_ends: corner keypoints at an end of the object's top edge (nothing of the object lies
    above them: a chair's backrest tops) -> the canonical direction the edge runs out along there.
    Before the corner search their prediction takes the height of the highest readings near it
    and moves out to the end of those readings
    (:func:`~semcorr_core.keypoints.corners.seed_at_top_edge`): a backrest's height and width
    vary from instance to instance, and the fitted prediction often lay beyond the search radius.
    """

    name: str
    keypoint_names: tuple[str, ...]
    symmetry: Symmetry
    frame: str
    keypoint_definitions: dict[str, str] = field(default_factory=dict)
    surface_keypoints: tuple[str, ...] = ()
    symmetric_unless_seen: tuple[str, ...] = ()
    corner_faces: dict[str, tuple[tuple[float, float, float], ...]] = field(default_factory=dict)
    corner_faces_vary: tuple[str, ...] = ()
    top_edge_ends: dict[str, tuple[float, float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, direction in self.top_edge_ends.items():
            if name not in self.corner_faces:
                raise InputError(f"category {self.name!r}: top_edge_ends names {name!r}, which has no corner_faces")
            if len(direction) != 3 or not abs(sum(x * x for x in direction) - 1.0) <= 1e-6 or abs(direction[2]) > 1e-6:
                raise InputError(f"category {self.name!r}: top_edge_ends[{name!r}] must be a horizontal unit 3-vector, "
                                 f"got {direction}")
        for name in self.corner_faces_vary:
            if name not in self.corner_faces:
                raise InputError(f"category {self.name!r}: corner_faces_vary names {name!r}, which has no corner_faces")
        for name, faces in self.corner_faces.items():
            if name not in self.keypoint_names:
                raise InputError(f"category {self.name!r}: corner_faces names unknown keypoint {name!r}")
            if not 1 <= len(faces) <= 3 or any(len(f) != 3 or not abs(sum(x * x for x in f) - 1.0) <= 1e-6
                                               for f in faces):
                raise InputError(f"category {self.name!r}: corner_faces[{name!r}] must be 1-3 unit 3-vectors (a box "
                                 f"corner joins three faces), got {faces}")

    def view_symmetry(self, seen_parts) -> Symmetry:
        """The symmetry a view shows: rotation about z when none of ``symmetric_unless_seen`` is
        among ``seen_parts`` (names of the mesh parts visible in the view), else ``symmetry``."""
        if self.symmetric_unless_seen and not set(self.symmetric_unless_seen) & set(seen_parts):
            return _ROT_Z
        return self.symmetry

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "frame": self.frame,
            "keypoints": list(self.keypoint_names),
            "keypoint_definitions": dict(self.keypoint_definitions),
            "surface_keypoints": list(self.surface_keypoints),
            "symmetry": self.symmetry.to_dict(),
            "symmetric_unless_seen": list(self.symmetric_unless_seen),
            "corner_faces": {k: [list(f) for f in v] for k, v in self.corner_faces.items()},
            "corner_faces_vary": list(self.corner_faces_vary),
            "top_edge_ends": {k: list(v) for k, v in self.top_edge_ends.items()},
        }


_ROT_Z = Symmetry(kind="rotation_z")
_CHAIR_KEYPOINTS = ("seat_front_left", "seat_front_right", "seat_back_left", "seat_back_right", "leg_front_left",
                    "leg_front_right", "leg_back_left", "leg_back_right", "back_top_left", "back_top_right")

CATEGORIES: dict[str, CategorySpec] = {
    "mug": CategorySpec(
        name="mug",
        keypoint_names=("rim_center", "bottom_center", "handle_top", "handle_bottom", "handle_outer", "rim_front"),
        symmetry=Symmetry(kind="reflection", plane_normal=(0.0, 1.0, 0.0)),
        frame="metres; +z up the body axis; origin at the centre of the base (mug stands on z=0); "
        "+x towards the handle; the handle lies in the xz-plane (mirror plane, normal +y)",
        keypoint_definitions={
            "rim_center": "on the axis at the height of the rim top: (0, 0, H)",
            "bottom_center": "centre of the base, the origin (0, 0, 0); on the outer bottom surface",
            "handle_top": "where the centre line of the handle tube enters the outer body surface at the "
            "upper attachment: (R_out(z_top), 0, z_top); on the body surface (inside the handle)",
            "handle_bottom": "same at the lower attachment: (R_out(z_bot), 0, z_bot)",
            "handle_outer": "farthest point of the handle from the axis: on the handle's outer surface in "
            "the mirror plane, at the middle of the handle loop (max x)",
            "rim_front": "outer rim edge opposite the handle: (-R_top, 0, H)",
        },
        surface_keypoints=("bottom_center", "handle_top", "handle_bottom", "handle_outer", "rim_front"),
        symmetric_unless_seen=("handle",),
    ),
    "bottle": CategorySpec(
        name="bottle",
        keypoint_names=("cap_top", "neck", "shoulder", "bottom_center"),
        symmetry=_ROT_Z,
        frame="metres; +z up the bottle axis (base to cap); origin at the centre of the base; "
        "continuous rotation symmetry about z, so +x is arbitrary",
        keypoint_definitions={
            "cap_top": "top of the cap on the axis: (0, 0, H); on the surface",
            "neck": "on the axis at the base of the neck (where the shoulder reaches the neck radius)",
            "shoulder": "on the axis at the middle of the narrowing (where the radius is half-way between body and neck)",
            "bottom_center": "centre of the base, the origin; on the surface (flat base)",
        },
        surface_keypoints=("cap_top", "bottom_center"),
    ),
    "bowl": CategorySpec(
        name="bowl",
        keypoint_names=("rim_center", "bottom_center"),
        symmetry=_ROT_Z,
        frame="metres; +z up the bowl axis; origin on the axis in the resting plane z=0 (centre of the "
        "base or of the foot ring); continuous rotation symmetry about z",
        keypoint_definitions={
            "rim_center": "on the axis at the height of the rim top: (0, 0, H)",
            "bottom_center": "on the axis in the resting plane: (0, 0, 0) (on the surface only without a foot ring)",
        },
        surface_keypoints=(),
    ),
    "can": CategorySpec(
        name="can",
        keypoint_names=("top_center", "bottom_center"),
        symmetry=_ROT_Z,
        frame="metres; +z up the can axis; origin on the axis in the resting plane z=0; continuous "
        "rotation symmetry about z",
        keypoint_definitions={
            "top_center": "on the axis at the height of the top rim (lip) plane: (0, 0, H)",
            "bottom_center": "on the axis in the resting plane: (0, 0, 0)",
        },
        surface_keypoints=(),
    ),
    "chair": CategorySpec(
        name="chair",
        keypoint_names=_CHAIR_KEYPOINTS,
        symmetry=Symmetry(
            kind="reflection",
            plane_normal=(0.0, 1.0, 0.0),
            keypoint_swaps=(
                ("seat_front_left", "seat_front_right"),
                ("seat_back_left", "seat_back_right"),
                ("leg_front_left", "leg_front_right"),
                ("leg_back_left", "leg_back_right"),
                ("back_top_left", "back_top_right"),
            ),
        ),
        frame="metres; +z up; the chair faces +x (a sitter looks towards +x, their left is +y); origin on "
        "the floor below the centre of the four leg floor contacts (= centre of the seat in x and y)",
        keypoint_definitions={
            "seat_front_left": "corner of the seat top surface at front (+x) left (+y)",
            "seat_front_right": "corner of the seat top surface at front (+x) right (-y)",
            "seat_back_left": "corner of the seat top surface at back (-x) left (+y)",
            "seat_back_right": "corner of the seat top surface at back (-x) right (-y)",
            "leg_front_left": "bottom end of the front-left leg: centre of its floor contact (z = 0)",
            "leg_front_right": "bottom end of the front-right leg: centre of its floor contact (z = 0)",
            "leg_back_left": "bottom end of the back-left leg: centre of its floor contact (z = 0)",
            "leg_back_right": "bottom end of the back-right leg: centre of its floor contact (z = 0)",
            "back_top_left": "top corner of the backrest on its front face (facing the sitter), left (+y)",
            "back_top_right": "top corner of the backrest on its front face (facing the sitter), right (-y)",
        },
        surface_keypoints=_CHAIR_KEYPOINTS,  # every one on the surface
        corner_faces={
            "seat_front_left": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
            "seat_front_right": ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
            "seat_back_left": ((-1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
            "seat_back_right": ((-1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
            "back_top_left": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
            "back_top_right": ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
        },
        corner_faces_vary=("back_top_left", "back_top_right"),
        top_edge_ends={"back_top_left": (0.0, 1.0, 0.0), "back_top_right": (0.0, -1.0, 0.0)},
    ),
}


def get_category(name: str) -> CategorySpec:
    """The registered category ``name`` (case-insensitive); raises UnknownCategoryError otherwise."""
    key = name.strip().lower() if isinstance(name, str) else None
    if key not in CATEGORIES:
        raise UnknownCategoryError(
            f"unknown category {name!r}; known categories: {', '.join(CATEGORY_NAMES)}"
        )
    return CATEGORIES[key]


def parse_category_list(text: str) -> list[str]:
    """``"mug, bottle"`` -> ``["mug", "bottle"]`` (registered names, order kept). Raises
    UnknownCategoryError for a name not registered, InputError for an empty list or a repeat."""
    items = [t for t in (p.strip() for p in str(text).split(",")) if t]
    if not items:
        raise InputError(f"expected one or more comma-separated categories, got {text!r}")
    names = [get_category(t).name for t in items]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"each category may be listed once; repeated: {', '.join(repeated)}")
    return names
