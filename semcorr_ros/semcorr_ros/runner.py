"""``semcorr ros run``: start the perception node as ``ros2 launch semcorr_ros perception.launch.py``
would, where ``launch`` / ``ros2cli`` are not installed (the PyPI ROS wheels have neither).

The node gets the same parameter file as the launch file (``launch/params/perception.yaml``,
installed as ``share/semcorr_ros/params/perception.yaml``) and the same kind of arguments, as
plain ``--ros-args`` handed to ``rclpy.init``: ``--params-file FILE``, ``-r from:=to`` remaps,
``-r __ns:=/ns`` for the namespace, ``-p name:=value`` overrides (they win over the file, as the
launch file's overrides do).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional, Sequence

from semcorr_core.errors import InputError

__all__ = ["build_ros_args", "default_params_file", "run"]

_ASSIGN = re.compile(r"^[^:=\s]+:=.*$")


def default_params_file() -> Optional[Path]:
    """The installed ``share/semcorr_ros/params/perception.yaml``, else the source tree's
    ``launch/params/perception.yaml``; None when neither exists."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            p = Path(get_package_share_directory("semcorr_ros")) / "params" / "perception.yaml"
            if p.is_file():
                return p
        except PackageNotFoundError:
            pass
    except ImportError:
        pass
    p = Path(__file__).resolve().parents[2] / "launch" / "params" / "perception.yaml"
    return p if p.is_file() else None


def build_ros_args(params_file: Optional[str | Path] = None, remaps: Sequence[str] = (),
                   params: Sequence[str] = (), namespace: Optional[str] = None,
                   extra: Sequence[str] = ()) -> list[str]:
    """``--ros-args`` list for the node; raises :class:`InputError` for a missing file or a
    malformed ``from:=to`` / ``name:=value``."""
    args = ["--ros-args"]
    if params_file is not None:
        p = Path(params_file)
        if not p.is_file():
            raise InputError(f"parameter file not found: {p}")
        args += ["--params-file", str(p.resolve())]
    for r in remaps:
        if not _ASSIGN.match(r):
            raise InputError(f"remap {r!r} must look like from:=to (e.g. color/image_raw:=/camera/color/image_raw)")
        args += ["-r", r]
    if namespace:
        ns = namespace if namespace.startswith("/") else "/" + namespace
        args += ["-r", f"__ns:={ns}"]
    for p in params:
        if not _ASSIGN.match(p):
            raise InputError(f"parameter {p!r} must look like name:=value (e.g. qos_reliability:=reliable)")
        args += ["-p", p]
    extra = list(extra)
    if extra[:1] == ["--ros-args"]:
        extra = extra[1:]
    return args + extra


def run(params_file: Optional[str | Path] = None, remaps: Sequence[str] = (), params: Sequence[str] = (),
        namespace: Optional[str] = None, extra: Sequence[str] = (), use_default_params: bool = True) -> int:
    """Run the node in this process until SIGINT / SIGTERM; return its exit code."""
    if params_file is None and use_default_params:
        params_file = default_params_file()
    ros_args = build_ros_args(params_file, remaps, params, namespace, extra)
    from semcorr_ros.node import main

    return main(["perception_node", *ros_args])
