"""sensor_msgs <-> numpy, and the node's output messages built from numpy.

Reading images and camera_info is ROS-free and lives in :mod:`semcorr_core.data.sensor_msgs` (bag
evaluation reads the same way); it is re-exported here. Image data is always assigned as ``bytes``: rclpy copies a ``bytes`` object
into its ``array('B')`` field in a millisecond, element-wise numpy assignment takes ~100x longer.

Errors are typed (:mod:`semcorr_core.errors`): the node reports ``str(err)`` as the cause of a
rejected frame, so every message says what was received and what is expected.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional, Sequence

import numpy as np

from semcorr_core.data.sensor_msgs import (  # noqa: F401 (re-exported: the node's conversions in one place)
    COLOR_ENCODINGS, DEPTH_ENCODINGS, IMAGE_ENCODINGS, LITTLE_ENDIAN, MASK_ENCODINGS, ImageEncodingError,
    camera_from_info, color_from_image, depth_from_image, image_to_array, mask_from_image, stamp_to_ns,
)
from semcorr_core.errors import InputError

__all__ = [
    "COLOR_ENCODINGS", "DEPTH_ENCODINGS", "MASK_ENCODINGS", "IMAGE_ENCODINGS", "ImageEncodingError",
    "array_to_image", "camera_from_info", "color_from_image", "depth_from_image", "image_to_array",
    "mask_from_image", "matrix_from_quaternion", "point_cloud", "quaternion_from_matrix", "stamp_to_ns",
]


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
    msg.is_bigendian = 0 if LITTLE_ENDIAN else 1
    msg.step = int(a.shape[1] * ch * dtype.itemsize)
    msg.data = a.tobytes()
    return msg


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


def matrix_from_quaternion(x: float, y: float, z: float, w: float) -> np.ndarray:
    """3x3 rotation matrix of a quaternion (x, y, z, w); normalised first."""
    q = np.array([x, y, z, w], dtype=np.float64)
    n = float(np.linalg.norm(q))
    if not np.isfinite(n) or n < 1e-12:
        raise InputError(f"quaternion ({x}, {y}, {z}, {w}) has no direction")
    x, y, z, w = q / n
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


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
    msg.is_bigendian = not LITTLE_ENDIAN
    msg.point_step = 4 * len(field_names)
    msg.row_step = msg.point_step * msg.width
    msg.is_dense = bool(np.isfinite(v).all())
    msg.data = v.tobytes()
    return msg


def semantic_object_array(header, objects: Iterable, keypoint_names: Sequence[str] | Mapping[str, Sequence[str]]):
    """semcorr_msgs/SemanticObjectArray of :class:`semcorr_core.pipeline.DetectedObject`s.

    Keypoints are published in ``keypoint_names`` order (the order of ~/category_info; a mapping
    category -> names when the objects are of several categories) with ``index`` = position in
    that list; a keypoint the detector did not return is left out."""
    from geometry_msgs.msg import Point, Pose, Quaternion
    from semcorr_msgs.msg import Keypoint, SemanticObject, SemanticObjectArray

    out = SemanticObjectArray()
    out.header = header
    for obj in objects:
        by_name = {k.name: k for k in obj.keypoints}
        names = keypoint_names[obj.category] if isinstance(keypoint_names, Mapping) else keypoint_names
        kps = []
        for i, name in enumerate(names):
            k = by_name.get(name)
            if k is None:
                continue
            x, y, z = (float(c) for c in np.asarray(k.xyz, dtype=np.float64))
            kps.append(Keypoint(name=name, index=i, position=Point(x=x, y=y, z=z), u=float(k.u), v=float(k.v),
                                score=float(k.score), visible=bool(k.visible), source=str(k.source),
                                position_sigma=float("nan") if k.sigma is None else float(k.sigma)))
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
