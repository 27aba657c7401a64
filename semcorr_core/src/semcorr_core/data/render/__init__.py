"""RGB-D scene rendering with exact per-pixel ground truth (CPU ray casting through Open3D).

Pipeline: :func:`sample_scene` draws a scene (support plane, objects, distractors, camera,
light, textures) from a seed; :class:`RaycastRenderer` turns it into a :class:`Frame`;
:func:`apply_depth_noise` makes the depth look like a real sensor.
"""

from semcorr_core.data.render.frame import Frame, ObjectAnnotation
from semcorr_core.data.render.noise import DepthNoiseConfig, apply_depth_noise
from semcorr_core.data.render.raycast import RaycastRenderer
from semcorr_core.data.render.scene import Scene, SceneConfig, SceneObject, sample_scene

__all__ = [
    "DepthNoiseConfig",
    "Frame",
    "ObjectAnnotation",
    "RaycastRenderer",
    "Scene",
    "SceneConfig",
    "SceneObject",
    "apply_depth_noise",
    "sample_scene",
]
