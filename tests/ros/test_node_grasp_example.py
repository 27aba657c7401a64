"""The example consumer: keypoints in, a grasp pose out (the function by hand, then over DDS)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.ros.test_node_support import node_env, use_source_tree

use_source_tree()
from semcorr_ros.conversions import quaternion_from_matrix  # noqa: E402
from semcorr_ros.grasp_example import grasp_from_keypoints  # noqa: E402


def test_mug_handle_grasp_by_hand():
    # a mug 40 cm in front of the camera, handle towards camera +x: attachments at x = 0.04, the loop's
    # outer point at x = 0.07; camera y points down, so "up the handle" is -y
    k = {"handle_top": [0.04, -0.08, 0.4], "handle_bottom": [0.04, -0.02, 0.4], "handle_outer": [0.07, -0.05, 0.4]}
    p, R = grasp_from_keypoints("mug", k)
    np.testing.assert_allclose(p, [0.05, -0.05, 0.4])
    np.testing.assert_allclose(R[:, 2], [-1.0, 0.0, 0.0], atol=1e-12)  # approach: from the loop towards the body
    np.testing.assert_allclose(R[:, 1], [0.0, 0.0, -1.0], atol=1e-12)  # fingers close across the handle plane
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    assert grasp_from_keypoints("mug", {"handle_top": [0, 0, 1]}) is None
    assert grasp_from_keypoints("chair", k) is None


def test_bottle_side_grasp_by_hand():
    # an upright bottle (camera y down: up is -y) straight ahead: approach along +z, the axis is the closing normal
    k = {"shoulder": [0.0, -0.15, 0.5], "bottom_center": [0.0, 0.05, 0.5]}
    p, R = grasp_from_keypoints("bottle", k)
    np.testing.assert_allclose(p, [0.0, -0.05, 0.5])
    np.testing.assert_allclose(R[:, 2], [0.0, 0.0, 1.0], atol=1e-12)
    assert abs(R[:, 1] @ np.array([0.0, 1.0, 0.0])) < 1e-12  # fingers close across the axis
    # looking straight down the axis there is no side to approach from
    assert grasp_from_keypoints("bottle", {"shoulder": [0, 0, 0.4], "bottom_center": [0, 0, 0.6]}) is None


def test_quaternion_of_known_rotations():
    np.testing.assert_allclose(quaternion_from_matrix(np.eye(3)), [0, 0, 0, 1])
    rz90 = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    np.testing.assert_allclose(quaternion_from_matrix(rz90), [0, 0, np.sqrt(0.5), np.sqrt(0.5)], atol=1e-12)
    rx180 = np.diag([1.0, -1.0, -1.0])
    np.testing.assert_allclose(np.abs(quaternion_from_matrix(rx180)), [1, 0, 0, 0], atol=1e-12)


def test_grasp_example_over_dds(ros_in_process, domain_env):
    import rclpy
    from geometry_msgs.msg import PoseStamped
    from rclpy.qos import QoSProfile
    from semcorr_msgs.msg import Keypoint, SemanticObject, SemanticObjectArray

    proc = subprocess.Popen([sys.executable, "-m", "semcorr_ros.grasp_example", "--ros-args",
                             "-r", "keypoints:=/test/keypoints"], env=node_env(domain_env),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    old = {k: os.environ.get(k) for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")}
    os.environ.update(ROS_DOMAIN_ID=domain_env["ROS_DOMAIN_ID"], ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        node = rclpy.create_node("grasp_test", context=ctx)
        got = []
        node.create_subscription(PoseStamped, "/grasp_pose", got.append, QoSProfile(depth=10))
        pub = node.create_publisher(SemanticObjectArray, "/test/keypoints", QoSProfile(depth=10))
        msg = SemanticObjectArray()
        msg.header.frame_id = "camera_color_optical_frame"
        obj = SemanticObject(category="mug", instance_id=1, score=0.9)
        for i, (name, xyz) in enumerate({"handle_top": (0.04, -0.08, 0.4), "handle_bottom": (0.04, -0.02, 0.4),
                                         "handle_outer": (0.07, -0.05, 0.4)}.items()):
            kp = Keypoint(name=name, index=i, score=0.9, visible=True)
            kp.position.x, kp.position.y, kp.position.z = xyz
            obj.keypoints.append(kp)
        msg.objects.append(obj)
        from rclpy.executors import SingleThreadedExecutor
        ex = SingleThreadedExecutor(context=ctx)
        ex.add_node(node)
        deadline = time.monotonic() + 30.0
        while not got and time.monotonic() < deadline and proc.poll() is None:
            pub.publish(msg)
            ex.spin_once(timeout_sec=0.2)
        assert got, f"no grasp pose within 30 s; example alive: {proc.poll() is None}"
        pose = got[0]
        assert pose.header.frame_id == "camera_color_optical_frame"
        assert (pose.pose.position.x, pose.pose.position.y, pose.pose.position.z) == pytest.approx((0.05, -0.05, 0.4))
        q = pose.pose.orientation
        assert q.x**2 + q.y**2 + q.z**2 + q.w**2 == pytest.approx(1.0)
    finally:
        ctx.try_shutdown()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.terminate()
        try:
            assert proc.wait(timeout=20) == 0, proc.communicate()[1][-2000:]  # SIGTERM: a clean exit
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
