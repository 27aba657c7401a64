"""The node with an instance mask over real DDS, run the way a deployment runs it: in a namespace,
with inputs remapped, from a parameter file of its own (``use_mask: true`` in the YAML, so the
``/**/semcorr_perception`` key must match under the namespace). Colour, depth and mask are
synced; ``frame_id_override`` names the output frame; the mask replaces the built-in segmenter
(same keypoints as the library given the same mask, the mask's instance id comes back); an empty
mask is a reported bad input; a frame whose mask never comes is not processed."""

from __future__ import annotations

import signal
import time

import numpy as np
import yaml

from .test_node_support import (
    OUTPUT_TIMEOUT_S, PARAMS_YAML, CameraPeer, Listener, diag_values, level, render_mug_frames, start_node, stop_all,
    write_frame,
)


def test_instance_mask_input(ros_in_process, domain_env, tmp_path):
    from semcorr_core.data.rgbd import make_rgbd
    from semcorr_core.pipeline import Detector

    params = yaml.safe_load(PARAMS_YAML.read_text())
    params["/**/semcorr_perception"]["ros__parameters"].update(use_mask=True, qos_reliability="reliable",
                                                              frame_id_override="tool_camera_optical")
    params_file = tmp_path / "mask_params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    remaps = ("-r", "color/image_raw:=/color/image_raw", "-r", "aligned_depth_to_color/image_raw:=/color/depth",
              "-r", "color/camera_info:=/color/camera_info")
    node = start_node(domain_env, tmp_path, params_file=params_file, extra=("--namespace", "cam", *remaps))
    listener = camera = None
    try:
        [f] = render_mug_frames(1, seed=2)
        ids = f["mask"].astype(np.uint16) * 7  # instance id 7
        ref = Detector.for_category("mug").detect(make_rgbd(f["color"], f["depth_mm"], f["camera"], mask=ids))
        [want] = ref.objects
        good = write_frame(tmp_path / "good.npz", color=f["color"], depth=f["depth_mm"], camera=f["camera"],
                           mask=ids, mask_encoding="mono16")
        empty = write_frame(tmp_path / "empty.npz", color=f["color"], depth=f["depth_mm"], camera=f["camera"],
                            mask=np.zeros_like(ids, dtype=np.uint8), mask_encoding="mono8")
        listener = Listener(domain_env, node_ns="/cam/semcorr_perception")
        listener.wait_for(lambda: listener.category_info, 60, "~/category_info (node start)", node.log)
        # depth on a remapped name, the mask on the namespaced default name (/cam/mask)
        camera = CameraPeer(domain_env, mask_topic="/cam/mask", depth_topic="/color/depth")

        stamp = camera.publish(good, parts=("info", "mask", "depth", "color"))["stamp_ns"]
        [msg] = listener.wait_for(lambda: listener.keypoints_for(stamp), OUTPUT_TIMEOUT_S, "keypoints with a mask",
                                  node.log)
        assert msg.header.frame_id == "tool_camera_optical" and msg.header.stamp.nanosec == stamp % 10**9
        [obj] = msg.objects
        assert obj.instance_id == 7  # the mask's own id comes back (the library numbers instances 1..N)
        got = np.array([[k.position.x, k.position.y, k.position.z] for k in obj.keypoints])
        assert np.abs(got - np.stack([k.xyz for k in want.keypoints])).max() < 1e-6

        t0 = time.time()
        bad = camera.publish(empty, parts=("info", "mask", "depth", "color"))["stamp_ns"]
        st = listener.wait_for(lambda: [s for t, s in listener.diagnostics if t >= t0 and
                                        "frame rejected (mask)" in s.message][:1], 10, "an empty-mask ERROR",
                               node.log)[0]
        assert level(st) == 2 and "selects no pixel" in st.message
        assert st.name == "semcorr_ros: /cam/semcorr_perception"

        no_mask = camera.publish(good, parts=("info", "depth", "color"))["stamp_ns"]  # the mask never comes
        time.sleep(0.1)  # frames a camera period apart: farther than sync_slop_s (0.01 s)
        again = camera.publish(good, parts=("info", "mask", "depth", "color"))["stamp_ns"]
        listener.wait_for(lambda: listener.keypoints_for(again), OUTPUT_TIMEOUT_S, "keypoints after a bad mask",
                          node.log)
        assert not listener.keypoints_for(bad) and not listener.keypoints_for(no_mask)
        v = listener.wait_for(lambda: [diag_values(s) for t, s in listener.diagnostics
                                       if t >= t0 and int(diag_values(s)["sync_unmatched"]) >= 1][:1], 10,
                              "the frame without a mask counted as unmatched", node.log)[0]
        assert "input_rate_mask_hz" in v
        rc, took = node.signal_and_wait(signal.SIGINT, 15)
        assert rc == 0 and took < 5.0, node.log()[-3000:]
    finally:
        stop_all(node, camera, listener)
