"""``semcorr bag synth``: a ROS 2 bag of a synthetic sequence with ground truth.

One static scene (a category object from the benchmarks' held-out instances, 0-4 distractors,
on a textured support plane) seen by a camera that orbits it at constant elevation and distance
(``orbit_deg`` of azimuth over the sequence), rendered with sensor noise. Topics
(:class:`~semcorr_core.bags.BagTopics`): colour ``rgb8``, depth ``16UC1`` millimetres, camera_info,
and per frame the ground truth as JSON (:mod:`semcorr_core.bags.ground_truth`); every message of
a frame carries the same stamp. Seeded: the same arguments write the same messages.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from semcorr_core.bags.ground_truth import FrameTruth, TruthObject
from semcorr_core.bags.read import require_rosbags, typestore
from semcorr_core.bags.topics import COLOR_TYPE, DEPTH_TYPE, INFO_TYPE, TRUTH_TYPE, BagTopics
from semcorr_core.bench.embed3d import TEST_SEED_OFFSET
from semcorr_core.data.categories import get_category
from semcorr_core.data.point_clouds import parts_seen
from semcorr_core.data.render import DepthNoiseConfig, RaycastRenderer, SceneConfig, sample_scene
from semcorr_core.data.shapes import generate_shapes
from semcorr_core.errors import BagError, InputError
from semcorr_core.geometry.transforms import look_at

__all__ = ["SyntheticBagSummary", "write_synthetic_bag"]

FRAME_ID = "camera_color_optical_frame"
_START_NS = 1_700_000_000_000_000_000  # a fixed epoch: seeded bags are byte-for-byte comparable


@dataclass
class SyntheticBagSummary:
    path: str
    category: str
    frames: int
    rate_hz: float
    bytes: int
    instance_id: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _header(ts, stamp_ns: int, frame_id: str):
    Header = ts.types["std_msgs/msg/Header"]
    Time = ts.types["builtin_interfaces/msg/Time"]
    return Header(stamp=Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000), frame_id=frame_id)


def _image(ts, header, arr: np.ndarray, encoding: str):
    a = np.ascontiguousarray(arr)
    row = a.shape[1] * (a.shape[2] if a.ndim == 3 else 1) * a.dtype.itemsize
    return ts.types["sensor_msgs/msg/Image"](header=header, height=a.shape[0], width=a.shape[1], encoding=encoding,
                                             is_bigendian=0, step=row, data=a.view(np.uint8).ravel())


def _camera_info(ts, header, cam):
    K = cam.K
    P = np.zeros((3, 4))
    P[:, :3] = K
    Roi = ts.types["sensor_msgs/msg/RegionOfInterest"]
    return ts.types["sensor_msgs/msg/CameraInfo"](
        header=header, height=cam.height, width=cam.width, distortion_model="plumb_bob", d=np.zeros(5),
        k=K.ravel().astype(np.float64), r=np.eye(3).ravel(), p=P.ravel(), binning_x=0, binning_y=0,
        roi=Roi(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))


def _orbit(scene, delta_rad: float):
    """The scene's camera turned by ``delta_rad`` of azimuth about the vertical through the
    objects' centre, looking at that centre."""
    pts = np.concatenate([o.vertices @ o.pose[:3, :3].T + o.pose[:3, 3] for o in scene.objects])
    centre = 0.5 * (pts.min(0) + pts.max(0))
    eye = scene.camera_pose[:3, 3] - centre
    c, s = math.cos(delta_rad), math.sin(delta_rad)
    eye = centre + np.array([c * eye[0] - s * eye[1], s * eye[0] + c * eye[1], eye[2]])
    return replace(scene, camera_pose=look_at(eye, centre, up=(0.0, 0.0, 1.0)))


def write_synthetic_bag(path: str | os.PathLike, category: str, frames: int = 30, seed: int = 0, *,
                        rate_hz: float = 10.0, orbit_deg: float = 40.0, width: int = 640, height: int = 480,
                        noise: bool = True, compress: bool = True, topics: BagTopics = BagTopics(),
                        overwrite: bool = False) -> SyntheticBagSummary:
    """Write the bag directory ``path`` (rosbag2, sqlite3; zstd file compression when ``compress``)."""
    require_rosbags()
    from rosbags.rosbag2 import CompressionFormat, CompressionMode, Writer

    spec = get_category(category)
    if int(frames) < 1:
        raise InputError(f"frames must be >= 1, got {frames}")
    if not (math.isfinite(rate_hz) and rate_hz > 0):
        raise InputError(f"rate_hz must be > 0, got {rate_hz}")
    out = Path(path)
    if out.exists():
        if not overwrite:
            raise BagError(f"{out} exists; pass overwrite (--overwrite) or choose another path")
        import shutil

        shutil.rmtree(out) if out.is_dir() else out.unlink()
    # held-out instances, a seed range of their own (the pipeline bench uses +1000)
    shape = generate_shapes(spec.name, 1, TEST_SEED_OFFSET + 2000 + int(seed))[0]
    cfg = SceneConfig(width=int(width), height=int(height), objects_per_scene=(1, 1), distractors_per_scene=(0, 4),
                      elevation_deg=(15.0, 60.0))
    rng = np.random.default_rng([int(seed), 0xBA6])
    scene = sample_scene([], rng, cfg, primary=shape)
    renderer = RaycastRenderer(cfg.camera())
    ts = typestore()
    period_ns = int(round(1e9 / rate_hz))
    writer = Writer(out, version=9)
    if compress:
        writer.set_compression(CompressionMode.FILE, CompressionFormat.ZSTD)
    with writer:
        conn = {name: writer.add_connection(topic, msgtype, typestore=ts) for name, topic, msgtype in (
            ("color", topics.color, COLOR_TYPE), ("depth", topics.depth, DEPTH_TYPE),
            ("info", topics.camera_info, INFO_TYPE), ("truth", topics.ground_truth, TRUTH_TYPE))}
        for f in range(int(frames)):
            frac = f / max(int(frames) - 1, 1)
            view = _orbit(scene, math.radians(orbit_deg) * (frac - 0.5))
            fr = renderer.render(view, np.random.default_rng([int(seed), 0xF4, f]), DepthNoiseConfig(enabled=noise))
            stamp = _START_NS + f * period_ns
            header = _header(ts, stamp, FRAME_ID)
            truth = FrameTruth(stamp, [TruthObject.from_annotation(
                a, parts_seen(fr.face_id[fr.instance_mask == a.instance_index], shape)) for a in fr.objects])
            for name, msg in (("info", _camera_info(ts, header, fr.camera)),
                              ("depth", _image(ts, header, fr.depth_mm, "16UC1")),
                              ("color", _image(ts, header, fr.color, "rgb8")),
                              ("truth", ts.types["std_msgs/msg/String"](data=truth.to_json()))):
                writer.write(conn[name], stamp, ts.serialize_cdr(msg, msg.__msgtype__))
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return SyntheticBagSummary(str(out), spec.name, int(frames), float(rate_hz), int(size), shape.instance_id)
