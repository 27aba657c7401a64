"""What one rendered frame carries: images, dense ground truth and per-object annotations."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from semcorr_core.data.rgbd import depth_to_millimetres
from semcorr_core.geometry.camera import PinholeCamera

BACKGROUND_ID = 0
"""Instance-mask value of the support plane and empty background."""
DISTRACTOR_ID_BASE = 1000
"""Distractor ``j`` has instance-mask value ``DISTRACTOR_ID_BASE + j``; category objects use 1..N."""


@dataclass
class ObjectAnnotation:
    """Ground truth of one category object in one frame (camera optical frame, metres, pixels)."""

    instance_index: int  # value in Frame.instance_mask
    category: str
    shape_id: str
    pose: np.ndarray  # (4, 4) canonical -> camera (rigid: shapes are metric)
    keypoint_names: tuple[str, ...]
    keypoints_cam: np.ndarray  # (K, 3)
    keypoints_uv: np.ndarray  # (K, 2), OpenCV pixel convention
    keypoints_visible: np.ndarray  # (K,) bool: in image and not occluded (ray test)
    keypoints_in_image: np.ndarray  # (K,) bool
    pixel_count: int
    bbox_xywh: tuple[int, int, int, int]  # tight box of the visible mask; zeros if not visible

    def to_dict(self) -> dict:
        return {
            "instance_index": int(self.instance_index),
            "category": self.category,
            "shape_id": self.shape_id,
            "pose": self.pose.tolist(),
            "keypoint_names": list(self.keypoint_names),
            "keypoints_cam": self.keypoints_cam.tolist(),
            "keypoints_uv": self.keypoints_uv.tolist(),
            "keypoints_visible": [bool(v) for v in self.keypoints_visible],
            "keypoints_in_image": [bool(v) for v in self.keypoints_in_image],
            "pixel_count": int(self.pixel_count),
            "bbox_xywh": [int(v) for v in self.bbox_xywh],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "ObjectAnnotation":
        return cls(
            instance_index=int(d["instance_index"]),
            category=d["category"],
            shape_id=d["shape_id"],
            pose=np.asarray(d["pose"], dtype=np.float64),
            keypoint_names=tuple(d["keypoint_names"]),
            keypoints_cam=np.asarray(d["keypoints_cam"], dtype=np.float64).reshape(-1, 3),
            keypoints_uv=np.asarray(d["keypoints_uv"], dtype=np.float64).reshape(-1, 2),
            keypoints_visible=np.asarray(d["keypoints_visible"], dtype=bool),
            keypoints_in_image=np.asarray(d["keypoints_in_image"], dtype=bool),
            pixel_count=int(d["pixel_count"]),
            bbox_xywh=tuple(int(v) for v in d["bbox_xywh"]),
        )


@dataclass
class Frame:
    """One RGB-D frame.

    ``depth`` is what a sensor would deliver (noisy when noise is on; 0 = no reading);
    ``depth_clean`` is the exact z-depth. Dense ground truth is defined on category-object pixels
    only: ``canonical`` (canonical-frame xyz of the surface point hit by the pixel's ray, NaN
    elsewhere), ``face_id`` (-1 elsewhere) and ``barycentric`` (weights of the face's three vertices).
    """

    color: np.ndarray  # (H, W, 3) uint8 RGB
    depth: np.ndarray  # (H, W) float32 metres, 0 = invalid
    depth_clean: np.ndarray  # (H, W) float32 metres, 0 = no surface
    instance_mask: np.ndarray  # (H, W) uint16
    canonical: np.ndarray  # (H, W, 3) float32
    face_id: np.ndarray  # (H, W) int32
    barycentric: np.ndarray  # (H, W, 3) float32
    camera: PinholeCamera
    camera_pose: np.ndarray  # (4, 4) camera -> world
    objects: list[ObjectAnnotation] = field(default_factory=list)

    @property
    def depth_mm(self) -> np.ndarray:
        """Depth as a 16UC1 image in millimetres (0 = invalid), the common driver encoding."""
        return depth_to_millimetres(self.depth)
