"""Ground truth carried in a bag: one JSON document per frame on a ``std_msgs/String`` topic.

A String keeps the bag readable by any ROS 2 tool (``ros2 topic echo`` prints it) without our
message package. Format ``semcorr-ground-truth/1``::

    {"format": "semcorr-ground-truth/1", "stamp_ns": int, "objects": [
        {"instance_index": int, "category": str, "keypoint_names": [...],
         "keypoints_cam": [[x, y, z], ...],  # metres, camera optical frame
         "keypoints_uv": [[u, v], ...], "keypoints_visible": [bool, ...],
         "bbox_xywh": [x, y, w, h], "pose": 4x4 canonical -> camera, "parts_seen": [str, ...]}]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from semcorr_core.errors import BagError

__all__ = ["GROUND_TRUTH_FORMAT", "FrameTruth", "TruthObject"]

GROUND_TRUTH_FORMAT = "semcorr-ground-truth/1"


@dataclass
class TruthObject:
    """One annotated object (the fields :class:`~semcorr_core.bench.pipeline.PipelineScores` reads,
    named as in :class:`~semcorr_core.data.render.ObjectAnnotation`)."""

    instance_index: int
    category: str
    keypoint_names: tuple[str, ...]
    keypoints_cam: np.ndarray  # (K, 3)
    keypoints_uv: np.ndarray  # (K, 2)
    keypoints_visible: np.ndarray  # (K,) bool
    bbox_xywh: tuple[int, int, int, int]
    pose: np.ndarray  # (4, 4)
    parts_seen: tuple[str, ...] = ()

    @classmethod
    def from_annotation(cls, ann, parts_seen=()) -> "TruthObject":
        return cls(int(ann.instance_index), ann.category, tuple(ann.keypoint_names), np.asarray(ann.keypoints_cam),
                   np.asarray(ann.keypoints_uv), np.asarray(ann.keypoints_visible, bool),
                   tuple(int(x) for x in ann.bbox_xywh), np.asarray(ann.pose), tuple(parts_seen))

    def to_dict(self) -> dict:
        return {"instance_index": self.instance_index, "category": self.category,
                "keypoint_names": list(self.keypoint_names), "keypoints_cam": self.keypoints_cam.tolist(),
                "keypoints_uv": self.keypoints_uv.tolist(), "keypoints_visible": [bool(v) for v in self.keypoints_visible],
                "bbox_xywh": list(self.bbox_xywh), "pose": self.pose.tolist(), "parts_seen": list(self.parts_seen)}


@dataclass
class FrameTruth:
    stamp_ns: int
    objects: list[TruthObject]

    def to_json(self) -> str:
        return json.dumps({"format": GROUND_TRUTH_FORMAT, "stamp_ns": int(self.stamp_ns),
                           "objects": [o.to_dict() for o in self.objects]})

    @classmethod
    def from_json(cls, text: str) -> "FrameTruth":
        try:
            doc = json.loads(text)
            if doc.get("format") != GROUND_TRUTH_FORMAT:
                raise BagError(f"ground truth has format {doc.get('format')!r}; this semcorr reads {GROUND_TRUTH_FORMAT!r}")
            objects = [TruthObject(int(o["instance_index"]), str(o["category"]), tuple(o["keypoint_names"]),
                                   np.asarray(o["keypoints_cam"], np.float64).reshape(-1, 3),
                                   np.asarray(o["keypoints_uv"], np.float64).reshape(-1, 2),
                                   np.asarray(o["keypoints_visible"], bool), tuple(int(x) for x in o["bbox_xywh"]),
                                   np.asarray(o["pose"], np.float64).reshape(4, 4), tuple(o.get("parts_seen", ())))
                       for o in doc["objects"]]
            return cls(int(doc["stamp_ns"]), objects)
        except BagError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise BagError(f"ground-truth message is not valid {GROUND_TRUTH_FORMAT} JSON: {e}") from None
