"""``perception_node``: RGB-D topics in, semcorr keypoints, dense correspondences and diagnostics out.

Threads. Subscription callbacks (one mutually exclusive callback group) only queue messages into
the approximate-time sync (:mod:`semcorr_ros.sync`); a completed frame goes into a one-slot
*latest-frame buffer*. One worker thread takes frames from that slot and runs the detector, so a
model slower than the camera *drops* frames (the slot is overwritten and the drop counted) and
always works on the newest one instead of falling behind a queue. A timer in its own callback
group checks the inputs (stalls, QoS, sync) and publishes ``/diagnostics`` at 1 Hz; the
MultiThreadedExecutor keeps it and the subscriptions running while the worker is busy.

Bad input (MISSION §7) never ends the node: a rejected frame (wrong encoding, no camera_info,
size or frame-id mismatch, no valid depth, ...) is reported as an ERROR issue naming the cause,
with a throttled warning in the log, and the next good frame is processed as usual (see
:mod:`semcorr_ros.diagnostics`). Parameters are validated at start (:mod:`semcorr_ros.params`);
a bad one ends the node with exit code 2 and a message naming it. SIGINT / SIGTERM: rclpy's
signal handlers shut the context down, the executor returns, the worker is joined, exit code 0.
"""

from __future__ import annotations

import collections
import dataclasses
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Optional

import rclpy
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.exceptions import InvalidParameterTypeException, ParameterException
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from semcorr_ros import conversions as conv
from semcorr_ros.diagnostics import ERROR, OK, WARN, IssueBoard, RateMeter, RollingMedian, build_status
from semcorr_ros.params import NODE_NAME, PARAMETERS, RUNTIME_MUTABLE, ParameterError, check_value
from semcorr_ros.spin import spin_until_shutdown
from semcorr_ros.sync import ApproximateTimeSync

__all__ = ["PerceptionNode", "main"]

COLOR_TOPIC = "color/image_raw"
DEPTH_TOPIC = "aligned_depth_to_color/image_raw"
INFO_TOPIC = "color/camera_info"
MASK_TOPIC = "mask"
SYNC_QUEUE = 10  # per stream; at 30 Hz a third of a second
QOS_RELIABILITY_HINT = ("a publisher offers best_effort but this node subscribes reliable, so nothing from it is "
                        "received; set qos_reliability:=best_effort (matches every publisher)")
INFO_HISTORY = 30  # CameraInfo messages kept to find the one stamped like a frame
# How long a frame waits for its own camera_info (only while the driver stamps them like its images).
# It is paid only when that info never comes; a busy host (or DDS) delivers it 100 ms+ after the images,
# and a frame that gave up early would be processed with the previous frame's intrinsics.
INFO_WAIT_S = 0.5
STAGES = ("segment", "embed", "align", "keypoints", "total")
_PARAM_TYPES = {bool: "bool", int: "integer", float: "double", str: "string"}


class FrameRejected(Exception):
    """A frame cannot be processed; ``cause`` is a short label, ``str()`` says what to fix."""

    def __init__(self, cause: str, message: str) -> None:
        super().__init__(message)
        self.cause = cause


_CAUSES = (  # semcorr_core error class name -> cause label shown in diagnostics
    ("ImageEncodingError", "encoding"), ("DepthEncodingError", "encoding"),
    ("ImageSizeMismatchError", "size mismatch"), ("InvalidDepthError", "invalid depth"),
    ("DepthScaleError", "depth scale"), ("IntrinsicsError", "camera_info"), ("EmptyMaskError", "mask"),
)


def _cause_of(err: Exception) -> str:
    names = {c.__name__ for c in type(err).__mro__}
    for cls, cause in _CAUSES:
        if cls in names:
            return cause
    return "bad input"


def _with_mask_id(obj, mask):
    """The object with the instance id its pixels carry in the input mask (the detector numbers the
    instances it found 1..N; a planner that supplies the mask wants its own ids back)."""
    import numpy as np

    ids = np.unique(mask[obj.mask])
    return dataclasses.replace(obj, instance_id=int(ids[0])) if len(ids) == 1 and ids[0] > 0 else obj


