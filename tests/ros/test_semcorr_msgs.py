"""semcorr_msgs against real ROS 2: definitions, serialization, and DDS between processes.

No mocks: messages come from the colcon-built ros2_ws, serialization is rclpy's (CDR), and the
pub/sub tests run a publisher and a subscriber in separate OS processes over Fast DDS on
loopback, in a ROS domain of their own.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = pytest.mark.usefixtures("ros_env")

# Bounded waits: discovery on loopback takes well under a second here, but allow slow CI.
DISCOVERY_TIMEOUT_S = 20.0
PROCESS_TIMEOUT_S = 30.0

# A ROS peer run as `python -c PEER MODE TOPIC [B64_SERIALIZED_MESSAGE]`.
# pub-array:   publish the given SemanticObjectArray (RELIABLE, VOLATILE) every 0.2 s until killed.
# sub-array:   wait for one SemanticObjectArray, print {"data": base64(serialized)} and exit 0.
# pub-latched: publish two CategoryInfo messages once (RELIABLE, TRANSIENT_LOCAL, depth 1),
#              print {"published": 2}, then stay alive (serving late joiners) until killed.
# sub-latched: TRANSIENT_LOCAL subscriber; print every message received within 1.5 s after the
#              first one as {"data": [...]} and exit 0.
# Exit 3 when nothing arrives before the deadline.
PEER = r"""
import base64, json, sys, time
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy, DurabilityPolicy, HistoryPolicy
from rclpy.serialization import serialize_message, deserialize_message
from semcorr_msgs.msg import SemanticObjectArray, CategoryInfo

mode, topic = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + float(sys.argv[4] if len(sys.argv) > 4 else 20.0)
latched = mode.endswith('latched')
msg_type = CategoryInfo if latched else SemanticObjectArray
qos = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1 if latched else 10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
)

def say(**kw):
    sys.stdout.write(json.dumps(kw) + '\n')
    sys.stdout.flush()

rclpy.init()
node = rclpy.create_node('semcorr_test_' + mode.replace('-', '_'))
try:
    if mode.startswith('pub'):
        pub = node.create_publisher(msg_type, topic, qos)
        if mode == 'pub-array':
            msg = deserialize_message(base64.b64decode(sys.argv[3]), msg_type)
            while time.monotonic() < deadline:
                pub.publish(msg)
                rclpy.spin_once(node, timeout_sec=0.2)
        else:
            stale = CategoryInfo(category='stale', keypoint_names=['x'], symmetry='none')
            pub.publish(stale)
            pub.publish(deserialize_message(base64.b64decode(sys.argv[3]), msg_type))
            say(published=2)
            while time.monotonic() < deadline:
                rclpy.spin_once(node, timeout_sec=0.2)
        sys.exit(0)
    received = []
    first = [None]
    def on_msg(m):
        received.append(base64.b64encode(serialize_message(m)).decode())
        if first[0] is None:
            first[0] = time.monotonic()
    node.create_subscription(msg_type, topic, on_msg, qos)
    say(ready=True)
    while time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
        if first[0] is not None and (not latched or time.monotonic() - first[0] > 1.5):
            break
    if not received:
        say(error='nothing received on ' + topic)
        sys.exit(3)
    say(data=received if latched else received[0])
    sys.exit(0)
finally:
    node.destroy_node()
    if rclpy.ok():
        rclpy.try_shutdown()
