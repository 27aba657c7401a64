"""sensor_msgs <-> numpy, and the node's output messages built from numpy.

``cv_bridge`` is not available from the PyPI ROS wheels; the few encodings a depth camera uses are
simple enough to read with ``np.frombuffer`` (honouring ``step`` row padding and
``is_bigendian``). Image data is always assigned as ``bytes``: rclpy copies a ``bytes`` object
into its ``array('B')`` field in a millisecond, element-wise numpy assignment takes ~100x longer.

Errors are typed (:mod:`semcorr_core.errors`): the node reports ``str(err)`` as the cause of a
rejected frame, so every message says what was received and what is expected.
"""

from __future__ import annotations

import sys
from typing import Iterable, Optional, Sequence

import numpy as np

from semcorr_core.errors import DepthEncodingError, InputError, IntrinsicsError
from semcorr_core.geometry.camera import PinholeCamera

__all__ = [
    "COLOR_ENCODINGS", "DEPTH_ENCODINGS", "MASK_ENCODINGS", "IMAGE_ENCODINGS", "ImageEncodingError",
    "array_to_image", "camera_from_info", "color_from_image", "depth_from_image", "image_to_array",
    "mask_from_image", "point_cloud", "quaternion_from_matrix", "stamp_to_ns",
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
_LITTLE = sys.byteorder == "little"


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
    if src.byteorder not in ("=", "|") and (src.byteorder == ">") == _LITTLE:
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


def array_to_image(arr: np.ndarray, encoding: str, header=None):
    """sensor_msgs/Image holding ``arr`` (C-contiguous copy, native byte order) as ``encoding``."""
    from sensor_msgs.msg import Image

    if encoding not in IMAGE_ENCODINGS:
        raise ImageEncodingError(f"unsupported encoding {encoding!r}; known: {', '.join(IMAGE_ENCODINGS)}")
    dtype, ch = IMAGE_ENCODINGS[encoding]
    a = np.asarray(arr)
    want = (ch,) if ch > 1 else ()
    if a.ndim != 2 + (ch > 1) or a.shape[2:] != want or a.dtype != dtype:
        raise ImageEncodingError(f"{encoding} needs an (H, W{', %d' % ch if ch > 1 else ''}) {dtype} array, "
                                 f"got {a.shape} {a.dtype}")
    a = np.ascontiguousarray(a)
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(a.shape[0]), int(a.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0 if _LITTLE else 1
    msg.step = int(a.shape[1] * ch * dtype.itemsize)
    msg.data = a.tobytes()
    return msg


def camera_from_info(msg) -> PinholeCamera:
    """PinholeCamera of a sensor_msgs/CameraInfo (K, width, height). Distortion is not applied: the
    node expects rectified (or distortion-free, e.g. RealSense colour) images."""
    w, h = int(msg.width), int(msg.height)
    if w <= 0 or h <= 0:
        raise IntrinsicsError(f"camera_info has image size {w}x{h}; the camera driver has not filled it in "
                              "(check camera_info and its calibration)")
    return PinholeCamera.from_K(np.asarray(msg.k, dtype=np.float64), w, h)


def quaternion_from_matrix(R: np.ndarray) -> tuple[float, float, float, float]:
    """(x, y, z, w) unit quaternion of a 3x3 rotation matrix (Shepperd's method, w >= 0)."""
    R = np.asarray(R, dtype=np.float64)
    tr = np.trace(R)
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = ((R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, 0.25 * s)
    elif R[0, 0] > R[1, 1] and R[0, 0] > R[2, 2]:
        s = 2.0 * np.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2])
        q = (0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s, (R[2, 1] - R[1, 2]) / s)
    elif R[1, 1] > R[2, 2]:
        s = 2.0 * np.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2])
        q = ((R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s, (R[0, 2] - R[2, 0]) / s)
    else:
        s = 2.0 * np.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1])
        q = ((R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s, (R[1, 0] - R[0, 1]) / s)
    q = np.asarray(q)
    q = q / np.linalg.norm(q)
    if q[3] < 0:
        q = -q
    return float(q[0]), float(q[1]), float(q[2]), float(q[3])


def point_cloud(header, field_names: Sequence[str], values: np.ndarray):
    """Unorganised (height 1) sensor_msgs/PointCloud2 of float32 columns ``values`` (N, F), one
    FLOAT32 field per name at offsets 0, 4, 8, ..."""
    from sensor_msgs.msg import PointCloud2, PointField

    v = np.ascontiguousarray(values, dtype=np.float32)
    if v.ndim != 2 or v.shape[1] != len(field_names):
        raise InputError(f"point values must be (N, {len(field_names)}), got {v.shape}")
    msg = PointCloud2()
    msg.header = header
    msg.height, msg.width = 1, int(v.shape[0])
    msg.fields = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                  for i, n in enumerate(field_names)]
    msg.is_bigendian = not _LITTLE
    msg.point_step = 4 * len(field_names)
    msg.row_step = msg.point_step * msg.width
    msg.is_dense = bool(np.isfinite(v).all())
    msg.data = v.tobytes()
    return msg


def semantic_object_array(header, objects: Iterable, keypoint_names: Sequence[str]):
    """semcorr_msgs/SemanticObjectArray of :class:`semcorr_core.pipeline.DetectedObject`s.

    Keypoints are published in ``keypoint_names`` order (the order of ~/category_info) with
    ``index`` = position in that list; a keypoint the detector did not return is left out."""
    from geometry_msgs.msg import Point, Pose, Quaternion
    from semcorr_msgs.msg import Keypoint, SemanticObject, SemanticObjectArray

    out = SemanticObjectArray()
    out.header = header
    for obj in objects:
        by_name = {k.name: k for k in obj.keypoints}
        kps = []
        for i, name in enumerate(keypoint_names):
            k = by_name.get(name)
            if k is None:
                continue
            x, y, z = (float(c) for c in np.asarray(k.xyz, dtype=np.float64))
            kps.append(Keypoint(name=name, index=i, position=Point(x=x, y=y, z=z), u=float(k.u), v=float(k.v),
                                score=float(k.score), visible=bool(k.visible)))
        qx, qy, qz, qw = quaternion_from_matrix(obj.pose.R)
        t = [float(c) for c in np.asarray(obj.pose.t, dtype=np.float64)]
        out.objects.append(SemanticObject(
            category=obj.category, instance_id=int(obj.instance_id),
            pose=Pose(position=Point(x=t[0], y=t[1], z=t[2]), orientation=Quaternion(x=qx, y=qy, z=qz, w=qw)),
            scale=float(obj.pose.s), score=float(obj.score), keypoints=kps))
    return out


def category_info(category: str, keypoint_names: Sequence[str], symmetry: str):
    from semcorr_msgs.msg import CategoryInfo

    return CategoryInfo(category=category, keypoint_names=list(keypoint_names), symmetry=symmetry)


def header_with_frame(header, frame_id: Optional[str]):
    """A copy of ``header`` (stamp kept) with ``frame_id`` replaced when one is given."""
    from std_msgs.msg import Header

    return Header(stamp=header.stamp, frame_id=frame_id if frame_id else header.frame_id)
