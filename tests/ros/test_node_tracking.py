"""The node's ``tracking`` parameter over real DDS: two noisy renders of one static scene; the
second ``~/keypoints`` message carries the tracker's moving average of the two detections (what
``semcorr_core.keypoints.KeypointTracker`` gives in-process) and the same instance id."""

from __future__ import annotations

import signal

import numpy as np

from .test_node_support import OUTPUT_TIMEOUT_S, CameraPeer, Listener, start_node, stop_all, write_frame


def _two_views_of_one_scene():
    from semcorr_core.bench.embed3d import TEST_SEED_OFFSET
    from semcorr_core.data.render import DepthNoiseConfig, RaycastRenderer, SceneConfig, sample_scene
    from semcorr_core.data.rgbd import depth_to_millimetres
    from semcorr_core.data.shapes import generate_shapes

    cfg = SceneConfig(objects_per_scene=(1, 1), distractors_per_scene=(0, 0), elevation_deg=(30.0, 45.0))
    scene = sample_scene([], np.random.default_rng(4), cfg, primary=generate_shapes("mug", 1, TEST_SEED_OFFSET + 2100)[0])
    renderer = RaycastRenderer(cfg.camera())
    frames = [renderer.render(scene, np.random.default_rng([4, i]), DepthNoiseConfig(enabled=True)) for i in range(2)]
    return [(f.color, depth_to_millimetres(f.depth), f.camera) for f in frames]


def test_tracking_smooths_keypoints_and_keeps_the_id(domain_env, ros_in_process, tmp_path):
    from semcorr_core.data.rgbd import make_rgbd
    from semcorr_core.keypoints import KeypointTracker
    from semcorr_core.pipeline import Detector

    views = _two_views_of_one_scene()
    det = Detector.for_category("mug")
    tracker = KeypointTracker(alpha=0.5)
    want = [tracker.update(det.detect(make_rgbd(c, d, cam)), cam) for c, d, cam in views]
    raw_second = det.detect(make_rgbd(*views[1]))
    assert len(want[1].objects) == 1 and len(raw_second.objects) == 1
    node = start_node(domain_env, tmp_path, "qos_reliability:=reliable", "tracking:=true", "tracking_alpha:=0.5")
    listener = camera = None
    try:
        files = [write_frame(tmp_path / f"v{i}.npz", color=c, depth=d, camera=cam) for i, (c, d, cam) in enumerate(views)]
        listener = Listener(domain_env)
        listener.wait_for(lambda: listener.category_info, 60, "~/category_info (node start)", node.log)
        camera = CameraPeer(domain_env)
        msgs = []
        for f in files:
            stamp = camera.publish(f)["stamp_ns"]
            [m] = listener.wait_for(lambda: listener.keypoints_for(stamp), OUTPUT_TIMEOUT_S, "keypoints", node.log)
            msgs.append(m)
        ids = [m.objects[0].instance_id for m in msgs]
        assert ids[0] == ids[1] == want[1].objects[0].instance_id
        got = np.array([[k.position.x, k.position.y, k.position.z] for k in msgs[1].objects[0].keypoints])
        smoothed = np.stack([k.xyz for k in want[1].objects[0].keypoints])
        raw = np.stack([k.xyz for k in raw_second.objects[0].keypoints])
        assert np.abs(got - smoothed).max() < 1e-6  # the node applies the tracker ...
        assert np.abs(smoothed - raw).max() > 1e-4  # ... which is not the raw detection
        rc, _ = node.signal_and_wait(signal.SIGINT, 15)
        assert rc == 0, node.log()[-3000:]
    finally:
        stop_all(node, camera, listener)
