"""The node's parameters: one table (name, default, description, check) and one validator.

Why a table: the node declares exactly these parameters (with their descriptions), the YAML file
``launch/params/perception.yaml`` must list each with the same default (a test compares them),
and the same checks run at start-up and on a runtime ``ros2 param set``. No ROS import here, so
the checks are testable without ROS.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

__all__ = ["NODE_NAME", "PARAMETERS", "Param", "ParameterError", "RUNTIME_MUTABLE", "check_value", "defaults"]

NODE_NAME = "semcorr_perception"
"""Default node name; ``launch/params/perception.yaml`` is keyed ``/**/semcorr_perception`` so it
applies under any namespace."""


class ParameterError(ValueError):
    """A parameter value the node cannot run with; the message names the parameter."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"invalid parameter '{name}': {message}")
        self.name = name


Check = Callable[[Any], Optional[str]]  # value -> None (fine) or what is wrong with it


@dataclass(frozen=True)
class Param:
    name: str
    default: Any  # its Python type fixes the ROS parameter type
    description: str
    check: Optional[Check] = None
    runtime_mutable: bool = False  # may change while running (else: restart)


def _positive(v) -> Optional[str]:
    return None if math.isfinite(v) and v > 0 else f"must be a positive number, got {v}"


def _non_negative(v) -> Optional[str]:
    return None if math.isfinite(v) and v >= 0 else f"must be >= 0, got {v}"


def _slop(v) -> Optional[str]:
    if not (math.isfinite(v) and 0 < v <= 1.0):
        return f"must be in (0, 1] seconds, got {v}; colour and depth of one frame carry (almost) the same stamp"
    return None


def _unit_interval(v) -> Optional[str]:
    return None if math.isfinite(v) and 0.0 <= v <= 1.0 else f"must be in [0, 1], got {v}"


def _alpha(v) -> Optional[str]:
    return None if math.isfinite(v) and 0.0 < v <= 1.0 else f"must be in (0, 1], got {v}"


def _reliability(v) -> Optional[str]:
    return None if v in ("best_effort", "reliable") else f"must be 'best_effort' or 'reliable', got {v!r}"


def _qos_depth(v) -> Optional[str]:
    return None if 1 <= v <= 1000 else f"must be in 1..1000, got {v}"


def _device(v) -> Optional[str]:
    if re.fullmatch(r"cpu|cuda(:\d+)?", v):
        return None
    return f"must be 'cpu', 'cuda' or 'cuda:N', got {v!r}"


def _backend(v) -> Optional[str]:
    from semcorr_core.models.backends import BACKENDS

    return None if v in BACKENDS else f"must be one of {', '.join(BACKENDS)}, got {v!r}"


def _descriptors(v) -> Optional[str]:
    from semcorr_core.pipeline.detector import DESCRIPTOR_MODES

    return None if v in DESCRIPTOR_MODES else f"must be one of {', '.join(DESCRIPTOR_MODES)}, got {v!r}"


def _precision(v) -> Optional[str]:
    from semcorr_core.models.backends import PRECISIONS

    return None if v in PRECISIONS else f"must be one of {', '.join(PRECISIONS)}, got {v!r}"


def _category(v) -> Optional[str]:
    from semcorr_core.data.categories import parse_category_list
    from semcorr_core.errors import SemcorrError

    if not v.strip():
        return "must name a category (e.g. mug) or several, comma-separated (e.g. mug,bottle)"
    try:
        parse_category_list(v)
    except SemcorrError as e:
        return str(e)
    return None


def _frame_id(v) -> Optional[str]:
    return None if v == v.strip() else f"must not start or end with spaces, got {v!r}"


