"""Support for the perception-node tests (no tests here): the node process, a camera peer process
and an in-process listener, all on real DDS.

- :func:`start_node` runs the node the way a user does here, ``semcorr ros run --params
  launch/params/perception.yaml ...``, in its own process, from the working tree's
  ``semcorr_ros`` sources (put first on PYTHONPATH, so the tests never run a stale colcon copy).
- :class:`CameraPeer` is a separate process (this file run as a script) that publishes exactly
  the images and CameraInfo a test wrote to an ``.npz`` file, on command over stdin (JSON lines).
  It builds its sensor_msgs by hand, independently of ``semcorr_ros.conversions``, so a
  conversion bug cannot cancel itself out.
- :class:`Listener` subscribes in the pytest process (an rclpy Context of its own, in the test's
  ROS domain) to the node's outputs and ``/diagnostics``, and waits on them with bounded timeouts.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SOURCE_PKG = REPO / "semcorr_ros"  # the ament package dir; the Python package is SOURCE_PKG/semcorr_ros
PARAMS_YAML = REPO / "launch" / "params" / "perception.yaml"
LAUNCH_FILE = REPO / "launch" / "perception.launch.py"
NODE = "/semcorr_perception"
COLOR_FRAME = "camera_color_optical_frame"

STARTUP_TIMEOUT_S = 60.0  # torch + model + DDS discovery on a loaded 2-core machine
OUTPUT_TIMEOUT_S = 30.0  # one frame through the node


def stamp_ns(header) -> int:
    """A header's stamp in integer nanoseconds (the tests' own, not the library's conversion)."""
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def use_source_tree() -> None:
    """Import ``semcorr_ros`` from the working tree in this process too."""
    p = str(SOURCE_PKG)
    if p not in sys.path:
        sys.path.insert(0, p)
    mod = sys.modules.get("semcorr_ros")
    if mod is not None and not str(getattr(mod, "__file__", "")).startswith(p):
        for name in [n for n in sys.modules if n == "semcorr_ros" or n.startswith("semcorr_ros.")]:
            del sys.modules[name]


def module_domain_env(ros_env: dict, log_dir: Path, salt: int) -> dict:
    """Like conftest's ``domain_env`` for a module-scoped node session, in domains 101..200 (the
    per-test fixture uses 1..100), spread by pid so that concurrent pytest runs rarely meet."""
    env = dict(ros_env)
    env.update(ROS_DOMAIN_ID=str(101 + (os.getpid() * 7 + salt) % 100), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               ROS_LOG_DIR=str(log_dir), PYTHONUNBUFFERED="1")
    env.pop("ROS_STATIC_PEERS", None)
    return env


def node_env(domain_env: dict) -> dict:
    env = dict(domain_env)
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([str(SOURCE_PKG)] + rest)
    return env


# ---------------------------------------------------------------------------------------------
# the node process
# ---------------------------------------------------------------------------------------------
class NodeProcess:
    def __init__(self, proc: subprocess.Popen, log_path: Path) -> None:
        self.proc, self.log_path = proc, log_path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def signal_and_wait(self, sig: int, timeout_s: float) -> tuple[int, float]:
        """Send ``sig``; return (exit code, seconds it took). Kills and fails after ``timeout_s``."""
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(f"node did not exit within {timeout_s} s of {signal.Signals(sig).name}:\n"
                                 f"{self.log()[-4000:]}") from None
        return rc, time.monotonic() - t0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start_node(domain_env: dict, tmp_path: Path, *overrides: str, params_file: Optional[Path] = PARAMS_YAML,
               extra: tuple[str, ...] = ()) -> NodeProcess:
    """``semcorr ros run [--params FILE] -p name:=value ... [extra]`` in a new process; its stdout
    and stderr go to a log file (read with :meth:`NodeProcess.log`)."""
    cmd = [sys.executable, "-m", "semcorr_core.cli.main", "ros", "run"]
    if params_file is not None:
        cmd += ["--params", str(params_file)]
    else:
        cmd += ["--no-default-params"]
    for o in overrides:
        cmd += ["-p", o]
    cmd += list(extra)
    log_path = tmp_path / f"node_{time.monotonic_ns()}.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, env=node_env(domain_env), stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, cwd=str(REPO))
    log.close()
    return NodeProcess(proc, log_path)


def run_node_to_exit(domain_env: dict, *args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "semcorr_core.cli.main", "ros", "run", *args]
    return subprocess.run(cmd, env=node_env(domain_env), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout_s, cwd=str(REPO))


# ---------------------------------------------------------------------------------------------
# frames
# ---------------------------------------------------------------------------------------------
def stop_all(node: NodeProcess, *peers) -> None:
    """Teardown of a node test: close the test's peers (those started), then stop the node."""
    for peer in peers:
        if peer is not None:
            peer.close()
    node.stop()


