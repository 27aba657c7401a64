"""The node with a category list over real DDS: one latched ~/category_info per category, and each
object published with its own category's keypoint names and indices, equal to the library's
MultiCategoryDetector on the same frame."""

from __future__ import annotations

import signal

import numpy as np

from tests.pipeline.test_multi_category import _bottle_and_bowl

from .test_node_support import OUTPUT_TIMEOUT_S, CameraPeer, Listener, start_node, stop_all, write_frame


def test_two_categories_in_one_frame(ros_in_process, domain_env, tmp_path):
    from semcorr_core.data.rgbd import depth_to_millimetres, make_rgbd
    from semcorr_core.pipeline import MultiCategoryDetector

    fr, _ = _bottle_and_bowl()
    depth_mm = depth_to_millimetres(fr.depth)
    want = MultiCategoryDetector.for_categories(["bottle", "bowl"]).detect(make_rgbd(fr.color, depth_mm, fr.camera))
    assert sorted(o.category for o in want.objects) == ["bottle", "bowl"]
    frame = write_frame(tmp_path / "two.npz", color=fr.color, depth=depth_mm, camera=fr.camera)
    node = start_node(domain_env, tmp_path, "category:=bottle,bowl", "qos_reliability:=reliable")
    listener = camera = None
    try:
        listener = Listener(domain_env)
        infos = listener.wait_for(lambda: listener.category_info if len(listener.category_info) >= 2 else [], 90,
                                  "two ~/category_info messages", node.log)
        names = {m.category: list(m.keypoint_names) for m in infos}
        assert names == {"bottle": ["cap_top", "neck", "shoulder", "bottom_center"],
                         "bowl": ["rim_center", "bottom_center"]}
        camera = CameraPeer(domain_env)
        stamp = camera.publish(frame)["stamp_ns"]
        [msg] = listener.wait_for(lambda: listener.keypoints_for(stamp), OUTPUT_TIMEOUT_S, "keypoints", node.log)
        got = {o.category: o for o in msg.objects}
        assert sorted(got) == ["bottle", "bowl"]
        for obj in want.objects:
            out = got[obj.category]
            assert [k.name for k in out.keypoints] == names[obj.category]
            assert [k.index for k in out.keypoints] == list(range(len(names[obj.category])))
            xyz = np.array([[k.position.x, k.position.y, k.position.z] for k in out.keypoints])
            assert np.abs(xyz - np.stack([k.xyz for k in obj.keypoints])).max() < 1e-6
        assert "bottle (4 keypoints" in node.log() and "bowl (2 keypoints" in node.log()
        rc, _ = node.signal_and_wait(signal.SIGINT, 15)
        assert rc == 0, node.log()[-3000:]
    finally:
        stop_all(node, camera, listener)
