"""semcorr_core.bags without ROS: synthetic bags, reading (ROS 2 and the real ROS 1 RealSense bag),
ground truth, offline evaluation and its scoring, bad bags."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from semcorr_core.bags import (BagTopics, FrameTruth, convert_ros1_bag, default_sample_bag, read_bag_frames,
                               write_synthetic_bag)
from semcorr_core.bags.evaluate import evaluate_bag, match_estimate, score_bag_frames
from semcorr_core.bench.pipeline import ObjectEstimate
from semcorr_core.errors import BagError, InputError, InvalidDepthError, UnknownCategoryError

REALSENSE_BAG = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "realsense_rosbag1" / \
    "single_depth_color_640x480.bag"
REALSENSE_TOPICS = BagTopics(color="/device_0/sensor_1/Color_0/image/data",
                             depth="/device_0/sensor_0/Depth_0/image/data",
                             camera_info="/device_0/sensor_1/Color_0/info/camera_info")


@pytest.fixture(scope="module")
def small_bag(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bags") / "mug3"
    write_synthetic_bag(path, "mug", frames=3, seed=1, width=320, height=240, rate_hz=5.0)
    return path


def test_synthetic_bag_reads_back(small_bag):
    bag = read_bag_frames(small_bag, require_truth=True, keep_raw=True)
    assert len(bag.frames) == 3 and bag.unpaired == 0
    stamps = [f.stamp_ns for f in bag.frames]
    assert np.all(np.diff(stamps) == 200_000_000)  # 5 Hz
    f = bag.frames[0]
    assert f.color.shape == (240, 320, 3) and f.color.dtype == np.uint8
    assert f.depth.dtype == np.uint16 and f.depth_encoding == "16UC1" and (f.depth > 0).mean() > 0.5
    assert (f.camera.width, f.camera.height) == (320, 240) and f.frame_id == "camera_color_optical_frame"
    assert set(f.raw) == {"color", "depth", "info"}
    truth = f.truth.objects[0]
    assert truth.category == "mug" and truth.keypoints_cam.shape == (6, 3) and f.truth.stamp_ns == f.stamp_ns
    # ground truth is consistent with the frame: visible keypoints project where uv says
    K = f.camera.K
    p = truth.keypoints_cam @ K.T
    np.testing.assert_allclose(p[:, :2] / p[:, 2:], truth.keypoints_uv, atol=1e-6)
    # the camera moves between frames, the scene does not: the mug's pose changes
    assert not np.allclose(bag.frames[0].truth.objects[0].pose, bag.frames[2].truth.objects[0].pose, atol=1e-3)


def test_synthetic_bag_is_reproducible(tmp_path, small_bag):
    again = tmp_path / "again"
    write_synthetic_bag(again, "mug", frames=3, seed=1, width=320, height=240, rate_hz=5.0)
    a, b = read_bag_frames(small_bag, keep_raw=True), read_bag_frames(again, keep_raw=True)
    assert [f.raw for f in a.frames] == [f.raw for f in b.frames]
    assert [f.truth.to_json() for f in a.frames] == [f.truth.to_json() for f in b.frames]


def test_synthetic_bag_arguments(tmp_path, small_bag):
    with pytest.raises(BagError, match="exists"):
        write_synthetic_bag(small_bag, "mug", frames=1)
    with pytest.raises(InputError):
        write_synthetic_bag(tmp_path / "x", "mug", frames=0)
    with pytest.raises(InputError):
        write_synthetic_bag(tmp_path / "y", "mug", frames=1, rate_hz=0.0)
    with pytest.raises(UnknownCategoryError, match="teapot"):
        write_synthetic_bag(tmp_path / "z", "teapot", frames=1)


def test_ground_truth_json_round_trip_and_bad_documents(small_bag):
    truth = read_bag_frames(small_bag).frames[1].truth
    back = FrameTruth.from_json(truth.to_json())
    assert back.stamp_ns == truth.stamp_ns and back.objects[0].keypoint_names == truth.objects[0].keypoint_names
    np.testing.assert_array_equal(back.objects[0].keypoints_cam, truth.objects[0].keypoints_cam)
    with pytest.raises(BagError, match="format"):
        FrameTruth.from_json(json.dumps({"format": "other/9", "stamp_ns": 0, "objects": []}))
    with pytest.raises(BagError, match="not valid"):
        FrameTruth.from_json("{not json")
    with pytest.raises(BagError, match="not valid"):
        FrameTruth.from_json(json.dumps({"format": "semcorr-ground-truth/1", "stamp_ns": 0, "objects": [{}]}))


def test_bad_bags_get_typed_errors(tmp_path, small_bag):
    with pytest.raises(BagError, match="not found"):
        read_bag_frames(tmp_path / "missing")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "metadata.yaml").write_text("rosbag2_bagfile_information: [this is not a bag")
    with pytest.raises(BagError, match="cannot read"):
        read_bag_frames(broken)
    with pytest.raises(BagError, match="no topic '/nope'"):
        read_bag_frames(small_bag, BagTopics(color="/nope"))
    with pytest.raises(BagError, match="holds std_msgs/msg/String"):
        read_bag_frames(small_bag, BagTopics(color="/semcorr/ground_truth"))
    # a truncated database: every message read fails
    db = next(small_bag.glob("*.db3*"))
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "metadata.yaml").write_text((small_bag / "metadata.yaml").read_text())
    (cut / db.name).write_bytes(db.read_bytes()[: db.stat().st_size // 3])
    with pytest.raises(BagError):
        read_bag_frames(cut)


def test_the_real_ros1_realsense_bag_reads_and_converts(tmp_path):
    bag = read_bag_frames(REALSENSE_BAG, REALSENSE_TOPICS, slop_ns=1_000_000_000)
    # one colour image, two depth images in the recording: one pair within a second
    assert len(bag.frames) == 1 and bag.unpaired == 0
    f = bag.frames[0]
    assert f.color.shape == (480, 640, 3) and f.depth_encoding == "mono16" and f.truth is None
    assert abs(f.camera.fx - 613.2) < 0.1 and (f.camera.width, f.camera.height) == (640, 480)
    out = convert_ros1_bag(REALSENSE_BAG, tmp_path / "rs2")
    assert out["topics"]["/device_0/sensor_1/Color_0/image/data"] == ["sensor_msgs/msg/Image", 1]
    assert out["topics"]["/device_0/sensor_0/Depth_0/image/data"] == ["sensor_msgs/msg/Image", 2]
    bag2 = read_bag_frames(tmp_path / "rs2", REALSENSE_TOPICS, slop_ns=1_000_000_000)
    np.testing.assert_array_equal(bag2.frames[0].color, f.color)
    np.testing.assert_array_equal(bag2.frames[0].depth, f.depth)
    with pytest.raises(BagError, match="exists"):
        convert_ros1_bag(REALSENSE_BAG, tmp_path / "rs2")
    with pytest.raises(BagError, match="not found"):
        convert_ros1_bag(tmp_path / "none.bag", tmp_path / "rs3")
    # offline evaluation needs ground truth, which a camera recording does not have
    with pytest.raises(BagError, match="ground_truth"):
        evaluate_bag(tmp_path / "rs2", "mug", topics=REALSENSE_TOPICS)


def _truth_object(xyz):
    from semcorr_core.bags import TruthObject

    names = ("rim_center", "bottom_center", "handle_top", "handle_bottom", "handle_outer", "rim_front")
    pose = np.eye(4)
    pose[:3, 3] = xyz[1]
    return TruthObject(1, "mug", names, xyz, np.tile([[100.0, 100.0]], (6, 1)), np.array([1, 1, 1, 0, 0, 0], bool),
                       (50, 50, 100, 100), pose, ("body", "handle"))


def test_scoring_by_hand():
    names = ("rim_center", "bottom_center", "handle_top", "handle_bottom", "handle_outer", "rim_front")
    xyz = np.array([[0, 0, 0.6], [0, 0.1, 0.6], [0.05, 0, 0.6], [0.05, 0.05, 0.6], [0.08, 0.02, 0.6], [-0.04, 0, 0.6]])
    truth = FrameTruth(0, [_truth_object(xyz)])
    exact = ObjectEstimate(xyz.copy(), np.tile([[100.0, 100.0]], (6, 1)), np.eye(3), xyz[1].copy(), 1.0)
    off = exact._replace(xyz=xyz + [0.015, 0, 0])  # every keypoint 1.5 cm off
    far = exact._replace(xyz=xyz + [1.0, 0, 0])  # another object
    r = score_bag_frames("mug", names, [truth, truth, truth], [[far, exact], [off], None])
    # frame 0: exact (the far one is not matched); frame 1: 1.5 cm; frame 2: lost
    assert r["detection_rate"] == pytest.approx(2 / 3)
    assert r["visible"]["n"] == 9 and r["visible"]["pck3d_1cm"] == pytest.approx(3 / 9)
    assert r["visible"]["pck3d_2cm"] == pytest.approx(6 / 9)
    assert r["visible"]["median_m"] == pytest.approx(0.015)
    assert r["occluded"]["n"] == 9 and r["occluded"]["pck3d_2cm"] == pytest.approx(6 / 9)
    assert r["pck2d_0p05"] == 1.0 and r["rotation_error_deg_median"] == pytest.approx(0.0, abs=1e-6)
    assert match_estimate([far], xyz) is None and match_estimate([off, exact], xyz) is exact
    # a keypoint left out (NaN) does not spoil the match; fewer than half present does
    partial = exact._replace(xyz=np.where(np.arange(6)[:, None] < 2, np.nan, xyz))
    assert match_estimate([partial], xyz) is partial
    assert match_estimate([exact._replace(xyz=np.where(np.arange(6)[:, None] < 4, np.nan, xyz))], xyz) is None
    # a frame the detector refused: a miss, listed with its reason
    refused = score_bag_frames("mug", names, [truth, truth], [[exact], InvalidDepthError("3 valid readings")])
    assert refused["detection_rate"] == 0.5 and refused["frames_refused"] == 1
    assert refused["refusals"] == ["frame 1: 3 valid readings"]
    with pytest.raises(InputError, match="estimate lists"):
        score_bag_frames("mug", names, [truth], [])
    with pytest.raises(BagError, match="no keypoint"):
        score_bag_frames("mug", names + ("spout",), [truth], [[exact]])
    with pytest.raises(BagError, match="no bottle"):
        score_bag_frames("bottle", ("cap_top",), [truth], [[exact]])


def test_offline_evaluation_of_a_small_bag(small_bag):
    r = evaluate_bag(small_bag)
    assert r["bench"] == "bag_eval" and r["mode"] == "offline" and r["category"] == "mug" and r["frames"] == 3
    assert r["detection_rate"] > 0 and r["all"]["n"] == 18
    assert r["visible"] is None or 0 <= r["visible"]["median_m"] < 0.1
    assert set(r["latency_ms_median"]) >= {"segment", "embed", "align", "keypoints", "total"}


def test_the_shipped_sample_bag():
    path = default_sample_bag()
    size = sum(p.stat().st_size for p in path.iterdir())
    assert size <= 20 * 1024 * 1024
    bag = read_bag_frames(path, require_truth=True)
    assert len(bag.frames) == 20 and bag.unpaired == 0 and bag.frames[0].color.shape == (480, 640, 3)
    assert {o.category for f in bag.frames for o in f.truth.objects} == {"mug"}


def test_node_input_topics_under_a_namespace():
    assert BagTopics.node_inputs("camera") == BagTopics.node_inputs("/camera/")
    t = BagTopics.node_inputs("/camera")
    assert (t.color, t.depth, t.camera_info) == ("/camera/color/image_raw", "/camera/aligned_depth_to_color/image_raw",
                                                 "/camera/color/camera_info")
    assert BagTopics.node_inputs("/").color == "/color/image_raw"
