"""Frames of a ROS 2 bag (or a ROS 1 bag, read through ``rosbags``): colour, depth, intrinsics and,
where the bag has it, ground truth.

A colour image is paired with the depth image of the nearest stamp within ``slop_ns`` (the
node's approximate-time rule) and with the latest camera_info received up to then; a colour
image without a partner is counted in :attr:`BagFrames.unpaired` and skipped. Ground truth is
matched by stamp exactly. Bad bags get :class:`~semcorr_core.errors.BagError`: missing path,
unreadable or corrupt file, a topic that is not in the bag, a topic of another message type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from semcorr_core.bags.ground_truth import FrameTruth
from semcorr_core.bags.topics import COLOR_TYPE, DEPTH_TYPE, INFO_TYPE, TRUTH_TYPE, BagTopics
from semcorr_core.data.sensor_msgs import camera_from_info, color_from_image, depth_from_image, stamp_to_ns
from semcorr_core.errors import BagError
from semcorr_core.geometry.camera import PinholeCamera

__all__ = ["BagFrame", "BagFrames", "read_bag_frames", "open_bag", "require_rosbags", "typestore"]


def require_rosbags() -> None:
    """:class:`BagError` with the fix when the ``rosbags`` package is missing."""
    try:
        import rosbags.rosbag2  # noqa: F401
    except ImportError:
        raise BagError("bag support needs the rosbags package: pip install 'semcorr_core[bags]' "
                       "(make setup installs it)") from None


@dataclass
class BagFrame:
    """stamp_ns: the colour image's header stamp. depth: as stored (uint16 sensor units or float32
    metres), depth_encoding its encoding. raw: the CDR bytes of the three messages by role
    (``color``, ``depth``, ``info``), for republishing unchanged."""

    stamp_ns: int
    color: np.ndarray
    depth: np.ndarray
    depth_encoding: str
    camera: PinholeCamera
    frame_id: str
    truth: Optional[FrameTruth] = None
    raw: dict = field(default_factory=dict)


@dataclass
class BagFrames:
    frames: list[BagFrame]
    unpaired: int
    topics: dict  # topic -> message type, all of the bag's


def open_bag(path: str | Path):
    """An open ``rosbags`` reader of a ROS 2 bag directory (or a file in one) or a ROS 1 .bag."""
    p = Path(path)
    if not p.exists():
        raise BagError(f"bag not found: {p}")
    require_rosbags()
    try:
        if p.is_file() and p.suffix == ".bag":
            from rosbags.rosbag1 import Reader as Reader1

            reader = Reader1(p)
        else:
            from rosbags.rosbag2 import Reader as Reader2

            reader = Reader2(p.parent if p.is_file() else p)
        reader.open()
    except BagError:
        raise
    except Exception as e:  # rosbags raises its own ReaderError and plain OSErrors for corrupt files
        raise BagError(f"cannot read bag {p}: {e}") from None
    return reader


def _stamp(msg) -> int:
    return stamp_to_ns(msg.header.stamp)


def typestore():
    """The ``rosbags`` type store bags are written and read with. Only standard messages are
    decoded (Image, CameraInfo, String), whose CDR is the same across ROS 2 distributions."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def _decode(ts, ros1: bool, conn, data):
    if not ros1:
        return ts.deserialize_cdr(data, conn.msgtype), bytes(data)
    cdr = bytes(ts.ros1_to_cdr(data, conn.msgtype))  # rclpy deserialises bytes only (replay)
    return ts.deserialize_cdr(cdr, conn.msgtype), cdr


def read_bag_frames(path: str | Path, topics: BagTopics = BagTopics(), *, slop_ns: int = 10_000_000,
                    require_truth: bool = False, keep_raw: bool = False) -> BagFrames:
    """All frames of the bag (see the module docstring), in colour-stamp order."""
    reader = open_bag(path)
    try:
        present = {c.topic: c.msgtype for c in reader.connections}
        wanted = {topics.color: COLOR_TYPE, topics.depth: DEPTH_TYPE, topics.camera_info: INFO_TYPE}
        if require_truth:
            wanted[topics.ground_truth] = TRUTH_TYPE
        for topic, msgtype in wanted.items():
            if topic not in present:
                names = sorted(present)
                listed = ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")
                raise BagError(f"bag {path} has no topic {topic!r}; its topics: {listed} "
                               "(pass the topic names the bag uses)")
            if present[topic] != msgtype:
                raise BagError(f"topic {topic!r} in bag {path} holds {present[topic]}, expected {msgtype}")
        from rosbags.rosbag1 import Reader as Reader1

        ts, ros1 = typestore(), isinstance(reader, Reader1)
        conns = [c for c in reader.connections if c.topic in wanted or c.topic == topics.ground_truth]
        colors, depths, infos, truths = [], [], [], {}
        try:
            for conn, _t, data in reader.messages(connections=conns):
                msg, cdr = _decode(ts, ros1, conn, data)
                if conn.topic == topics.color:
                    colors.append((_stamp(msg), msg, cdr))
                elif conn.topic == topics.depth:
                    depths.append((_stamp(msg), msg, cdr))
                elif conn.topic == topics.camera_info:
                    infos.append((_stamp(msg), msg, cdr))
                elif present.get(conn.topic) == TRUTH_TYPE:
                    truth = FrameTruth.from_json(msg.data)
                    truths[truth.stamp_ns] = truth
        except BagError:
            raise
        except Exception as e:
            raise BagError(f"bag {path} is corrupt or truncated: {e}") from None
    finally:
        reader.close()
    colors.sort(key=lambda x: x[0])
    depths.sort(key=lambda x: x[0])
    infos.sort(key=lambda x: x[0])
    d_stamps = np.array([d[0] for d in depths], np.int64)
    i_stamps = np.array([i[0] for i in infos], np.int64)
    frames, unpaired = [], 0
    for stamp, cmsg, ccdr in colors:
        j = int(np.argmin(np.abs(d_stamps - stamp))) if len(d_stamps) else -1
        # camera_info stamped up to the frame (drivers latch it once, maybe a bit later: then the first)
        k = int(np.searchsorted(i_stamps, stamp + slop_ns, side="right")) - 1 if len(i_stamps) else -1
        k = 0 if k < 0 and len(i_stamps) else k
        if j < 0 or abs(int(d_stamps[j]) - stamp) > slop_ns or k < 0:
            unpaired += 1
            continue
        dmsg, dcdr = depths[j][1], depths[j][2]
        imsg, icdr = infos[k][1], infos[k][2]
        frames.append(BagFrame(stamp, color_from_image(cmsg), depth_from_image(dmsg), dmsg.encoding,
                               camera_from_info(imsg), cmsg.header.frame_id, truths.get(stamp),
                               {"color": ccdr, "depth": dcdr, "info": icdr} if keep_raw else {}))
    if require_truth and any(f.truth is None for f in frames):
        missing = sum(f.truth is None for f in frames)
        raise BagError(f"{missing} of {len(frames)} frames in {path} have no ground truth on {topics.ground_truth!r}")
    return BagFrames(frames, unpaired, present)

