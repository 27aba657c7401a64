"""semcorr_ros.conversions / markers / correspondence / diagnostics on real ROS message classes
(in process, no graph): Image round trips, rejected encodings, PointCloud2 layout, messages built
from detections."""

from __future__ import annotations

import numpy as np
import pytest

from .test_node_support import use_source_tree

use_source_tree()

pytestmark = pytest.mark.usefixtures("ros_in_process")


@pytest.fixture(scope="module")
def conv():
    from semcorr_ros import conversions

    return conversions


def _header(frame="cam"):
    from std_msgs.msg import Header

    h = Header(frame_id=frame)
    h.stamp.sec, h.stamp.nanosec = 12, 345
    return h


def _raw_image(arr, encoding, pad=0, big=False):
    """An Image built by hand (row padding, byte order), independent of array_to_image."""
    from sensor_msgs.msg import Image

    a = np.ascontiguousarray(arr)
    if big:
        a = a.astype(a.dtype.newbyteorder(">"))
    rows = a.reshape(a.shape[0], -1).view(np.uint8)
    rows = np.concatenate([rows, np.full((rows.shape[0], pad), 0xAB, np.uint8)], axis=1)
    m = Image(height=a.shape[0], width=a.shape[1], encoding=encoding, is_bigendian=int(big), step=rows.shape[1])
    m.data = rows.tobytes()
    return m


def test_rgb8_bgr8_round_trip(conv):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    msg = conv.array_to_image(rgb, "rgb8", _header())
    assert (msg.height, msg.width, msg.step, msg.encoding) == (5, 7, 21, "rgb8")
    assert msg.header.frame_id == "cam" and msg.header.stamp.nanosec == 345
    assert np.array_equal(conv.image_to_array(msg), rgb)
    assert np.array_equal(conv.color_from_image(msg), rgb)
    bgr = conv.array_to_image(np.ascontiguousarray(rgb[..., ::-1]), "bgr8")
    assert np.array_equal(conv.color_from_image(bgr), rgb)  # bgr8 comes out as RGB
    rgba = np.concatenate([rgb, np.full((5, 7, 1), 9, np.uint8)], axis=2)
    assert np.array_equal(conv.color_from_image(_raw_image(rgba, "rgba8")), rgb)


@pytest.mark.parametrize("encoding,dtype", [("16UC1", np.uint16), ("mono16", np.uint16), ("32FC1", np.float32)])
def test_depth_round_trip(conv, encoding, dtype):
    rng = np.random.default_rng(1)
    d = (rng.random((4, 6)) * 3000).astype(dtype)
    if dtype == np.float32:
        d[0, 0] = np.nan
    msg = conv.array_to_image(d, encoding)
    back = conv.depth_from_image(msg)
    assert back.dtype == dtype and back.shape == (4, 6)
    assert np.array_equal(back, d, equal_nan=True)


@pytest.mark.parametrize("encoding,dtype", [("16UC1", np.uint16), ("32FC1", np.float32), ("rgb8", np.uint8)])
def test_row_padding_and_big_endian(conv, encoding, dtype):
    rng = np.random.default_rng(2)
    shape = (3, 5, 3) if encoding == "rgb8" else (3, 5)
    a = (rng.random(shape) * 200).astype(dtype)
    for big in (False, True):
        got = conv.image_to_array(_raw_image(a, encoding, pad=6, big=big))
        assert got.dtype == np.dtype(dtype) and got.dtype.isnative
        assert np.array_equal(got, a)


def test_mask_encodings(conv):
    m = np.array([[0, 1], [2, 0]])
    for enc, dt in (("mono8", np.uint8), ("mono16", np.uint16), ("32SC1", np.int32)):
        out = conv.mask_from_image(conv.array_to_image(m.astype(dt), enc))
        assert out.dtype == np.int32 and np.array_equal(out, m)


def test_wrong_encodings_raise_typed_errors_naming_the_cause(conv):
    from semcorr_core.errors import DepthEncodingError, InputError

    rgb = conv.array_to_image(np.zeros((2, 2, 3), np.uint8), "rgb8")
    depth = conv.array_to_image(np.zeros((2, 2), np.uint16), "16UC1")
    with pytest.raises(DepthEncodingError, match=r"'rgb8'.*colour image on the depth input"):
        conv.depth_from_image(rgb)
    with pytest.raises(conv.ImageEncodingError, match=r"'16UC1'.*depth image on the colour input"):
        conv.color_from_image(depth)
    with pytest.raises(conv.ImageEncodingError, match="mask has encoding 'rgb8'"):
        conv.mask_from_image(rgb)
    odd = conv.array_to_image(np.zeros((2, 2), np.uint8), "mono8")
    odd.encoding = "yuv422"
    with pytest.raises(conv.ImageEncodingError, match="unsupported encoding 'yuv422'"):
        conv.image_to_array(odd)
    short = conv.array_to_image(np.zeros((4, 4), np.uint16), "16UC1")
    short.data = bytes(10)
    with pytest.raises(DepthEncodingError, match="truncated"):
        conv.depth_from_image(short)
    small_step = conv.array_to_image(np.zeros((4, 4), np.uint16), "16UC1")
    small_step.step = 4
    with pytest.raises(InputError, match="step 4"):
        conv.image_to_array(small_step)
    with pytest.raises(conv.ImageEncodingError):
        conv.array_to_image(np.zeros((2, 2), np.float64), "32FC1")  # dtype does not fit the encoding