PARAMETERS: tuple[Param, ...] = (
    Param("category", "mug", "Category to detect (mug, bottle, bowl, can, chair), or several comma-separated in "
          "priority order (mug,bottle): one segmentation, each object gets the category whose fit explains it best "
          "(semcorr bench categories measures how often that is right). Fixes the keypoint names and order "
          "published on ~/category_info (one latched message per category).", _category),
    Param("model_bundle", "", "Path of a semcorr model bundle for the category; with several categories one path "
          "per category, comma-separated in the same order; '' (or an empty entry) = the bundle shipped with "
          "semcorr_core."),
    Param("descriptors", "auto", "What object points are matched to the category prototype with: auto (3D "
          "embeddings and 2D dense descriptors fused where a 2D model made for the bundle exists, else 3D; with "
          "several categories 3D, which picks the right category more often; the log says which), 3d, 2d, fused.", _descriptors),
    Param("dense2d_model", "", "Path of the 2D descriptor model paired with model_bundle (semcorr train dense2d); "
          "one per category, comma-separated, like model_bundle; '' = the one shipped with semcorr_core."),
    Param("device", "cpu", "Torch device for inference: cpu, cuda or cuda:N.", _device),
    Param("backend", "auto", "Runtime of the embedding network: auto (TensorRT on CUDA when installed, else "
          "onnxruntime where it serves the device, else torch; the log says which and why), torch, onnxruntime, "
          "tensorrt (not installable on the machines this was built on: refused with a message).", _backend),
    Param("precision", "fp32", "Precision of the embedding network: fp32, or fp16 (torch or TensorRT on CUDA; "
          "onnxruntime runs fp32 only; on a CPU torch emulates fp16 ~50x slower).", _precision),
    Param("depth_scale", 0.0, "Metres per depth unit; 0 = auto: 16UC1 is millimetres, 32FC1 is metres.",
          _non_negative),
    Param("sync_slop_s", 0.01, "Approximate-time sync: colour and depth (and mask) stamps may differ by at most "
          "this many seconds to form one frame.", _slop),
    Param("qos_reliability", "best_effort", "Reliability of the input subscriptions: best_effort (sensor-data "
          "QoS, matches every publisher) or reliable (no loss of large images on a slow link; needs a reliable "
          "publisher).", _reliability),
    Param("qos_depth", 5, "History depth (KEEP_LAST) of the input subscriptions.", _qos_depth),
    Param("use_mask", False, "Subscribe to 'mask' (mono8/mono16/32SC1 instance ids, 0 = background) and sync it "
          "with colour and depth instead of segmenting."),
    Param("min_score", 0.0, "Objects scoring below this are not published (score = alignment inlier fraction).",
          _unit_interval, runtime_mutable=True),
    Param("publish_debug_image", True, "Publish ~/debug_image (rgb8 picture of the detections).",
          runtime_mutable=True),
    Param("publish_markers", True, "Publish ~/markers (a sphere and a text label per keypoint).",
          runtime_mutable=True),
    Param("publish_canonical", True, "Publish ~/canonical_coords (32FC3), ~/confidence (32FC1) and "
          "~/correspondence_cloud (PointCloud2).", runtime_mutable=True),
    Param("frame_id_override", "", "Frame id of every output; '' = the colour image's header.frame_id.",
          _frame_id),
    Param("require_matching_frame_ids", True, "Reject a frame whose depth frame_id differs from the colour "
          "frame_id (depth not aligned to colour). Set false only if the frames are aligned but named apart."),
    Param("stall_timeout_s", 2.0, "An input silent for longer than this is reported as stalled (WARN).",
          _positive, runtime_mutable=True),
    Param("tracking", False, "Smooth keypoints across frames and keep instance ids stable "
          "(semcorr_core.keypoints.KeypointTracker). For a static camera: with a moving one the smoothed "
          "keypoints lag by about (1 - tracking_alpha) / tracking_alpha frames."),
    Param("tracking_alpha", 0.3, "Weight of the newest frame in the tracked keypoints' moving average; 1 = no "
          "smoothing (ids only).", _alpha),
)

RUNTIME_MUTABLE = frozenset(p.name for p in PARAMETERS if p.runtime_mutable)
_BY_NAME = {p.name: p for p in PARAMETERS}


def defaults() -> dict[str, Any]:
    return {p.name: p.default for p in PARAMETERS}


def check_value(name: str, value: Any) -> None:
    """Raise :class:`ParameterError` unless ``value`` is a valid value of parameter ``name``."""
    p = _BY_NAME.get(name)
    if p is None:
        raise ParameterError(name, "unknown parameter")
    want = type(p.default)
    ok = isinstance(value, want) and not (want is not bool and isinstance(value, bool))
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        ok, value = True, float(value)
    if not ok:
        raise ParameterError(name, f"must be of type {want.__name__}, got {type(value).__name__} {value!r}")
    if p.check is not None:
        problem = p.check(value)
        if problem:
            raise ParameterError(name, problem)