@dataclass
class FrameSet:
    color: Any
    depth: Any
    mask: Any
    completed_s: float  # time.monotonic() when the sync completed it
    info: Any = None  # its CameraInfo, found by the worker (PerceptionNode._info_for); None: none came


class PerceptionNode(Node):
    """See the module docstring. Construct, then :meth:`load_model`, then :meth:`start`."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.cfg = self._declare_and_validate()
        self.detector = None
        self._tracker = None
        self._started_s = time.monotonic()
        self._stopping = threading.Event()
        self._cv = threading.Condition()
        self._slot: Optional[FrameSet] = None
        self._busy = False
        self._sync_lock = threading.Lock()
        self._info_cv = threading.Condition()
        self._infos: collections.deque = collections.deque(maxlen=INFO_HISTORY)  # (stamp ns, CameraInfo)
        self._info_stamped: Optional[bool] = None  # does camera_info carry the images' stamps?
        self.counts = dict(synced=0, processed=0, dropped=0, rejected=0, dds_lost=0)
        self._last_match_s: Optional[float] = None
        self._last_objects = 0
        self._out_frame = ""
        self._last_diag_s = 0.0
        self._internal_logged = False
        self.issues = IssueBoard(self._log_issue, throttle_s=5.0)
        self.rates = {k: RateMeter() for k in ("color", "depth", "camera_info", "mask", "output")}
        self.latency = {k: RollingMedian() for k in (*STAGES, "convert", "publish", "pipeline", "stamp_age")}

    # ------------------------------------------------------------------------------------------
    # parameters
    # ------------------------------------------------------------------------------------------
    def _declare_and_validate(self) -> dict:
        cfg = {}
        for p in PARAMETERS:
            desc = ParameterDescriptor(description=p.description, read_only=not p.runtime_mutable)
            try:
                value = self.declare_parameter(p.name, p.default, desc).value
            except InvalidParameterTypeException as e:
                want = _PARAM_TYPES[type(p.default)]
                hint = " (write a double with a decimal point, e.g. 1.0)" if want == "double" else ""
                raise ParameterError(p.name, f"must be of type {want}{hint}: {e}") from None
            except ParameterException as e:
                raise ParameterError(p.name, str(e)) from None
            check_value(p.name, value)
            cfg[p.name] = value
        self.add_on_set_parameters_callback(self._on_set_parameters)
        return cfg

    def _on_set_parameters(self, params) -> SetParametersResult:
        updates = {}
        for prm in params:
            if prm.name not in self.cfg:
                continue  # use_sim_time and other rclpy parameters
            if prm.name not in RUNTIME_MUTABLE:
                return SetParametersResult(successful=False, reason=f"'{prm.name}' is fixed at start: restart the node")
            try:
                check_value(prm.name, prm.value)
            except ParameterError as e:
                return SetParametersResult(successful=False, reason=str(e))
            updates[prm.name] = prm.value
        self.cfg.update(updates)
        return SetParametersResult(successful=True)

    def load_model(self) -> None:
        """Load the detector; raise :class:`ParameterError` naming the parameter at fault."""
        import torch

        from semcorr_core.data.categories import get_category, parse_category_list
        from semcorr_core.errors import BackendError, SemcorrError, UnknownCategoryError
        from semcorr_core.pipeline import Detector, DetectorConfig, MultiCategoryDetector, multi_category_descriptors

        device = self.cfg["device"]
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ParameterError("device", f"{device!r} requested but CUDA is not available here "
                                           f"(torch {torch.__version__}); use 'cpu'")
        try:
            categories = parse_category_list(self.cfg["category"])
        except SemcorrError as e:
            raise ParameterError("category", str(e)) from None
        bundles = [b.strip() or None for b in self.cfg["model_bundle"].split(",")] if self.cfg["model_bundle"] else []
        if not bundles:
            bundles = [None] * len(categories)
        if len(bundles) != len(categories):
            raise ParameterError("model_bundle", f"{len(bundles)} bundle path(s) for {len(categories)} categories "
                                                 f"({', '.join(categories)}): give one per category, comma-separated, "
                                                 "or '' for the shipped ones")
        models2d = [b.strip() or None for b in self.cfg["dense2d_model"].split(",")] if self.cfg["dense2d_model"] else []
        if not models2d:
            models2d = [None] * len(categories)
        if len(models2d) != len(categories):
            raise ParameterError("dense2d_model", f"{len(models2d)} path(s) for {len(categories)} categories: give one "
                                                  "per category, comma-separated, or '' for the shipped ones")
        config = DetectorConfig(descriptors=multi_category_descriptors(len(categories), self.cfg["descriptors"]))
        detectors = []
        for category, bundle, model2d in zip(categories, bundles, models2d):
            try:
                detectors.append(Detector.for_category(category, bundle, dense2d_path=model2d, device=device,
                                                       backend=self.cfg["backend"], precision=self.cfg["precision"],
                                                       config=config))
                self.get_logger().info(f"{category}: matching with {detectors[-1].descriptors} descriptors")
            except UnknownCategoryError as e:
                raise ParameterError("category", str(e)) from None
            except BackendError as e:
                raise ParameterError("backend", str(e)) from None
            except (SemcorrError, OSError, RuntimeError) as e:
                if "2D descriptor" in str(e):
                    raise ParameterError("dense2d_model", f"cannot use the 2D descriptor model of {category}: {e}") from None
                what = bundle or f"the shipped default bundle of {category}"
                raise ParameterError("model_bundle", f"cannot load {what}: {e}") from None
        self.detector = MultiCategoryDetector(detectors)
        self.categories = self.detector.categories
        self.category = ",".join(self.categories)
        if self.cfg["tracking"]:
            from semcorr_core.keypoints import KeypointTracker

            self._tracker = KeypointTracker(alpha=self.cfg["tracking_alpha"])
        self.keypoint_names = {d.category: list(d.keypoint_names) for d in detectors}
        self.symmetry = {d.category: get_category(d.category).symmetry.kind for d in detectors}
        self._confidence = {}
        try:
            from semcorr_ros.correspondence import PrototypeConfidence

            for d in detectors:
                self._confidence[d.category] = PrototypeConfidence(d.bundle.prototype.dense_points.cpu().numpy())
        except Exception as e:  # noqa: BLE001 - an optional refinement of the confidence output
            self._confidence = {}
            self.get_logger().warning(f"per-pixel confidence falls back to the object score: {e}")

    # ------------------------------------------------------------------------------------------
    # graph
    # ------------------------------------------------------------------------------------------
    def start(self) -> None:
        cfg = self.cfg
        rel = ReliabilityPolicy.RELIABLE if cfg["qos_reliability"] == "reliable" else ReliabilityPolicy.BEST_EFFORT
        self._in_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=cfg["qos_depth"], reliability=rel,
                                  durability=DurabilityPolicy.VOLATILE)
        inputs = MutuallyExclusiveCallbackGroup()
        streams = ["color", "depth"] + (["mask"] if cfg["use_mask"] else [])
        self._sync = ApproximateTimeSync(streams, int(round(cfg["sync_slop_s"] * 1e9)), SYNC_QUEUE)
        self._subs = {}
        from sensor_msgs import msg as sensor_msgs

        for name, topic, typ, cb in (
            ("color", COLOR_TOPIC, "Image", lambda m: self._on_image("color", m)),
            ("depth", DEPTH_TOPIC, "Image", lambda m: self._on_image("depth", m)),
            ("camera_info", INFO_TOPIC, "CameraInfo", self._on_info),
            ("mask", MASK_TOPIC, "Image", lambda m: self._on_image("mask", m)),
        ):
            if name == "mask" and not cfg["use_mask"]:
                continue
            events = SubscriptionEventCallbacks(
                incompatible_qos=lambda info, n=name: self._on_incompatible_qos(n, info),
                message_lost=lambda info: self._on_lost(info))
            self._subs[name] = self.create_subscription(getattr(sensor_msgs, typ), topic, cb, self._in_qos,
                                                        callback_group=inputs, event_callbacks=events)

        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import Image, PointCloud2
        from semcorr_msgs.msg import CategoryInfo, SemanticObjectArray
        from visualization_msgs.msg import MarkerArray

        out_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.RELIABLE)
        img_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=2, reliability=ReliabilityPolicy.RELIABLE)
        # one message per category, all kept for late subscribers
        latched = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=len(self.categories),
                             reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.pub_keypoints = self.create_publisher(SemanticObjectArray, "~/keypoints", out_qos)
        self.pub_info = self.create_publisher(CategoryInfo, "~/category_info", latched)
        self.pub_canonical = self.create_publisher(Image, "~/canonical_coords", img_qos)
        self.pub_confidence = self.create_publisher(Image, "~/confidence", img_qos)
        self.pub_cloud = self.create_publisher(PointCloud2, "~/correspondence_cloud", img_qos)
        self.pub_markers = self.create_publisher(MarkerArray, "~/markers", out_qos)
        self.pub_debug = self.create_publisher(Image, "~/debug_image", img_qos)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", QoSProfile(depth=10))
        for category in self.categories:
            self.pub_info.publish(conv.category_info(category, self.keypoint_names[category], self.symmetry[category]))

        self._timer = self.create_timer(0.5, self._on_timer, callback_group=MutuallyExclusiveCallbackGroup())
        self._worker = threading.Thread(target=self._work, name="semcorr_inference", daemon=True)
        self._worker.start()
        topics = ", ".join(s.topic_name for s in self._subs.values())
        what = "; ".join(f"{c} ({len(n)} keypoints: {', '.join(n)})" for c, n in self.keypoint_names.items())
        backend = self.detector.detectors[0].backend
        self.get_logger().info(
            f"ready: {what} on {self.cfg['device']}, backend {backend.name} ({backend.reason}); inputs {topics} "
            f"({cfg['qos_reliability']}, depth {cfg['qos_depth']}); "
            f"outputs under {self.get_fully_qualified_name()}/")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the worker (it finishes the frame in progress, publishing nothing more)."""
        self._stopping.set()
        with self._cv:
            self._cv.notify_all()
        w = getattr(self, "_worker", None)
        if w is not None and w.is_alive():
            w.join(timeout_s)

    # ------------------------------------------------------------------------------------------
    # inputs
    # ------------------------------------------------------------------------------------------
    def _on_image(self, stream: str, msg) -> None:
        self.rates[stream].tick()
        with self._sync_lock:
            matches = self._sync.add(stream, conv.stamp_to_ns(msg.header.stamp), msg)
        for m in matches:
            self._last_match_s = time.monotonic()
            fs = FrameSet(m.items["color"], m.items["depth"], m.items.get("mask"), self._last_match_s)
            with self._cv:
                self.counts["synced"] += 1
                if self._slot is not None:
                    self.counts["dropped"] += 1  # the worker did not get to it: the newer frame wins
                self._slot = fs
                self._cv.notify()

    def _on_info(self, msg) -> None:
        self.rates["camera_info"].tick()
        with self._info_cv:
            self._infos.append((conv.stamp_to_ns(msg.header.stamp), msg))
            self._info_cv.notify_all()

    def _info_for(self, stamp_ns: int):
        """The CameraInfo of the frame stamped ``stamp_ns``: the one with (within sync_slop_s) the same
        stamp when the driver stamps camera_info like its images - waiting up to INFO_WAIT_S for it,
        since it travels on its own topic and may arrive after the images - else the latest one.
        None when none has come at all."""
        slop = int(self.cfg["sync_slop_s"] * 1e9)

        def closest():
            near = [(abs(t - stamp_ns), i) for i, (t, _) in enumerate(self._infos) if abs(t - stamp_ns) <= slop]
            return self._infos[min(near)[1]][1] if near else None

        with self._info_cv:
            found = closest()
            if found is None and self._info_stamped is not False:
                # wait while the info of this frame may still be on its way
                end = time.monotonic() + INFO_WAIT_S
                while found is None and not self._stopping.is_set():
                    newest = self._infos[-1][0] if self._infos else None
                    left = end - time.monotonic()
                    if (newest is not None and newest > stamp_ns + slop) or left <= 0:
                        break
                    self._info_cv.wait(left)
                    found = closest()
            if self._infos:
                self._info_stamped = found is not None
            return found if found is not None else (self._infos[-1][1] if self._infos else None)

    def _on_incompatible_qos(self, stream: str, info) -> None:
        """DDS says a publisher cannot match this subscription: report it now (the timer keeps the
        issue while the graph still shows such a publisher)."""
        topic = self._subs[stream].topic_name
        policy = getattr(info.last_policy_kind, "name", str(info.last_policy_kind))
        if "RELIABILITY" in policy:
            message = f"QoS mismatch on {topic}: {QOS_RELIABILITY_HINT}"
        else:
            message = (f"QoS mismatch on {topic}: a publisher is incompatible with this node's subscription "
                       f"({policy}); nothing from it is received")
        self.issues.report(f"qos:{stream}", WARN, message, kind="stream")
        self._publish_diagnostics(force=True)

    def _on_lost(self, info) -> None:
        with self._cv:
            self.counts["dds_lost"] += int(getattr(info, "total_count_change", 1) or 1)

    # ------------------------------------------------------------------------------------------
    # worker
    # ------------------------------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stopping.is_set():
            with self._cv:
                while self._slot is None and not self._stopping.is_set():
                    self._cv.wait(0.5)
                if self._stopping.is_set():
                    return
                fs, self._slot = self._slot, None
                self._busy = True
            fs.info = self._info_for(conv.stamp_to_ns(fs.color.header.stamp))
            try:
                self._process(fs)
            except Exception as e:  # noqa: BLE001 - the worker must survive anything
                # SIGINT shuts the context down from the signal handler before stop() is called: a
                # frame in flight then fails to publish, which is the shutdown, not an error
                if self._stopping.is_set() or not self.context.ok():
                    return
                self._internal_error(e)
            finally:
                with self._cv:
                    self._busy = False

    def _internal_error(self, e: Exception) -> None:
        """Count and report a failure that is the node's (or the library's) fault, not the input's.
        Never raises: the worker thread must outlive it."""
        with self._cv:
            self.counts["rejected"] += 1
        try:
            if not self._internal_logged:
                self._internal_logged = True
                self.get_logger().error("internal error (traceback shown once):\n" + traceback.format_exc())
            self.issues.report("internal", ERROR, f"frame failed inside the node: {type(e).__name__}: {e}")
            self._publish_diagnostics(force=True)
        except Exception:  # noqa: BLE001 - logging / publishing while shutting down
            pass

    def _reject(self, cause: str, message: str) -> None:
        with self._cv:
            self.counts["rejected"] += 1
        self.issues.report(f"frame:{cause}", ERROR, f"frame rejected ({cause}): {message}")
        self._publish_diagnostics(force=True)

    def _prepare(self, fs: FrameSet):
        """RGBDFrame and output header of a frame set, or :class:`FrameRejected`."""
        from semcorr_core.data.rgbd import make_rgbd
        from semcorr_core.errors import SemcorrError

        cfg = self.cfg
        c_id, d_id = fs.color.header.frame_id, fs.depth.header.frame_id
        if fs.info is None:
            # the stream check ("no message on ... since start") adds what the ROS graph says
            topic = self._subs["camera_info"].topic_name
            raise FrameRejected("missing camera_info", f"no CameraInfo received on {topic}; intrinsics are needed "
                                                       "for every frame: check that the driver publishes camera_info, "
                                                       f"the remapping, and QoS (this node subscribes "
                                                       f"{cfg['qos_reliability']})")
        if cfg["require_matching_frame_ids"] and c_id and d_id and c_id != d_id:
            raise FrameRejected("frame id", f"depth frame_id {d_id!r} differs from colour frame_id {c_id!r}: the "
                                            "depth is probably not registered to colour (use aligned_depth_to_color)"
                                            "; if it is aligned, set require_matching_frame_ids:=false")
        self._advise("empty_frame_id", not c_id and not cfg["frame_id_override"],
                     "colour header.frame_id is empty: outputs carry no frame; set frame_id_override")
        info_id = fs.info.header.frame_id
        self._advise("info_frame_id", bool(c_id and info_id and info_id != c_id),
                     f"camera_info frame_id {info_id!r} differs from colour frame_id {c_id!r}: are these "
                     "intrinsics the colour camera's?")
        self._advise("distortion", any(abs(float(d)) > 1e-6 for d in fs.info.d),
                     "camera_info has non-zero distortion; the node assumes rectified images (use image_rect)")
        try:
            color = conv.color_from_image(fs.color)
            depth = conv.depth_from_image(fs.depth)
            mask = conv.mask_from_image(fs.mask) if fs.mask is not None else None
            camera = conv.camera_from_info(fs.info)
            scale = cfg["depth_scale"] or None
            frame = make_rgbd(color, depth, camera, depth_scale=scale, mask=mask)
        except SemcorrError as e:
            raise FrameRejected(_cause_of(e), str(e)) from None
        out_id = cfg["frame_id_override"] or c_id
        return frame, conv.header_with_frame(fs.color.header, out_id)

    def _advise(self, key: str, condition: bool, message: str) -> None:
        if condition:
            self.issues.report(f"advice:{key}", WARN, message, kind="advice")
        else:
            self.issues.clear(f"advice:{key}")

    def _process(self, fs: FrameSet) -> None:
        from semcorr_core.errors import SemcorrError

        t0 = time.perf_counter()
        try:
            frame, header = self._prepare(fs)
        except FrameRejected as e:
            self._reject(e.cause, str(e))
            return
        t1 = time.perf_counter()
        try:
            dets = self.detector.detect(frame)
        except SemcorrError as e:
            self._reject(_cause_of(e), str(e))
            return
        if self._tracker is not None:
            dets = self._tracker.update(dets, frame.camera)
        if self._stopping.is_set():
            return
        t2 = time.perf_counter()
        objects = [o for o in dets.objects if o.score >= self.cfg["min_score"]]
        if frame.mask is not None:
            objects = [_with_mask_id(o, frame.mask) for o in objects]
        self._publish_outputs(frame, dets, objects, header)
        t3 = time.perf_counter()
        now = time.monotonic()
        for k in STAGES:
            if k in dets.timings_ms:
                self.latency[k].add(dets.timings_ms[k])
        self.latency["convert"].add((t1 - t0) * 1e3)
        self.latency["publish"].add((t3 - t2) * 1e3)
        self.latency["pipeline"].add((now - fs.completed_s) * 1e3)
        age = self.get_clock().now().nanoseconds - conv.stamp_to_ns(header.stamp)
        self.latency["stamp_age"].add(age / 1e6)
        self.rates["output"].tick()
        with self._cv:
            self.counts["processed"] += 1
        self._last_objects = len(objects)
        self._out_frame = header.frame_id
        self.issues.clear_kind("frame")
        self.issues.clear("internal")

    def _publish_outputs(self, frame, dets, objects, header) -> None:
        from semcorr_ros.markers import keypoint_markers

        cfg = self.cfg
        self.pub_keypoints.publish(conv.semantic_object_array(header, objects, self.keypoint_names))
        if cfg["publish_markers"] and self.pub_markers.get_subscription_count():
            self.pub_markers.publish(keypoint_markers(header, objects))
        dense_pubs = (self.pub_canonical, self.pub_confidence, self.pub_cloud)
        if cfg["publish_canonical"] and any(p.get_subscription_count() for p in dense_pubs):
            from semcorr_ros.correspondence import CLOUD_FIELDS, dense_outputs

            d = dense_outputs(objects, frame.camera.backproject(frame.depth), self._confidence or None)
            self.pub_canonical.publish(conv.array_to_image(d.canonical, "32FC3", header))
            self.pub_confidence.publish(conv.array_to_image(d.confidence, "32FC1", header))
            self.pub_cloud.publish(conv.point_cloud(header, CLOUD_FIELDS, d.cloud))
        if cfg["publish_debug_image"] and self.pub_debug.get_subscription_count():
            from semcorr_core.outputs.detections import draw_detections
            from semcorr_core.pipeline import Detections

            shown = Detections(objects, dets.plane_normal, dets.timings_ms)
            self.pub_debug.publish(conv.array_to_image(draw_detections(frame.color, shown), "rgb8", header))

    # ------------------------------------------------------------------------------------------
    # health
    # ------------------------------------------------------------------------------------------
    def _log_issue(self, level: int, message: str) -> None:
        # one call site per severity: rclpy's logger refuses a second severity from the same line
        if level >= ERROR:
            self.get_logger().error(message)
        else:
            self.get_logger().warning(message)

    def _input_cause(self, stream: str, never: bool = False) -> str:
        """The likely cause of silence on an input, from the ROS graph (``never``: nothing came yet)."""
        topic = self._subs[stream].topic_name
        try:
            pubs = self.get_publishers_info_by_topic(topic)
        except Exception:  # noqa: BLE001 - graph queries fail while shutting down
            return "(graph not available)"
        if not pubs:
            return "no publisher on it: check the topic name / remapping (namespace) and that the camera driver runs"
        best_effort = [p for p in pubs if p.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT]
        if best_effort and self.cfg["qos_reliability"] == "reliable":
            return "QoS mismatch: " + QOS_RELIABILITY_HINT
        hint = (" or large images are being lost under best_effort QoS (try qos_reliability:=reliable with a "
                "reliable publisher)" if self.cfg["qos_reliability"] == "best_effort" else "")
        if never:
            return f"{len(pubs)} publisher(s) on it but nothing received: the driver is not publishing yet{hint}"
        return f"{len(pubs)} publisher(s) on it: the driver stopped publishing{hint}"

    def _check_inputs(self) -> None:
        now = time.monotonic()
        stall = self.cfg["stall_timeout_s"]
        up = now - self._started_s
        for stream, sub in self._subs.items():
            age = self.rates[stream].age_s()
            key = f"input:{stream}"
            # messages stay the same while the cause does (ages are in the values), so the log is
            # not repeated more often than the throttle allows
            if age is None and up > stall:
                self.issues.report(key, WARN, f"no message on {sub.topic_name} since start: "
                                              f"{self._input_cause(stream, never=True)}", kind="stream")
            elif age is not None and stream != "camera_info" and age > stall:
                self.issues.report(key, WARN, f"{sub.topic_name} stalled: no message for more than "
                                              f"stall_timeout_s {stall:g} s: {self._input_cause(stream)}",
                                   kind="stream")
            else:
                self.issues.clear(key)
            # a best_effort publisher is never heard by a reliable subscription (the QoS event
            # reports it once; the graph tells whether it is still there)
            qos_cause = self._input_cause(stream) if self.cfg["qos_reliability"] == "reliable" else ""
            if qos_cause.startswith("QoS mismatch"):
                self.issues.report(f"qos:{stream}", WARN, f"QoS mismatch on {sub.topic_name}: "
                                                          f"{qos_cause[len('QoS mismatch: '):]}", kind="stream")
            else:
                self.issues.clear(f"qos:{stream}")
        ages = [self.rates[s].age_s() for s in self._sync.streams]
        flowing = all(a is not None and a <= stall for a in ages)
        last = self._last_match_s
        if flowing and up > stall and (last is None or now - last > stall):
            closest = self._sync.stats.last_closest_ns
            got = f"closest stamps {closest / 1e6:.0f} ms apart" if closest is not None else "no pair in the window"
            self.issues.report("sync", WARN, f"colour and depth arrive but never within sync_slop_s "
                                             f"{self.cfg['sync_slop_s']:g} s ({got}): publish depth aligned to colour "
                                             "with the colour stamp, or raise sync_slop_s", kind="stream")
        else:
            self.issues.clear("sync")

    def _on_timer(self) -> None:
        if self._stopping.is_set():
            return
        try:
            self._check_inputs()
            self._publish_diagnostics()
        except Exception as e:  # noqa: BLE001 - health reporting must not end the node
            if not self._stopping.is_set():
                self.get_logger().warning(f"diagnostics failed: {type(e).__name__}: {e}")

    def diagnostic_values(self) -> dict:
        with self._cv:
            counts = dict(self.counts)
            busy = self._busy
        st = self._sync.stats
        v: dict[str, Any] = {
            "category": self.category, "device": self.cfg["device"], "backend": self.detector.detectors[0].backend.name,
            "qos_reliability": self.cfg["qos_reliability"],
            "frames_synced": counts["synced"], "frames_processed": counts["processed"],
            "frames_dropped": counts["dropped"], "frames_rejected": counts["rejected"],
            "sync_unmatched": st.unmatched.get("color", 0),
            "sync_stale": sum(st.stale.values()), "sync_overflow": sum(st.overflow.values()),
            "dds_messages_lost": counts["dds_lost"], "inference_busy": busy,
        }
        for s in ("color", "depth", "camera_info", "mask"):
            if s in self._subs:
                v[f"input_rate_{s}_hz"] = self.rates[s].rate_hz()
                v[f"input_age_{s}_s"] = self.rates[s].age_s()
        v["output_rate_hz"] = self.rates["output"].rate_hz()
        v["objects_last_frame"] = self._last_objects
        for k, r in self.latency.items():
            v[f"latency_{k}_ms"] = r.median()
        v["latency_pipeline_last_ms"] = self.latency["pipeline"].last()
        v["last_error"] = self.issues.last_error
        t = self.issues.last_error_s
        v["last_error_age_s"] = None if t is None else time.monotonic() - t
        return v

    def _publish_diagnostics(self, force: bool = False) -> None:
        """1 Hz from the timer; ``force``: right away (a new problem), at most 5 times a second."""
        now = time.monotonic()
        if now - self._last_diag_s < (0.2 if force else 0.95) or self._stopping.is_set():
            return
        self._last_diag_s = now
        from diagnostic_msgs.msg import DiagnosticArray

        level, message = self.issues.summary()
        if level == OK:
            with self._cv:
                n = self.counts["processed"]
            message = (f"processing at {self.rates['output'].rate_hz():.1f} Hz, {self._last_objects} object(s) in "
                       "the last frame" if n else "waiting for the first frame")
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [build_status(f"semcorr_ros: {self.get_fully_qualified_name()}", self._out_frame, level,
                                   message, self.diagnostic_values())]
        self.pub_diag.publish(arr)


