"""Topic names a semcorr bag uses (the RealSense ROS 2 wrapper's, under ``/camera``)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BagTopics", "COLOR_TYPE", "DEPTH_TYPE", "INFO_TYPE", "TRUTH_TYPE"]

COLOR_TYPE = DEPTH_TYPE = "sensor_msgs/msg/Image"
INFO_TYPE = "sensor_msgs/msg/CameraInfo"
TRUTH_TYPE = "std_msgs/msg/String"  # JSON, see semcorr_core.bags.ground_truth


@dataclass(frozen=True)
class BagTopics:
    color: str = "/camera/color/image_raw"
    depth: str = "/camera/aligned_depth_to_color/image_raw"
    camera_info: str = "/camera/color/camera_info"
    ground_truth: str = "/semcorr/ground_truth"

    @classmethod
    def node_inputs(cls, namespace: str) -> "BagTopics":
        """The perception node's default (relative) input topics resolved under ``namespace``."""
        ns = namespace.strip("/")
        ns = f"/{ns}" if ns else ""
        return cls(color=f"{ns}/color/image_raw", depth=f"{ns}/aligned_depth_to_color/image_raw",
                   camera_info=f"{ns}/color/camera_info")