def test_camera_info(conv):
    from sensor_msgs.msg import CameraInfo
    from semcorr_core.errors import IntrinsicsError

    info = CameraInfo(width=640, height=480)
    info.k = [600.0, 0.0, 319.5, 0.0, 601.0, 239.5, 0.0, 0.0, 1.0]
    cam = conv.camera_from_info(info)
    assert (cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height) == (600.0, 601.0, 319.5, 239.5, 640, 480)
    with pytest.raises(IntrinsicsError, match="focal lengths"):
        conv.camera_from_info(CameraInfo(width=640, height=480))  # K all zero: uncalibrated driver
    with pytest.raises(IntrinsicsError, match="0x0"):
        conv.camera_from_info(CameraInfo())


def test_point_cloud_layout(conv):
    from sensor_msgs.msg import PointField

    from semcorr_ros.correspondence import CLOUD_FIELDS

    vals = np.arange(3 * 7, dtype=np.float32).reshape(3, 7) / 8
    msg = conv.point_cloud(_header("optical"), CLOUD_FIELDS, vals)
    assert [f.name for f in msg.fields] == ["x", "y", "z", "cx", "cy", "cz", "confidence"]
    assert [f.offset for f in msg.fields] == [0, 4, 8, 12, 16, 20, 24]
    assert all(f.datatype == PointField.FLOAT32 and f.count == 1 for f in msg.fields)
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (1, 3, 28, 84)
    assert msg.is_dense and not msg.is_bigendian and msg.header.frame_id == "optical"
    dt = np.dtype({"names": list(CLOUD_FIELDS), "formats": ["<f4"] * 7, "offsets": [f.offset for f in msg.fields],
                   "itemsize": msg.point_step})
    back = np.frombuffer(bytes(msg.data), dtype=dt)
    assert np.array_equal(np.stack([back[n] for n in CLOUD_FIELDS], axis=1), vals)


