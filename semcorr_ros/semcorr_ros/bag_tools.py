"""Bags into the live ROS graph: ``semcorr bag replay`` and ``semcorr bag eval --live``.

Frames come from :func:`semcorr_core.bags.read.read_bag_frames` (ROS 2 or ROS 1 bags): per frame
the paired colour, depth and camera_info, published with the colour image's stamp on all three
(so the node's approximate-time sync pairs them exactly as the offline reader did) - camera_info,
then depth, then colour.

``live_eval`` starts the perception node (``semcorr ros run``, namespace ``/camera`` so that its
relative inputs are the bag's RealSense topic names), replays the bag into it at ``rate_hz``,
listens to ``~/keypoints`` (and ``~/debug_image``: an annotated PNG per frame when ``out_dir``),
and reports end-to-end latency (publish of a frame's colour image -> its ``~/keypoints`` message,
same host clock), throughput, frames lost, the node's exit code, and the keypoint figures through
:func:`semcorr_core.bags.evaluate.score_bag_frames`, the same scoring as ``bag eval`` offline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from semcorr_core.atomic_file import atomic_path
from semcorr_core.bags.read import BagFrames, read_bag_frames
from semcorr_core.bags.topics import BagTopics
from semcorr_core.data.sensor_msgs import stamp_to_ns
from semcorr_core.errors import BagError, InputError

__all__ = ["FAST_HEARTBEAT_PROFILE", "use_fast_heartbeat", "BagPublisher", "replay", "live_eval"]

# Fast DDS on loopback loses about one in ten 600 KB samples while the CPUs are busy, and a RELIABLE
# writer resends a lost one only at its next heartbeat (3 s by default): the frame would reach the
# node seconds late. A camera driver tunes its transport; the replayer does the same for its writers.
FAST_HEARTBEAT_PROFILE = """<?xml version="1.0" encoding="UTF-8" ?>
<dds xmlns="http://www.eprosima.com">
  <profiles>
    <data_writer profile_name="semcorr_fast_heartbeat_writer" is_default_profile="true">
      <times>
        <heartbeat_period><sec>0</sec><nanosec>100000000</nanosec></heartbeat_period>
      </times>
    </data_writer>
  </profiles>
</dds>
"""


def use_fast_heartbeat(env=None) -> Optional[str]:
    """Point ``env`` (default ``os.environ``) at :data:`FAST_HEARTBEAT_PROFILE` unless it names a
    Fast DDS profile already; call before ``rclpy.init``. Returns the profile path in use."""
    env = os.environ if env is None else env
    if env.get("FASTDDS_DEFAULT_PROFILES_FILE"):
        return env["FASTDDS_DEFAULT_PROFILES_FILE"]
    path = Path(tempfile.gettempdir()) / f"semcorr_fast_heartbeat_{os.getuid()}.xml"
    if not path.is_file() or path.read_text() != FAST_HEARTBEAT_PROFILE:
        with atomic_path(path) as tmp:
            tmp.write_text(FAST_HEARTBEAT_PROFILE)
    env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(path)
    return str(path)


class BagPublisher:
    """RELIABLE publishers for a bag's colour, depth and camera_info on ``node`` (topic names
    ``topics``: the bag's own by default)."""

    def __init__(self, node, topics: BagTopics, depth: int = 10) -> None:
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, Image

        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE)
        self._types = {"color": Image, "depth": Image, "info": CameraInfo}
        self.pubs = {"info": node.create_publisher(CameraInfo, topics.camera_info, qos),
                     "depth": node.create_publisher(Image, topics.depth, qos),
                     "color": node.create_publisher(Image, topics.color, qos)}

    def subscribed(self) -> bool:
        return all(p.get_subscription_count() > 0 for p in self.pubs.values())

    def publish(self, frame) -> float:
        """Publish one :class:`~semcorr_core.bags.read.BagFrame` (needs ``raw``); returns the
        monotonic time just before its colour image went out."""
        from rclpy.serialization import deserialize_message

        sec, nanosec = divmod(int(frame.stamp_ns), 1_000_000_000)
        msgs = {}
        for role in ("info", "depth", "color"):
            msg = deserialize_message(frame.raw[role], self._types[role])
            msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
            msgs[role] = msg
        self.pubs["info"].publish(msgs["info"])
        self.pubs["depth"].publish(msgs["depth"])
        t = time.monotonic()
        self.pubs["color"].publish(msgs["color"])
        return t


def _load(bag: str | Path, topics: BagTopics, slop_ns: int, require_truth: bool) -> BagFrames:
    frames = read_bag_frames(bag, topics, slop_ns=slop_ns, require_truth=require_truth, keep_raw=True)
    if not frames.frames:
        raise BagError(f"bag {bag} has no colour/depth/camera_info frames on {topics.color}, {topics.depth}, "
                       f"{topics.camera_info} (unpaired colour images: {frames.unpaired})")
    return frames


