"""sensor_msgs/Image and CameraInfo contents -> numpy, without ROS.

Works on any object with the messages' field names: rclpy messages in the node, rosbags'
deserialised messages in ``semcorr_core.bags``. ``cv_bridge`` is not available from the PyPI ROS
wheels; the few encodings a depth camera uses are simple enough to read with ``np.frombuffer``
(honouring ``step`` row padding and ``is_bigendian``).

Errors are typed (:mod:`semcorr_core.errors`) and say what was received and what is expected.
"""

from __future__ import annotations

import sys

import numpy as np

from semcorr_core.errors import DepthEncodingError, InputError, IntrinsicsError
from semcorr_core.geometry.camera import PinholeCamera

__all__ = [
    "COLOR_ENCODINGS", "DEPTH_ENCODINGS", "MASK_ENCODINGS", "IMAGE_ENCODINGS", "ImageEncodingError",
    "camera_from_info", "color_from_image", "depth_from_image", "image_to_array", "mask_from_image", "stamp_to_ns",
]


class ImageEncodingError(InputError):
    """An Image's encoding is not one this input accepts (or the image is malformed)."""


# encoding -> (dtype, channels)
IMAGE_ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3), "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4), "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1), "8UC1": (np.dtype(np.uint8), 1), "8UC3": (np.dtype(np.uint8), 3),
    "mono16": (np.dtype(np.uint16), 1), "16UC1": (np.dtype(np.uint16), 1),
    "32SC1": (np.dtype(np.int32), 1), "32FC1": (np.dtype(np.float32), 1), "32FC3": (np.dtype(np.float32), 3),
}
COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8")
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")  # mono16: what some drivers call 16UC1 depth
MASK_ENCODINGS = ("mono8", "8UC1", "mono16", "16UC1", "32SC1")
LITTLE_ENDIAN = sys.byteorder == "little"


def stamp_to_ns(stamp) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def image_to_array(msg, what: str = "image") -> np.ndarray:
    """(H, W) or (H, W, C) array of a sensor_msgs/Image in any encoding of :data:`IMAGE_ENCODINGS`.

    Row padding (``step`` > row bytes) is cut off; big-endian data is byte-swapped to native."""
    enc = msg.encoding
    if enc not in IMAGE_ENCODINGS:
        raise ImageEncodingError(f"{what}: unsupported encoding {enc!r}; known: {', '.join(IMAGE_ENCODINGS)}")
    dtype, ch = IMAGE_ENCODINGS[enc]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0:
        raise ImageEncodingError(f"{what}: empty image ({w}x{h})")
    row = w * ch * dtype.itemsize
    if step < row:
        raise ImageEncodingError(f"{what}: step {step} is smaller than width*channels*bytes = {row} ({enc}, {w}x{h})")
    data = msg.data
    if len(data) < step * h:
        raise ImageEncodingError(f"{what}: {len(data)} data bytes, but {h} rows of step {step} need {step * h} "
                                 "(truncated message?)")
    raw = np.frombuffer(data, dtype=np.uint8, count=step * h).reshape(h, step)[:, :row]
    big = bool(msg.is_bigendian)
    src = dtype.newbyteorder(">" if big else "<") if dtype.itemsize > 1 else dtype
    arr = np.ascontiguousarray(raw).view(src).reshape((h, w, ch) if ch > 1 else (h, w))
    if src.byteorder not in ("=", "|") and (src.byteorder == ">") == LITTLE_ENDIAN:
        arr = arr.astype(dtype)  # to native byte order
    return arr


def color_from_image(msg) -> np.ndarray:
    """(H, W, 3) uint8 RGB from an rgb8 / bgr8 (/ rgba8 / bgra8) Image."""
    if msg.encoding not in COLOR_ENCODINGS:
        hint = (" - this looks like a depth image on the colour input; check the remapping"
                if msg.encoding in DEPTH_ENCODINGS else "")
        raise ImageEncodingError(f"colour image has encoding {msg.encoding!r}; expected one of "
                                 f"{', '.join(COLOR_ENCODINGS)}{hint}")
    arr = image_to_array(msg, "colour image")
    if msg.encoding.startswith("bgr"):
        arr = arr[..., 2::-1]
    elif arr.shape[2] == 4:
        arr = arr[..., :3]
    return np.ascontiguousarray(arr)


def depth_from_image(msg) -> np.ndarray:
    """(H, W) uint16 (16UC1 / mono16: sensor units) or float32 (32FC1: metres) depth."""
    if msg.encoding not in DEPTH_ENCODINGS:
        hint = (" - this looks like a colour image on the depth input; subscribe to the depth topic "
                "(e.g. aligned_depth_to_color/image_raw)" if msg.encoding in COLOR_ENCODINGS else "")
        raise DepthEncodingError(f"depth image has encoding {msg.encoding!r}; expected 16UC1 (millimetres, "
                                 f"or see depth_scale) or 32FC1 (metres){hint}")
    try:
        return image_to_array(msg, "depth image")
    except ImageEncodingError as e:
        raise DepthEncodingError(str(e)) from None


def mask_from_image(msg) -> np.ndarray:
    """(H, W) int32 instance ids (0 = background) from a mono8 / mono16 / 32SC1 Image."""
    if msg.encoding not in MASK_ENCODINGS:
        raise ImageEncodingError(f"mask has encoding {msg.encoding!r}; expected one of {', '.join(MASK_ENCODINGS)} "
                                 "(integer instance ids, 0 = background)")
    return image_to_array(msg, "mask").astype(np.int32, copy=False)


def camera_from_info(msg) -> PinholeCamera:
    """PinholeCamera of a sensor_msgs/CameraInfo (K, width, height). Distortion is not applied: the
    node expects rectified (or distortion-free, e.g. RealSense colour) images."""
    w, h = int(msg.width), int(msg.height)
    if w <= 0 or h <= 0:
        raise IntrinsicsError(f"camera_info has image size {w}x{h}; the camera driver has not filled it in "
                              "(check camera_info and its calibration)")
    return PinholeCamera.from_K(np.asarray(msg.k, dtype=np.float64), w, h)