def render_mug_frames(n: int, seed: int = 0, width: int = 640, height: int = 480) -> list[dict]:
    """``n`` synthetic mug frames (held-out instances, sensor noise, no distractors) with ground
    truth: color (H, W, 3) uint8 RGB, depth_mm (H, W) uint16, camera, keypoint names, keypoints_cam
    (K, 3), visible (K,), object mask (H, W)."""
    from semcorr_core.bench.embed3d import TEST_SEED_OFFSET
    from semcorr_core.data.render import DepthNoiseConfig, RaycastRenderer, SceneConfig, sample_scene
    from semcorr_core.data.rgbd import depth_to_millimetres
    from semcorr_core.data.shapes import generate_shapes

    shapes = generate_shapes("mug", max(n, 1), TEST_SEED_OFFSET + 2000 + seed)
    cfg = SceneConfig(width=width, height=height, objects_per_scene=(1, 1), distractors_per_scene=(0, 0),
                      elevation_deg=(20.0, 60.0))
    renderer = RaycastRenderer(cfg.camera())
    out = []
    for f in range(n):
        rng = np.random.default_rng([seed, 0x5E, f])
        fr = renderer.render(sample_scene([], rng, cfg, primary=shapes[f]), rng, DepthNoiseConfig(enabled=True))
        ann = fr.objects[0]
        out.append(dict(color=fr.color, depth_mm=depth_to_millimetres(fr.depth), camera=fr.camera,
                        names=list(ann.keypoint_names), keypoints_cam=np.asarray(ann.keypoints_cam),
                        visible=np.asarray(ann.keypoints_visible, bool),
                        mask=fr.instance_mask == ann.instance_index))
    return out


def write_frame(path: Path, *, color=None, color_encoding="rgb8", depth=None, depth_encoding="16UC1",
                camera=None, color_frame=COLOR_FRAME, depth_frame=COLOR_FRAME, info_frame=COLOR_FRAME,
                info_size: Optional[tuple[int, int]] = None, K: Optional[np.ndarray] = None,
                mask=None, mask_encoding="mono16") -> Path:
    """Write what the camera peer publishes. ``color`` / ``depth`` are sent as the given arrays
    with the given encoding (no conversion: a test decides what goes on the wire)."""
    d = dict(color_encoding=color_encoding, depth_encoding=depth_encoding, color_frame=color_frame,
             depth_frame=depth_frame, info_frame=info_frame)
    if color is not None:
        d["color"] = np.ascontiguousarray(color)
    if depth is not None:
        d["depth"] = np.ascontiguousarray(depth)
    if mask is not None:
        d["mask"], d["mask_encoding"] = np.ascontiguousarray(mask), mask_encoding
    if camera is not None:
        w, h = info_size or (camera.width, camera.height)
        d["K"] = np.asarray(camera.K if K is None else K, dtype=np.float64).reshape(-1)
        d["info_wh"] = np.array([w, h])
    np.savez(path, **{k: (np.asarray(v) if not isinstance(v, np.ndarray) else v) for k, v in d.items()})
    return path


# ---------------------------------------------------------------------------------------------
# camera peer (this file as a script)
# ---------------------------------------------------------------------------------------------
# Measured here: Fast DDS on loopback loses roughly one in ten 600 KB samples while the CPUs are busy,
# and a RELIABLE writer resends a lost one only after its next heartbeat, 3 s by default; the
# frame then reaches the node 3 s late (and is overtaken by the next one). That is the camera
# driver's transport, not the node, so the stand-in camera's writers heartbeat every 0.1 s (the
# profile `semcorr bag replay` uses, semcorr_ros.bag_tools; the node and the listener keep Fast
# DDS defaults).