def _schedule(frames: BagFrames, rate: Optional[float], hz: Optional[float]) -> list[float]:
    """Send offsets (s from the first frame): recorded spacing / ``rate``, or every 1/``hz`` s."""
    if hz is not None:
        if not hz > 0:
            raise InputError(f"hz must be > 0, got {hz}")
        return [i / hz for i in range(len(frames.frames))]
    if not (rate is not None and rate > 0):
        raise InputError(f"rate must be > 0, got {rate}")
    t0 = frames.frames[0].stamp_ns
    return [(f.stamp_ns - t0) / 1e9 / rate for f in frames.frames]


def _wait(node, pred, timeout_s: float) -> bool:
    import rclpy

    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred():
            return True
        rclpy.spin_once(node, timeout_sec=0.05)
    return bool(pred())


def _play(node, pub: "BagPublisher", frames: BagFrames, offsets: Sequence[float]) -> dict[int, float]:
    """Publish ``frames`` ``offsets`` seconds from now, spinning ``node`` in between; returns each
    frame's stamp -> the monotonic time its colour image went out."""
    import rclpy

    sent, start = {}, time.monotonic()
    for frame, off in zip(frames.frames, offsets):
        while time.monotonic() < start + off:
            rclpy.spin_once(node, timeout_sec=max(0.0, min(0.01, start + off - time.monotonic())))
        sent[frame.stamp_ns] = pub.publish(frame)
    return sent


def replay(bag: str | Path, *, topics: BagTopics = BagTopics(), out_topics: Optional[BagTopics] = None,
           rate: float = 1.0, hz: Optional[float] = None, loops: int = 1, slop_ns: int = 50_000_000,
           wait_for_subscribers_s: float = 10.0, ros_args: Sequence[str] = ()) -> dict:
    """Publish the bag's frames into the graph (module docstring); returns a summary dict."""
    import rclpy

    frames = _load(bag, topics, slop_ns, require_truth=False)
    offsets = _schedule(frames, rate, hz)
    use_fast_heartbeat()
    rclpy.init(args=["semcorr_bag_replay", *ros_args])
    node = rclpy.create_node("semcorr_bag_replay")
    try:
        pub = BagPublisher(node, out_topics or topics)
        subscribed = _wait(node, pub.subscribed, wait_for_subscribers_s)
        sent = 0
        for _ in range(max(1, int(loops))):
            sent += len(_play(node, pub, frames, offsets))
        _wait(node, lambda: False, 0.5)  # let the last samples go out before the writers close
        return {"bag": str(bag), "frames_sent": sent, "subscribers_seen": subscribed,
                "topics": {k: p.topic_name for k, p in pub.pubs.items()}}
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def _estimates(msg, keypoint_names: Sequence[str]):
    from semcorr_core.bench.pipeline import ObjectEstimate
    from semcorr_ros.conversions import matrix_from_quaternion

    out = []
    index = {n: i for i, n in enumerate(keypoint_names)}
    for obj in msg.objects:
        xyz = np.full((len(keypoint_names), 3), np.nan)
        uv = np.full((len(keypoint_names), 2), np.nan)
        sources = [""] * len(keypoint_names)
        sigmas = np.full(len(keypoint_names), np.nan)
        for k in obj.keypoints:
            i = index.get(k.name)
            if i is not None:
                xyz[i] = (k.position.x, k.position.y, k.position.z)
                uv[i] = (k.u, k.v)
                sources[i], sigmas[i] = k.source, k.position_sigma
        q = obj.pose.orientation
        R = matrix_from_quaternion(q.x, q.y, q.z, q.w)
        t = np.array([obj.pose.position.x, obj.pose.position.y, obj.pose.position.z])
        out.append(ObjectEstimate(xyz, uv, R, t, float(obj.scale), tuple(sources), sigmas))
    return out