# ----------------------------------------------------------------------------------------------
def main(args: Optional[list[str]] = None) -> int:
    """Console script ``perception_node``: run the node until SIGINT / SIGTERM (exit 0); exit 2 with a
    message naming the parameter when one is invalid."""
    argv = sys.argv if args is None else args
    try:
        rclpy.init(args=argv)
    except Exception as e:  # noqa: BLE001 - bad --ros-args, unreadable params file
        print(f"{NODE_NAME}: cannot start ROS: {e}", file=sys.stderr)
        return 2
    node = None
    executor = None
    try:
        try:
            node = PerceptionNode()
            node.load_model()
        except ParameterError as e:
            print(f"{NODE_NAME}: {e}", file=sys.stderr)
            return 2
        if not rclpy.ok():  # SIGINT / SIGTERM while the model was loading
            return 0
        node.start()
        executor = MultiThreadedExecutor(num_threads=3)
        executor.add_node(node)
        spin_until_shutdown(executor)
    except (KeyboardInterrupt, ExternalShutdownException):  # while loading or starting
        pass
    finally:
        if node is not None:
            node.stop()
        if executor is not None:
            executor.shutdown(timeout_sec=2.0)
        if node is not None:
            try:
                node.destroy_node()
            except Exception:  # noqa: BLE001 - the context may already be gone
                pass
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