class CameraPeer:
    """The peer process: RELIABLE publishers on the node's input topics (relative names; the peer
    runs at the root namespace like the node)."""

    def __init__(self, domain_env: dict, expect_subscribers: bool = True, mask_topic: Optional[str] = None,
                 depth_topic: str = "aligned_depth_to_color/image_raw") -> None:
        """``mask_topic``: also publish instance masks there (e.g. ``mask``, or ``/ns/mask`` for a
        node in namespace ``/ns``); ``depth_topic``: where the depth goes."""
        use_source_tree()
        from semcorr_ros.bag_tools import use_fast_heartbeat

        env = dict(domain_env)
        env.pop("FASTDDS_DEFAULT_PROFILES_FILE", None)
        use_fast_heartbeat(env)
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "camera",
             json.dumps(dict(expect_subscribers=expect_subscribers, mask_topic=mask_topic, depth_topic=depth_topic))],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.proc.stdout, selectors.EVENT_READ)
        reply = self._read(STARTUP_TIMEOUT_S)
        assert reply.get("ready"), f"camera peer not ready: {reply}"

    def _read(self, timeout_s: float) -> dict:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self._sel.select(timeout=max(0.0, end - time.monotonic())):
                line = self.proc.stdout.readline()
                if not line:
                    break
                return json.loads(line)
        self.proc.kill()
        _, err = self.proc.communicate(timeout=10)
        raise AssertionError(f"camera peer gave no answer within {timeout_s:.0f} s (rc={self.proc.returncode}):\n{err}")

    def call(self, op: str, timeout_s: float = 30.0, **kw) -> dict:
        self.proc.stdin.write(json.dumps(dict(op=op, **kw)) + "\n")
        self.proc.stdin.flush()
        reply = self._read(timeout_s)
        assert reply.get("ok"), f"camera peer failed {op}: {reply}"
        return reply

    def publish(self, frame_file: Path, parts=("info", "depth", "color"), stamp_ns: Optional[int] = None) -> dict:
        """Publish the file's messages, same stamp (now unless given); returns {"stamp_ns", "t_wall"}."""
        return self.call("publish", file=str(frame_file), parts=list(parts), stamp_ns=stamp_ns)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps(dict(op="quit")) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (BrokenPipeError, subprocess.TimeoutExpired, OSError):
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._sel.close()


def _peer_main(expect_subscribers: bool, mask_topic: Optional[str], depth_topic: str) -> int:  # pragma: no cover
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image

    rclpy.init()
    node = rclpy.create_node("semcorr_test_camera")
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    pubs = {"color": node.create_publisher(Image, "color/image_raw", qos),
            "depth": node.create_publisher(Image, depth_topic, qos),
            "info": node.create_publisher(CameraInfo, "color/camera_info", qos)}
    if mask_topic:
        pubs["mask"] = node.create_publisher(Image, mask_topic, qos)
    extra = []

    def say(**kw):
        sys.stdout.write(json.dumps(kw) + "\n")
        sys.stdout.flush()

    if expect_subscribers:
        end = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < end and not all(p.get_subscription_count() for p in pubs.values()):
            rclpy.spin_once(node, timeout_sec=0.05)
        if not all(p.get_subscription_count() for p in pubs.values()):
            say(ready=False, error="the node's subscriptions were not discovered")
            return 3
    say(ready=True)

    def image(arr, encoding, stamp, frame):
        a = np.ascontiguousarray(arr)
        m = Image()
        m.header.stamp.sec, m.header.stamp.nanosec = divmod(int(stamp), 1_000_000_000)
        m.header.frame_id = str(frame)
        m.height, m.width = int(a.shape[0]), int(a.shape[1])
        m.encoding = str(encoding)
        m.is_bigendian = 0
        m.step = int(a.strides[0])
        m.data = a.tobytes()
        return m

    def info(d, stamp):
        m = CameraInfo()
        m.header.stamp.sec, m.header.stamp.nanosec = divmod(int(stamp), 1_000_000_000)
        m.header.frame_id = str(d["info_frame"])
        m.width, m.height = (int(x) for x in d["info_wh"])
        m.distortion_model = "plumb_bob"
        m.d = [0.0] * 5
        m.k = [float(x) for x in d["K"]]
        m.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        k = m.k
        m.p = [k[0], 0.0, k[2], 0.0, 0.0, k[4], k[5], 0.0, 0.0, 0.0, 1.0, 0.0]
        return m

    def send(d, parts, stamp):
        if "info" in parts:
            pubs["info"].publish(info(d, stamp))
        if "mask" in parts:
            pubs["mask"].publish(image(d["mask"], d["mask_encoding"], stamp, d["color_frame"]))
        if "depth" in parts:
            pubs["depth"].publish(image(d["depth"], d["depth_encoding"], stamp, d["depth_frame"]))
        if "color" in parts:
            pubs["color"].publish(image(d["color"], d["color_encoding"], stamp, d["color_frame"]))

    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        try:
            if op == "quit":
                say(ok=True, op=op)
                break
            if op == "publish":
                d = dict(np.load(cmd["file"]))
                stamp = cmd.get("stamp_ns") or time.time_ns()
                t = time.time()
                send(d, cmd["parts"], stamp)
                say(ok=True, op=op, stamp_ns=stamp, t_wall=t)
            elif op == "burst":  # the same frame n times, period_s apart, stamps now
                d = dict(np.load(cmd["file"]))
                stamps = []
                for _i in range(int(cmd["n"])):
                    stamp = time.time_ns()
                    send(d, ("info", "depth", "color"), stamp)
                    stamps.append(stamp)
                    time.sleep(float(cmd["period_s"]))
                say(ok=True, op=op, stamps_ns=stamps)
            elif op == "best_effort_color":  # a second colour publisher the node cannot receive
                be = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
                extra.append(node.create_publisher(Image, "color/image_raw", be))
                say(ok=True, op=op)
            elif op == "drop_best_effort":
                while extra:
                    node.destroy_publisher(extra.pop())
                say(ok=True, op=op)
            else:
                say(ok=False, op=op, error="unknown op")
        except Exception as e:  # noqa: BLE001 - report to the test
            say(ok=False, op=op, error=f"{type(e).__name__}: {e}")
        rclpy.spin_once(node, timeout_sec=0.0)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


