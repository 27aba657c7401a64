"""ROS 1 bag -> ROS 2 bag, through ``rosbags.convert`` (message definitions from the ROS 1 bag)."""

from __future__ import annotations

import shutil
from pathlib import Path

from semcorr_core.errors import BagError

__all__ = ["convert_ros1_bag"]


def convert_ros1_bag(src: str | Path, dst: str | Path, *, overwrite: bool = False) -> dict:
    """Write the ROS 2 (sqlite3) bag directory ``dst`` holding every topic of the ROS 1 bag ``src``;
    returns ``{"src", "dst", "topics": {topic: [msgtype, count]}}``."""
    from semcorr_core.bags.read import require_rosbags

    require_rosbags()
    from rosbags.convert import ConverterError, convert

    s, d = Path(src), Path(dst)
    if d.suffix == ".bag":
        raise BagError(f"{d}: a ROS 2 bag is a directory; give a name without .bag")
    if not s.is_file():
        raise BagError(f"ROS 1 bag not found: {s}")
    if d.exists():
        if not overwrite:
            raise BagError(f"{d} exists; pass overwrite (--overwrite) or choose another path")
        shutil.rmtree(d) if d.is_dir() else d.unlink()
    try:
        convert([s], d, dst_storage="sqlite3", dst_version=9, compress=None, compress_mode="file",
                default_typestore=None, typestore=None, exclude_topics=(), include_topics=(),
                exclude_msgtypes=(), include_msgtypes=())
    except ConverterError as e:
        raise BagError(f"cannot convert {s}: {e}") from None
    from rosbags.rosbag2 import Reader

    with Reader(d) as r:
        topics = {c.topic: [c.msgtype, c.msgcount] for c in r.connections}
    return {"src": str(s), "dst": str(d), "topics": topics}