"""


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _sample_array(msgs):
    """A SemanticObjectArray with every field set to a non-default, float32-exact value."""
    from geometry_msgs.msg import Point, Pose, Quaternion

    kp = [
        msgs.Keypoint(
            name="rim_center", index=0, position=Point(x=0.015625, y=-0.25, z=0.75),
            u=320.5, v=240.25, score=0.875, visible=True, source="measured", position_sigma=0.0078125,
        ),
        msgs.Keypoint(
            name="handle_top", index=4294967295, position=Point(x=-1e-3, y=2.5e2, z=1e-9),
            u=-3.5, v=1080.0, score=0.0, visible=False, source="prior", position_sigma=0.25,
        ),
    ]
    mug = msgs.SemanticObject(
        category="mug", instance_id=-1,
        pose=Pose(position=Point(x=0.1, y=-0.2, z=0.9),
                  orientation=Quaternion(x=0.5, y=-0.5, z=0.5, w=0.5)),
        scale=1.125, score=0.5, keypoints=kp,
    )
    empty = msgs.SemanticObject(category="bottle", instance_id=7, scale=1.0, score=0.25)
    arr = msgs.SemanticObjectArray(objects=[mug, empty])
    arr.header.stamp.sec = 1_700_000_000
    arr.header.stamp.nanosec = 999_999_999
    arr.header.frame_id = "camera_color_optical_frame"
    return arr


def _check_sample(arr) -> None:
    """Field-by-field check of a (round-tripped) _sample_array message."""
    assert arr.header.stamp.sec == 1_700_000_000
    assert arr.header.stamp.nanosec == 999_999_999
    assert arr.header.frame_id == "camera_color_optical_frame"
    assert len(arr.objects) == 2
    mug, empty = arr.objects
    assert (mug.category, mug.instance_id, mug.scale, mug.score) == ("mug", -1, 1.125, 0.5)
    assert (mug.pose.position.x, mug.pose.position.y, mug.pose.position.z) == (0.1, -0.2, 0.9)
    q = mug.pose.orientation
    assert (q.x, q.y, q.z, q.w) == (0.5, -0.5, 0.5, 0.5)
    assert [k.name for k in mug.keypoints] == ["rim_center", "handle_top"]
    k0, k1 = mug.keypoints
    assert (k0.index, k0.u, k0.v, k0.score, k0.visible) == (0, 320.5, 240.25, 0.875, True)
    assert (k0.source, k0.position_sigma, k1.source, k1.position_sigma) == ("measured", 0.0078125, "prior", 0.25)
    assert (k0.position.x, k0.position.y, k0.position.z) == (0.015625, -0.25, 0.75)
    assert (k1.index, k1.u, k1.v, k1.score, k1.visible) == (4294967295, -3.5, 1080.0, 0.0, False)
    assert (k1.position.x, k1.position.y, k1.position.z) == (-1e-3, 2.5e2, 1e-9)  # float64
    assert (empty.category, empty.instance_id, empty.scale, empty.score) == ("bottle", 7, 1.0, 0.25)
    assert list(empty.keypoints) == []


def _run_peer(env, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", PEER, *args],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )


def _read_json_line(proc: subprocess.Popen, timeout: float) -> dict:
    """Next JSON line of a peer's stdout (bounded wait)."""
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            if sel.select(timeout=max(0.0, end - time.monotonic())):
                line = proc.stdout.readline()
                if not line:
                    break
                return json.loads(line)
    finally:
        sel.close()
    proc.kill()
    _, err = proc.communicate(timeout=5)
    raise AssertionError(f"peer gave no output within {timeout:.0f} s (rc={proc.returncode}):\n{err}")


def _finish(proc: subprocess.Popen, timeout: float) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=5)
        raise AssertionError(f"peer did not finish within {timeout:.0f} s:\n{err}") from None
    return proc.returncode, out, err


def _stop(*procs: subprocess.Popen) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


def _unique_topic(stem: str) -> str:
    return f"/semcorr_test/{stem}_{uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------------------------------------
# 1. definitions and serialization (in process)
# ---------------------------------------------------------------------------------------------
def test_message_definitions(ros_in_process):
    msgs = ros_in_process
    assert msgs.Keypoint.get_fields_and_field_types() == {
        "name": "string", "index": "uint32", "position": "geometry_msgs/Point",
        "u": "float", "v": "float", "score": "float", "visible": "boolean", "source": "string",
        "position_sigma": "float",
    }
    assert msgs.SemanticObject.get_fields_and_field_types() == {
        "category": "string", "instance_id": "int32", "pose": "geometry_msgs/Pose",
        "scale": "float", "score": "float", "keypoints": "sequence<semcorr_msgs/Keypoint>",
    }
    assert msgs.SemanticObjectArray.get_fields_and_field_types() == {
        "header": "std_msgs/Header", "objects": "sequence<semcorr_msgs/SemanticObject>",
    }
    assert msgs.CategoryInfo.get_fields_and_field_types() == {
        "category": "string", "keypoint_names": "sequence<string>", "symmetry": "string",
    }


