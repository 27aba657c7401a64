"""Random tabletop scenes: support plane, category objects, distractors, light and camera."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import trimesh

from semcorr_core.data.render.texture import Texture, random_texture
from semcorr_core.data.shape import ShapeInstance
from semcorr_core.errors import InputError
from semcorr_core.geometry.camera import PinholeCamera
from semcorr_core.geometry.transforms import look_at, make_transform, rotation_z


@dataclass(frozen=True)
class SceneConfig:
    """How scenes are drawn. Angles in degrees, lengths in metres.

    The camera sits on a sphere around the scene centre: elevation above the support plane in
    ``elevation_deg``, any azimuth, and at the distance where the scene's bounding sphere fills
    ``fill_fraction`` of the horizontal field of view.
    """

    width: int = 640
    height: int = 480
    hfov_deg: float = 55.0
    objects_per_scene: tuple[int, int] = (1, 1)
    distractors_per_scene: tuple[int, int] = (0, 4)
    elevation_deg: tuple[float, float] = (5.0, 80.0)
    fill_fraction: tuple[float, float] = (0.35, 0.8)
    target_jitter: float = 0.25  # look-at offset as a fraction of the scene radius
    ambient: tuple[float, float] = (0.25, 0.5)
    color_noise_std: float = 2.0  # uint8 levels
    plane_half_size: float = 3.0

    def camera(self) -> PinholeCamera:
        return PinholeCamera.from_fov(self.width, self.height, self.hfov_deg)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SceneObject:
    """A mesh placed in the world. ``shape`` is set for category objects, None for distractors."""

    vertices: np.ndarray  # (V, 3) in the object's own frame
    faces: np.ndarray
    pose: np.ndarray  # (4, 4) object -> world
    texture: Texture
    shape: ShapeInstance | None = None


@dataclass
class Scene:
    objects: list[SceneObject]  # category objects; their order gives instance ids 1..N
    distractors: list[SceneObject]
    plane_texture: Texture
    light_dir_world: np.ndarray  # unit vector towards the light
    ambient: float
    background_rgb: tuple[float, float, float]
    camera_pose: np.ndarray  # (4, 4) camera -> world
    camera: PinholeCamera
    meta: dict = field(default_factory=dict)
    plane_half_size: float = 3.0  # the table is a square of this half-size around the first object

    @property
    def plane_center(self) -> np.ndarray:
        return np.array([*self.objects[0].pose[:2, 3], 0.0]) if self.objects else np.zeros(3)


def _footprint_radius(vertices: np.ndarray) -> float:
    return float(np.linalg.norm(vertices[:, :2], axis=1).max())


def _random_distractor(rng: np.random.Generator) -> trimesh.Trimesh:
    kind = rng.choice(["box", "cylinder", "sphere", "capsule"])
    if kind == "box":
        m = trimesh.creation.box(extents=rng.uniform(0.03, 0.15, 3))
    elif kind == "cylinder":
        m = trimesh.creation.cylinder(radius=rng.uniform(0.015, 0.06), height=rng.uniform(0.03, 0.2), sections=24)
    elif kind == "sphere":
        m = trimesh.creation.icosphere(subdivisions=2, radius=rng.uniform(0.02, 0.06))
    else:
        m = trimesh.creation.capsule(height=rng.uniform(0.02, 0.12), radius=rng.uniform(0.01, 0.04), count=[12, 12])
    m.apply_translation([0.0, 0.0, -m.bounds[0, 2]])  # stand on z = 0
    return m


def _place(radii: list[float], rng: np.random.Generator, spread: float) -> list[np.ndarray]:
    """Non-overlapping xy positions for discs of the given radii (first one near the origin)."""
    placed: list[tuple[np.ndarray, float]] = []
    for i, r in enumerate(radii):
        for attempt in range(200):
            xy = np.zeros(2) if i == 0 else rng.uniform(-spread, spread, 2) * (1 + attempt / 50)
            if all(np.linalg.norm(xy - p) > r + q + 0.01 for p, q in placed):
                break
        placed.append((xy, r))
    return [p for p, _ in placed]


def sample_scene(
    shapes: list[ShapeInstance],
    rng: np.random.Generator,
    config: SceneConfig = SceneConfig(),
    primary: ShapeInstance | None = None,
) -> Scene:
    """Draw a scene holding ``primary`` (or a random pool member) plus more objects from ``shapes``."""
    if not shapes and primary is None:
        raise InputError("sample_scene needs at least one shape")
    lo, hi = config.objects_per_scene
    if not 1 <= lo <= hi:
        raise InputError(f"objects_per_scene must satisfy 1 <= min <= max, got {config.objects_per_scene}")
    n_obj = int(rng.integers(lo, hi + 1))
    chosen = [primary if primary is not None else shapes[int(rng.integers(len(shapes)))]]
    chosen += [shapes[int(rng.integers(len(shapes)))] for _ in range(n_obj - 1)] if shapes else []
    n_dis = int(rng.integers(config.distractors_per_scene[0], config.distractors_per_scene[1] + 1))
    distractor_meshes = [_random_distractor(rng) for _ in range(n_dis)]

    radii = [_footprint_radius(s.vertices) for s in chosen] + [_footprint_radius(m.vertices) for m in distractor_meshes]
    spread = max(0.15, 2.0 * max(radii))
    xys = _place(radii, rng, spread)

    objects, distractors = [], []
    for i, s in enumerate(chosen):
        pose = make_transform(rotation_z(rng.uniform(0, 2 * math.pi)), [xys[i][0], xys[i][1], 0.0])
        objects.append(SceneObject(s.vertices, s.faces, pose, random_texture(rng), shape=s))
    for j, m in enumerate(distractor_meshes):
        xy = xys[len(chosen) + j]
        pose = make_transform(rotation_z(rng.uniform(0, 2 * math.pi)), [xy[0], xy[1], 0.0])
        distractors.append(SceneObject(np.asarray(m.vertices), np.asarray(m.faces), pose, random_texture(rng)))

    # Camera aims at the category objects (distractors may fall outside the frame).
    world_pts = np.concatenate([o.vertices @ o.pose[:3, :3].T + o.pose[:3, 3] for o in objects])
    centre = 0.5 * (world_pts.min(0) + world_pts.max(0))
    radius = float(np.linalg.norm(world_pts - centre, axis=1).max())
    camera = config.camera()
    half_fov = math.radians(config.hfov_deg) / 2 * min(1.0, config.height / config.width)
    fill = rng.uniform(*config.fill_fraction)
    distance = radius / math.sin(half_fov * fill)
    elev = math.radians(rng.uniform(*config.elevation_deg))
    azim = rng.uniform(0, 2 * math.pi)
    eye = centre + distance * np.array([math.cos(elev) * math.cos(azim), math.cos(elev) * math.sin(azim), math.sin(elev)])
    target = centre + rng.uniform(-1, 1, 3) * config.target_jitter * radius
    camera_pose = look_at(eye, target, up=(0.0, 0.0, 1.0))

    light = rng.normal(size=3)
    light[2] = abs(light[2]) + 0.5
    light /= np.linalg.norm(light)
    bg = tuple(float(c) for c in rng.uniform(0.1, 0.9, 3))
    return Scene(
        objects=objects,
        distractors=distractors,
        plane_texture=random_texture(rng, frequency=(2.0, 10.0)),
        light_dir_world=light,
        ambient=float(rng.uniform(*config.ambient)),
        background_rgb=bg,
        camera_pose=camera_pose,
        camera=camera,
        meta={"elevation_deg": math.degrees(elev), "azimuth_deg": math.degrees(azim), "distance_m": distance},
        plane_half_size=config.plane_half_size,
    )