def test_quaternion_from_matrix(conv):
    from scipy.spatial.transform import Rotation

    from semcorr_core.errors import InputError

    mats = [np.eye(3), np.diag([1.0, -1.0, -1.0]), np.diag([-1.0, 1.0, -1.0]), np.diag([-1.0, -1.0, 1.0])]
    mats += list(Rotation.random(20, random_state=4).as_matrix())
    for R in mats:
        q = np.array(conv.quaternion_from_matrix(R))
        assert abs(np.linalg.norm(q) - 1) < 1e-12 and q[3] >= 0
        assert np.allclose(Rotation.from_quat(q).as_matrix(), R, atol=1e-9)
        assert np.allclose(conv.matrix_from_quaternion(*q), R, atol=1e-9)
    # hand case: 90 degrees about z, given unnormalised
    np.testing.assert_allclose(conv.matrix_from_quaternion(0, 0, 2.0, 2.0), [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    with pytest.raises(InputError, match="no direction"):
        conv.matrix_from_quaternion(0, 0, 0, 0)


def _fake_objects():
    from semcorr_core.geometry.similarity import SimilarityTransform
    from semcorr_core.pipeline import DetectedKeypoint, DetectedObject

    from scipy.spatial.transform import Rotation

    R = Rotation.from_euler("xyz", [10, 20, 30], degrees=True).as_matrix()
    mask = np.zeros((4, 5), bool)
    mask[1:3, 1:4] = True
    cmap = np.full((4, 5, 3), np.nan, np.float32)
    cmap[mask] = [0.0, 0.0, 0.05]
    kps = [DetectedKeypoint("bottom_center", np.array([0.1, 0.2, 0.9]), 10.5, 20.25, 0.4, False, "prior", 0.015625),
           DetectedKeypoint("rim_center", np.array([0.1, 0.1, 0.9]), 11.0, 12.0, 0.8, True, "measured")]
    return [DetectedObject("mug", 3, SimilarityTransform(R, np.array([0.1, 0.15, 0.9]), 1.25), 0.8, kps, mask, cmap)]


def test_semantic_object_array_in_category_order(conv):
    from scipy.spatial.transform import Rotation

    names = ["rim_center", "bottom_center", "handle_top"]
    obj = _fake_objects()[0]
    msg = conv.semantic_object_array(_header("optical"), [obj], names)
    assert msg.header.frame_id == "optical" and msg.header.stamp.sec == 12
    [o] = msg.objects
    assert (o.category, o.instance_id, o.scale, o.score) == ("mug", 3, 1.25, pytest.approx(0.8))
    assert [(k.name, k.index) for k in o.keypoints] == [("rim_center", 0), ("bottom_center", 1)]
    k = o.keypoints[1]
    assert (k.position.x, k.position.y, k.position.z, k.u, k.v, k.visible) == (0.1, 0.2, 0.9, 10.5, 20.25, False)
    assert (k.source, k.position_sigma) == ("prior", 0.015625)
    rim = o.keypoints[0]  # no uncertainty reported: NaN on the wire
    assert rim.source == "measured" and np.isnan(rim.position_sigma)
    q = o.pose.orientation
    assert np.allclose(Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix(), obj.pose.R)
    assert (o.pose.position.x, o.pose.position.y, o.pose.position.z) == (0.1, 0.15, 0.9)


def test_semantic_object_array_names_per_category(conv):
    import dataclasses

    mug = _fake_objects()[0]
    bowl = dataclasses.replace(mug, category="bowl", instance_id=4)
    names = {"mug": ["handle_top", "bottom_center"], "bowl": ["rim_center", "bottom_center"]}
    msg = conv.semantic_object_array(_header("optical"), [mug, bowl], names)
    assert [(k.name, k.index) for k in msg.objects[0].keypoints] == [("bottom_center", 1)]
    assert [(k.name, k.index) for k in msg.objects[1].keypoints] == [("rim_center", 0), ("bottom_center", 1)]


def test_markers_sphere_and_label_per_keypoint():
    from visualization_msgs.msg import Marker

    from semcorr_ros.markers import keypoint_markers

    arr = keypoint_markers(_header("optical"), _fake_objects())
    assert arr.markers[0].action == Marker.DELETEALL
    spheres = [m for m in arr.markers[1:] if m.type == Marker.SPHERE]
    labels = [m for m in arr.markers[1:] if m.type == Marker.TEXT_VIEW_FACING]
    assert [m.text for m in labels] == ["bottom_center", "rim_center"]
    assert len(spheres) == 2 and all(m.header.frame_id == "optical" for m in arr.markers)
    assert (spheres[0].pose.position.x, spheres[0].pose.position.z) == (0.1, 0.9)
    assert spheres[0].color.a < spheres[1].color.a  # occluded keypoint translucent
    assert len({(m.ns, m.id) for m in arr.markers[1:]}) == 4


def test_dense_outputs_and_confidence():
    from semcorr_ros.correspondence import PrototypeConfidence, dense_outputs

    obj = _fake_objects()[0]
    pts = np.full((4, 5, 3), np.nan)
    pts[1:3, 1:3] = [0.0, 0.0, 1.0]  # one object pixel column without depth
    proto = PrototypeConfidence(np.array([[0.0, 0.0, 0.05], [1.0, 1.0, 1.0]]))
    d = dense_outputs([obj], pts, proto)
    assert d.canonical.dtype == np.float32 and np.isnan(d.canonical[0, 0]).all()
    assert np.allclose(d.canonical[1, 1], [0, 0, 0.05])
    assert np.allclose(d.confidence[obj.mask], 0.8) and (d.confidence[~obj.mask] == 0).all()
    assert d.cloud.shape == (4, 7) and np.allclose(d.cloud[:, :3], [0, 0, 1]) and np.allclose(d.cloud[:, 6], 0.8)
    far = PrototypeConfidence(np.array([[0.0, 0.0, 0.09]]))  # 4 cm off the prototype surface, sigma 2 cm
    assert np.allclose(dense_outputs([obj], pts, far).confidence[obj.mask], 0.8 * np.exp(-2.0), rtol=1e-5)
    # one per category: the mug's own; a category without one gets the object score
    assert np.allclose(dense_outputs([obj], pts, {"mug": far, "bowl": proto}).confidence[obj.mask],
                       0.8 * np.exp(-2.0), rtol=1e-5)
    assert np.allclose(dense_outputs([obj], pts, {"bowl": far}).confidence[obj.mask], 0.8)


def test_issue_board_throttles_and_summarises():
    from semcorr_ros.diagnostics import ERROR, OK, WARN, IssueBoard

    t = [0.0]
    logged = []
    b = IssueBoard(lambda lvl, msg: logged.append((lvl, msg)), throttle_s=5.0, clock=lambda: t[0])
    assert b.summary() == (OK, "")
    assert b.report("input:color", WARN, "color stalled", kind="stream")
    for t[0] in (1.0, 2.0, 3.0):
        assert not b.report("input:color", WARN, "color stalled", kind="stream")
    assert logged == [(WARN, "color stalled")]  # repeats within 5 s are not logged
    t[0] = 6.0
    b.report("input:color", WARN, "color stalled", kind="stream")
    assert logged[-1] == (WARN, "color stalled (repeated 4x in 6 s)")  # 3 suppressed + this one
    b.report("frame:encoding", ERROR, "frame rejected (encoding): bad")
    assert b.summary() == (ERROR, "frame rejected (encoding): bad; color stalled")
    b.clear_kind("frame")
    assert b.summary() == (WARN, "color stalled")
    assert b.last_error == "frame rejected (encoding): bad"