def test_serialization_round_trip(ros_in_process):
    from rclpy.serialization import deserialize_message, serialize_message

    msgs = ros_in_process
    arr = _sample_array(msgs)
    data = serialize_message(arr)
    assert isinstance(data, bytes) and len(data) > 100
    back = deserialize_message(data, msgs.SemanticObjectArray)
    _check_sample(back)
    assert back == arr

    info = msgs.CategoryInfo(
        category="mug",
        keypoint_names=["rim_center", "bottom_center", "handle_top", "handle_bottom",
                        "handle_outer", "rim_front"],
        symmetry="reflection",
    )
    info_back = deserialize_message(serialize_message(info), msgs.CategoryInfo)
    assert info_back == info
    assert list(info_back.keypoint_names)[2] == "handle_top"


# ---------------------------------------------------------------------------------------------
# 2./3. real DDS between OS processes
# ---------------------------------------------------------------------------------------------
def test_pubsub_between_processes(ros_in_process, domain_env):
    from rclpy.serialization import deserialize_message, serialize_message

    msgs = ros_in_process
    arr = _sample_array(msgs)
    payload = base64.b64encode(serialize_message(arr)).decode()
    topic = _unique_topic("keypoints")

    sub = _run_peer(domain_env, "sub-array", topic, "-", str(DISCOVERY_TIMEOUT_S))
    pub = None
    try:
        assert _read_json_line(sub, DISCOVERY_TIMEOUT_S) == {"ready": True}
        pub = _run_peer(domain_env, "pub-array", topic, payload, str(PROCESS_TIMEOUT_S))
        rc, out, err = _finish(sub, PROCESS_TIMEOUT_S)
        assert rc == 0, f"subscriber failed (rc={rc}): {out}\n{err}"
        result = json.loads(out.strip().splitlines()[-1])
        got = deserialize_message(base64.b64decode(result["data"]), msgs.SemanticObjectArray)
        _check_sample(got)
        assert got == arr
    finally:
        _stop(*(p for p in (sub, pub) if p is not None))


def test_latched_category_info_reaches_late_subscriber(ros_in_process, domain_env):
    from rclpy.serialization import deserialize_message, serialize_message

    msgs = ros_in_process
    info = msgs.CategoryInfo(
        category="chair",
        keypoint_names=["seat_front_left", "seat_front_right", "seat_back_left",
                        "seat_back_right", "leg_front_left", "leg_front_right", "leg_back_left",
                        "leg_back_right", "back_top_left", "back_top_right"],
        symmetry="reflection",
    )
    payload = base64.b64encode(serialize_message(info)).decode()
    topic = _unique_topic("category_info")

    pub = _run_peer(domain_env, "pub-latched", topic, payload, str(PROCESS_TIMEOUT_S))
    sub = None
    try:
        # The subscriber process is started only after both messages have been published.
        assert _read_json_line(pub, DISCOVERY_TIMEOUT_S) == {"published": 2}
        sub = _run_peer(domain_env, "sub-latched", topic, "-", str(DISCOVERY_TIMEOUT_S))
        rc, out, err = _finish(sub, PROCESS_TIMEOUT_S)
        assert rc == 0, f"late subscriber got nothing (rc={rc}): {out}\n{err}"
        lines = out.strip().splitlines()
        assert json.loads(lines[0]) == {"ready": True}
        received = [deserialize_message(base64.b64decode(d), msgs.CategoryInfo)
                    for d in json.loads(lines[-1])["data"]]
        # KEEP_LAST(1) + TRANSIENT_LOCAL: the late joiner gets exactly the latest message.
        assert received == [info], [r.category for r in received]
        assert pub.poll() is None, "publisher must still be alive to serve the latched message"
    finally:
        _stop(*(p for p in (pub, sub) if p is not None))