# ---------------------------------------------------------------------------------------------
# in-process listener
# ---------------------------------------------------------------------------------------------
class Listener:
    """Subscriptions to the node's outputs in this process (own Context, the test's domain)."""

    def __init__(self, domain_env: dict, images: bool = False, node_ns: str = NODE) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from semcorr_msgs.msg import CategoryInfo, SemanticObjectArray

        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx, domain_id=int(domain_env["ROS_DOMAIN_ID"]))
        self.node = rclpy.create_node(f"semcorr_test_listener_{os.getpid()}", context=self.ctx)
        self.cv = threading.Condition()
        self.keypoints: list[tuple[float, object]] = []  # (wall time received, msg)
        self.category_info: list = []
        self.diagnostics: list[tuple[float, object]] = []  # (wall time, DiagnosticStatus of the node)
        self.images: dict[str, list[tuple[float, object]]] = {}
        rel = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.node.create_subscription(SemanticObjectArray, f"{node_ns}/keypoints",
                                      lambda m: self._add(self.keypoints, m), rel)
        self.node.create_subscription(CategoryInfo, f"{node_ns}/category_info",
                                      lambda m: self._add(self.category_info, m, stamp=False), latched)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, rel)
        if images:
            from sensor_msgs.msg import Image, PointCloud2
            from visualization_msgs.msg import MarkerArray

            for name, typ in (("canonical_coords", Image), ("confidence", Image), ("debug_image", Image),
                              ("correspondence_cloud", PointCloud2), ("markers", MarkerArray)):
                self.images[name] = []
                self.node.create_subscription(typ, f"{node_ns}/{name}",
                                              lambda m, n=name: self._add(self.images[n], m), rel)
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set() and self.ctx.ok():
            self.executor.spin_once(timeout_sec=0.05)

    def _add(self, store: list, msg, stamp: bool = True) -> None:
        with self.cv:
            store.append((time.time(), msg) if stamp else msg)
            self.cv.notify_all()

    def _on_diag(self, arr) -> None:
        for st in arr.status:
            if st.name.startswith("semcorr_ros:"):
                self._add(self.diagnostics, st)

    def wait_for(self, pred: Callable[[], object], timeout_s: float, what: str, log: Callable[[], str] = str):
        """Wait until ``pred()`` (called under the lock) is truthy; return its value."""
        end = time.monotonic() + timeout_s
        with self.cv:
            while True:
                v = pred()
                if v:
                    return v
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}; last diagnostics: "
                                         f"{self.last_diagnostic_text()}\n{log()[-4000:]}")
                self.cv.wait(min(left, 0.2))

    def keypoints_for(self, stamp: int) -> list:
        return [m for _, m in self.keypoints if stamp_ns(m.header) == stamp]

    def last_diagnostic_text(self) -> str:
        if not self.diagnostics:
            return "(none)"
        st = self.diagnostics[-1][1]
        return f"level {st.level[0]} {st.message!r}"

    def diag_since(self, t_wall: float) -> list:
        return [st for t, st in self.diagnostics if t >= t_wall]

    def call_service(self, srv_type, name: str, request, timeout_s: float = 20.0):
        cli = self.node.create_client(srv_type, name)
        try:
            if not cli.wait_for_service(timeout_sec=timeout_s):
                raise AssertionError(f"service {name} not available within {timeout_s} s")
            fut = cli.call_async(request)
            end = time.monotonic() + timeout_s
            while not fut.done() and time.monotonic() < end:
                time.sleep(0.02)
            if not fut.done():
                raise AssertionError(f"service {name} did not answer within {timeout_s} s")
            return fut.result()
        finally:
            self.node.destroy_client(cli)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.executor.shutdown(timeout_sec=2)
        self.node.destroy_node()
        self.ctx.try_shutdown()


def diag_values(status) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def level(status) -> int:
    return status.level[0] if isinstance(status.level, (bytes, bytearray)) else int(status.level)


if __name__ == "__main__":  # the camera peer
    if len(sys.argv) == 3 and sys.argv[1] == "camera":
        sys.exit(_peer_main(**json.loads(sys.argv[2])))
    sys.exit(f"usage: {sys.argv[0]} camera JSON (CameraPeer's arguments)")
