"""``grasp_example``: how a planner consumes ``~/keypoints`` - one grasp pose per object.

Subscribes ``keypoints`` (semcorr_msgs/SemanticObjectArray; remap it onto the perception node's
``/semcorr_perception/keypoints``) and publishes ``grasp_pose`` (geometry_msgs/PoseStamped, the
array's header) for the best-scoring object it knows a grasp for:

* mug - a handle grasp: the gripper centre at the middle of ``handle_top``, ``handle_bottom`` and
  ``handle_outer``; it approaches along the handle's outward direction reversed (from outside
  towards the body), its fingers close across the handle (perpendicular to the handle's plane);
* bottle - a side grasp half way between ``shoulder`` and ``bottom_center`` on the axis,
  approaching from the camera's side perpendicular to the axis, fingers closing across the axis.

Gripper frame: +z the approach direction, +y the closing direction of the fingers, +x = y × z.
An object lacking one of the needed keypoints (or with them degenerate) gets no grasp. This is
an example of reading the message, not a grasp planner: it checks no collisions or reachability.
"""

from __future__ import annotations

import sys
from typing import Mapping, Optional

import numpy as np

from semcorr_ros.conversions import quaternion_from_matrix

__all__ = ["grasp_from_keypoints", "main"]


def _unit(v: np.ndarray) -> Optional[np.ndarray]:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-9 else None


def grasp_from_keypoints(category: str, keypoints: Mapping[str, np.ndarray]) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """(position (3,), rotation (3, 3) gripper -> camera) from named keypoints in the camera optical
    frame, or None when the category has no grasp here or a keypoint is missing or degenerate."""
    k = {n: np.asarray(v, dtype=np.float64) for n, v in keypoints.items()}
    if category == "mug":
        if not {"handle_top", "handle_bottom", "handle_outer"} <= set(k):
            return None
        top, bottom, outer = k["handle_top"], k["handle_bottom"], k["handle_outer"]
        attach = 0.5 * (top + bottom)
        approach = _unit(attach - outer)  # from outside the loop towards the body
        along = _unit(top - bottom)
        if approach is None or along is None:
            return None
        closing = _unit(np.cross(along, approach))  # across the handle's plane
        if closing is None:
            return None
        position = (top + bottom + outer) / 3.0
    elif category == "bottle":
        if not {"shoulder", "bottom_center"} <= set(k):
            return None
        axis = _unit(k["shoulder"] - k["bottom_center"])
        if axis is None:
            return None
        position = 0.5 * (k["shoulder"] + k["bottom_center"])
        view = position / max(float(np.linalg.norm(position)), 1e-9)  # camera -> object
        approach = _unit(view - (view @ axis) * axis)
        if approach is None:  # looking straight down the axis: no side to come from
            return None
        closing = _unit(np.cross(axis, approach))
    else:
        return None
    x = np.cross(closing, approach)
    return position, np.stack([x, closing, approach], axis=1)


def main(argv: Optional[list[str]] = None) -> int:
    import rclpy
    from geometry_msgs.msg import PoseStamped
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions
    from semcorr_msgs.msg import SemanticObjectArray

    from semcorr_ros.spin import spin_until_shutdown

    # SIGTERM too (a process manager's stop), not only Ctrl-C
    rclpy.init(args=argv if argv is not None else sys.argv, signal_handler_options=SignalHandlerOptions.ALL)
    node = rclpy.create_node("semcorr_grasp_example")
    pub = node.create_publisher(PoseStamped, "grasp_pose", 10)

    def on_keypoints(msg: SemanticObjectArray) -> None:
        for obj in sorted(msg.objects, key=lambda o: -o.score):
            named = {kp.name: np.array([kp.position.x, kp.position.y, kp.position.z]) for kp in obj.keypoints}
            grasp = grasp_from_keypoints(obj.category, named)
            if grasp is None:
                continue
            out = PoseStamped()
            out.header = msg.header
            p, R = grasp
            out.pose.position.x, out.pose.position.y, out.pose.position.z = (float(v) for v in p)
            q = quaternion_from_matrix(R)
            out.pose.orientation.x, out.pose.orientation.y, out.pose.orientation.z, out.pose.orientation.w = q
            pub.publish(out)
            return

    node.create_subscription(SemanticObjectArray, "keypoints", on_keypoints, 10)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        spin_until_shutdown(executor)
    finally:
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