def _stop_node(proc: subprocess.Popen, timeout_s: float = 30.0) -> int:
    """SIGINT (the node's clean shutdown), then SIGKILL after ``timeout_s``; the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(timeout=10)
    return proc.returncode


def _node_command(category: Optional[str], params_file: Optional[str], extra_params: Sequence[str],
                  namespace: str) -> list[str]:
    cmd = [sys.executable, "-m", "semcorr_core.cli.main", "ros", "run", "--namespace", namespace]
    if params_file:
        cmd += ["--params", str(params_file)]
    # RELIABLE inputs: BEST_EFFORT loses most large images on loopback (MISSION §8)
    params = ["qos_reliability:=reliable", *([f"category:={category}"] if category else []), *extra_params]
    for p in params:
        cmd += ["-p", p]
    return cmd


def live_eval(bag: str | Path, *, category: Optional[str] = None, topics: BagTopics = BagTopics(),
              hz: float = 2.0, out_dir: Optional[str | Path] = None, start_node: bool = True,
              namespace: str = "/camera", params_file: Optional[str] = None, node_params: Sequence[str] = (),
              startup_timeout_s: float = 180.0, settle_s: float = 10.0, slop_ns: int = 50_000_000,
              node_log: Optional[str | Path] = None) -> dict:
    """Replay ``bag`` through the node and report (module docstring). ``hz``: frames per second
    sent (below the node's throughput, no frame should be lost). ``start_node=False``: measure a
    node already running in ``namespace``."""
    import rclpy
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    from semcorr_core.bags.evaluate import score_bag_frames
    from semcorr_core.bench.report import new_report
    from semcorr_msgs.msg import CategoryInfo, SemanticObjectArray
    from sensor_msgs.msg import Image

    frames = _load(bag, topics, slop_ns, require_truth=False)
    has_truth = all(f.truth is not None for f in frames.frames)
    offsets = _schedule(frames, None, hz)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        (out / "frames").mkdir(parents=True, exist_ok=True)
    ns = "/" + namespace.strip("/")
    node_topic = f"{ns.rstrip('/')}/semcorr_perception"
    use_fast_heartbeat()  # before the copy: the node's writers too (a lost ~/debug_image sample comes again in 0.1 s)
    env = dict(os.environ)
    proc, log_file, log_path = None, None, None
    received: dict[int, tuple[float, object]] = {}
    images: dict[int, object] = {}
    info: list = []
    sent_at: dict[int, float] = {}
    exit_code = None
    lock = threading.Lock()
    node = None
    try:
        if start_node:
            if node_log:
                log_path = Path(node_log)
            elif out is not None:
                log_path = out / "node.log"
            else:
                fd, name = tempfile.mkstemp(prefix="semcorr_node_", suffix=".log")
                os.close(fd)
                log_path = Path(name)
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_file = open(log_path, "w")
            # a session of its own: the node survives nothing of ours but a SIGINT we send it
            proc = subprocess.Popen(_node_command(category, params_file, node_params, ns), env=env,
                                    stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        rclpy.init(args=["semcorr_bag_live_eval"])
        node = rclpy.create_node("semcorr_bag_live_eval")

        def on_keypoints(msg):
            t = time.monotonic()
            stamp = stamp_to_ns(msg.header.stamp)
            with lock:
                received.setdefault(stamp, (t, msg))

        def on_image(msg):
            stamp = stamp_to_ns(msg.header.stamp)
            with lock:
                images.setdefault(stamp, msg)

        reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        node.create_subscription(SemanticObjectArray, f"{node_topic}/keypoints", on_keypoints, reliable)
        node.create_subscription(CategoryInfo, f"{node_topic}/category_info", info.append, latched)
        if out is not None:
            node.create_subscription(Image, f"{node_topic}/debug_image", on_image, reliable)
        pub = BagPublisher(node, BagTopics.node_inputs(ns))

        def ready():
            if proc is not None and proc.poll() is not None:
                raise BagError(f"the perception node exited with code {proc.returncode} before it was ready; "
                               f"its log: {log_path}")
            return bool(info) and pub.subscribed()

        if not _wait(node, ready, startup_timeout_s):
            raise BagError(f"the perception node under {node_topic} did not come up within {startup_timeout_s:.0f} s "
                           f"(no ~/category_info, or it does not subscribe the camera topics); node log: {log_path}")
        keypoint_names = tuple(info[0].keypoint_names)
        sent_at.update(_play(node, pub, frames, offsets))
        _wait(node, lambda: len(received) >= len(frames.frames), settle_s)
        if out is not None:
            _wait(node, lambda: len(images) >= len(received), 2.0)
    finally:
        try:
            if node is not None:
                node.destroy_node()
            rclpy.try_shutdown()
        finally:
            if proc is not None:
                exit_code = _stop_node(proc)
            if log_file is not None:
                log_file.close()

    stamps = [f.stamp_ns for f in frames.frames]
    lat = np.array([(received[s][0] - sent_at[s]) * 1e3 for s in stamps if s in received and s in sent_at])
    got = [s for s in stamps if s in received]
    span = (max(received[s][0] for s in got) - min(sent_at[s] for s in got)) if got else 0.0
    figures = {}
    if has_truth:
        figures = score_bag_frames(info[0].category, keypoint_names, [f.truth for f in frames.frames],
                                   [(_estimates(received[s][1], keypoint_names) if s in received else None)
                                    for s in stamps])
    if out is not None:
        from PIL import Image as PILImage
        from semcorr_core.data.sensor_msgs import color_from_image

        for i, s in enumerate(stamps):
            if s in images:
                PILImage.fromarray(color_from_image(images[s])).save(out / "frames" / f"frame_{i:04d}.png")
    objects = [len(received[s][1].objects) for s in got]
    return new_report(
        "bag_eval", bag=str(bag), mode="live", category=info[0].category if info else category,
        frames=len(stamps), frames_sent=len(sent_at), frames_received=len(got), frames_lost=len(stamps) - len(got),
        send_rate_hz=hz, node_exit_code=exit_code,
        latency_ms={"p50": float(np.percentile(lat, 50)) if len(lat) else None,
                    "p95": float(np.percentile(lat, 95)) if len(lat) else None,
                    "max": float(lat.max()) if len(lat) else None},
        throughput_hz=(len(got) / span if span > 0 else None),
        objects_per_frame={"min": min(objects) if objects else None, "max": max(objects) if objects else None},
        annotated_frames=(str(out / "frames") if out is not None else None),
        node_log=(str(log_path) if log_path is not None else None),
        **figures)
