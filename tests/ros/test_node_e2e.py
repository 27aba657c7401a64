"""The perception node end to end over real DDS: three processes (the node started by
``semcorr ros run`` with the launch file's parameter file and a RELIABLE override, a camera peer
publishing synthetic mug frames, and this test subscribing to the outputs).

What a grasp planner relies on, checked here: one ``~/keypoints`` message per frame when frames
come slower than the node's throughput, with the colour stamp and frame; keypoint names and order
as on ``~/category_info``; keypoints equal to the library's own detection on the same arrays (the
ROS path adds no error) and close to ground truth; the dense outputs' layout; a burst faster than
the model drops frames instead of queueing them, and the newest frame is processed; SIGINT during
inference ends the node with exit code 0.

The tests of this module share one node session and run in order.
"""

from __future__ import annotations

import json
import signal
import time

import numpy as np
import pytest

from .test_node_support import (
    COLOR_FRAME, OUTPUT_TIMEOUT_S, CameraPeer, Listener, diag_values, module_domain_env, render_mug_frames,
    stamp_ns, start_node, stop_all, write_frame,
)

N_FRAMES = 4
MEDIAN_ERROR_LIMIT_M = 0.03  # the shipped mug model: ~1 cm median on visible keypoints of such frames
FIGURES: dict = {}


@pytest.fixture(scope="module")
def session(ros_env, ros_in_process, tmp_path_factory):
    from semcorr_core.data.rgbd import make_rgbd
    from semcorr_core.pipeline import Detector

    tmp = tmp_path_factory.mktemp("node_e2e")
    env = module_domain_env(ros_env, tmp / "ros_log", salt=11)
    node = start_node(env, tmp, "qos_reliability:=reliable")  # BEST_EFFORT loses large images on loopback
    listener = camera = None
    try:
        frames = render_mug_frames(N_FRAMES, seed=0)
        detector = Detector.for_category("mug")
        files, refs = [], []
        for i, f in enumerate(frames):
            bgr = i % 2 == 1  # every other frame as bgr8: the node must swap it back
            color = np.ascontiguousarray(f["color"][..., ::-1]) if bgr else f["color"]
            files.append(write_frame(tmp / f"frame{i}.npz", color=color, color_encoding="bgr8" if bgr else "rgb8",
                                     depth=f["depth_mm"], camera=f["camera"]))
            refs.append(detector.detect(make_rgbd(f["color"], f["depth_mm"], f["camera"])))
        listener = Listener(env, images=True)
        listener.wait_for(lambda: listener.category_info, 60, "~/category_info (node start)", node.log)
        camera = CameraPeer(env)
        yield dict(node=node, listener=listener, camera=camera, frames=frames, files=files, refs=refs, sent=[])
    finally:
        stop_all(node, camera, listener)
        if FIGURES:
            print("\nnode end-to-end figures: " + json.dumps(FIGURES, indent=1))


def _wait_keypoints(s, stamp):
    lis = s["listener"]
    return lis.wait_for(lambda: lis.keypoints_for(stamp), OUTPUT_TIMEOUT_S, f"~/keypoints with stamp {stamp}",
                        s["node"].log)


def _object_for(ref_dets, gt_mask, published):
    """The reference object that is the ground-truth mug (largest mask overlap) and the published
    object with its instance id."""
    best = max(ref_dets.objects, key=lambda o: int((o.mask & gt_mask).sum()), default=None)
    assert best is not None and (best.mask & gt_mask).sum() > 0, "the library itself found no mug"
    pub = [o for o in published.objects if o.instance_id == best.instance_id]
    assert len(pub) == 1, f"published instance ids {[o.instance_id for o in published.objects]}"
    return best, pub[0]


def test_one_keypoint_message_per_frame_matching_library_and_ground_truth(session):
    s, lis = session, session["listener"]
    info = lis.category_info[-1]
    assert info.category == "mug" and info.symmetry == "reflection"
    names = list(info.keypoint_names)
    assert names == ["rim_center", "bottom_center", "handle_top", "handle_bottom", "handle_outer", "rim_front"]
    errors, latencies = [], []
    for i, (f, path, ref) in enumerate(zip(s["frames"], s["files"], s["refs"])):
        r = s["camera"].publish(path)
        msgs = _wait_keypoints(s, r["stamp_ns"])
        latencies.append(lis.keypoints[-1][0] - r["t_wall"])
        s["sent"].append(r["stamp_ns"])
        [msg] = msgs
        assert msg.header.frame_id == COLOR_FRAME
        assert len(msg.objects) == len(ref.objects)
        best, obj = _object_for(ref, f["mask"], msg)
        assert obj.category == "mug"
        assert [k.name for k in obj.keypoints] == names and [k.index for k in obj.keypoints] == list(range(len(names)))
        got = np.array([[k.position.x, k.position.y, k.position.z] for k in obj.keypoints])
        want = np.stack([k.xyz for k in best.keypoints])
        # same arrays, same seeded detector: the node's conversions must not move a keypoint
        assert np.abs(got - want).max() < 1e-6, f"frame {i}: node vs library differ by {np.abs(got - want).max()} m"
        assert [k.visible for k in obj.keypoints] == [k.visible for k in best.keypoints]
        assert np.allclose([[k.u, k.v] for k in obj.keypoints], [[k.u, k.v] for k in best.keypoints], atol=1e-3)
        assert obj.score == pytest.approx(best.score, abs=1e-6) and obj.scale == pytest.approx(best.pose.s, rel=1e-6)
        gt = f["keypoints_cam"][[f["names"].index(n) for n in names]]
        vis = f["visible"][[f["names"].index(n) for n in names]]
        errors += list(np.linalg.norm(got - gt, axis=1)[vis])
    assert sorted(stamp_ns(m.header) for _, m in lis.keypoints) == s["sent"], "exactly one message per frame"
    median = float(np.median(errors))
    FIGURES.update(visible_keypoints=len(errors), median_error_m=round(median, 4),
                   pck3d_2cm=round(float(np.mean(np.array(errors) <= 0.02)), 3),
                   publish_to_keypoints_s=[round(x, 3) for x in latencies])
    assert len(errors) >= 2 * N_FRAMES
    assert median < MEDIAN_ERROR_LIMIT_M, f"median visible keypoint error {median:.3f} m"


def test_dense_outputs_markers_and_debug_image(session):
    s, lis = session, session["listener"]
    assert s["sent"], "needs the frames of the previous test"
    outputs = ("canonical_coords", "confidence", "correspondence_cloud", "markers", "debug_image")

    def of_frame(name, stamp):
        def find():
            if name == "markers":
                return [m for _, m in lis.images[name] if m.markers and stamp_ns(m.markers[0].header) == stamp]
            return [m for _, m in lis.images[name] if stamp_ns(m.header) == stamp]
        return find

    # The image outputs keep the last 2 samples (a robot wants the newest): on a loaded machine a
    # reliable 1 MB image still being repaired when two newer frames are published is superseded,
    # never delivered (seen once in a full CI run). The newest frame's outputs cannot be: wait
    # for them, then check every frame's that arrived.
    last = len(s["sent"]) - 1
    for name in outputs:
        lis.wait_for(of_frame(name, s["sent"][last]), OUTPUT_TIMEOUT_S, f"{name} of frame {last}", s["node"].log)
    superseded = []
    for i, stamp in enumerate(s["sent"]):
        f, ref = s["frames"][i], s["refs"][i]
        got = {}
        for name in outputs:
            with lis.cv:
                found = of_frame(name, stamp)()
            assert len(found) <= 1, f"{len(found)} {name} messages for frame {i}"
            if found:
                got[name] = found[0]
            else:
                superseded.append((i, name))
        # two newer samples supersede one: the last two frames' outputs must all be there
        assert i < last - 1 or len(got) == len(outputs), f"frame {i} of {last + 1} lacks {set(outputs) - set(got)}"
        if len(got) < len(outputs):
            continue
        h, w = f["depth_mm"].shape
        objects_px = np.zeros((h, w), bool)
        for o in ref.objects:
            objects_px |= o.mask
        can, conf = got["canonical_coords"], got["confidence"]
        assert (can.encoding, can.height, can.width, can.step) == ("32FC3", h, w, w * 12)
        assert (conf.encoding, conf.height, conf.width) == ("32FC1", h, w)
        cmap = np.frombuffer(bytes(can.data), np.float32).reshape(h, w, 3)
        cval = np.frombuffer(bytes(conf.data), np.float32).reshape(h, w)
        finite = np.isfinite(cmap).all(-1)
        assert finite.any() and not (finite & ~objects_px).any(), "canonical coordinates only on object pixels"
        ref_map = np.full((h, w, 3), np.nan, np.float32)
        for o in ref.objects:
            ref_map[o.mask] = o.canonical_map[o.mask]
        assert np.allclose(cmap[finite], ref_map[finite], atol=1e-5)
        assert (cval[~finite] == 0).all() and (cval >= 0).all() and (cval <= 1).all() and cval[finite].max() > 0.05

        cloud = got["correspondence_cloud"]
        assert [fl.name for fl in cloud.fields] == ["x", "y", "z", "cx", "cy", "cz", "confidence"]
        assert cloud.point_step == 28 and cloud.height == 1 and cloud.header.frame_id == COLOR_FRAME
        pts = np.frombuffer(bytes(cloud.data), np.float32).reshape(-1, 7)
        with_depth = finite & (f["depth_mm"] > 0)
        assert len(pts) == int(with_depth.sum()) and np.isfinite(pts).all()
        # x, y, z are the back-projected depth: z equals the depth reading in metres
        assert np.allclose(np.sort(pts[:, 2]), np.sort(f["depth_mm"][with_depth] / 1000.0), atol=1e-6)

        markers = got["markers"].markers
        kp_msg = lis.keypoints_for(stamp)[0]
        n_kp = sum(len(o.keypoints) for o in kp_msg.objects)
        assert len(markers) == 1 + 2 * n_kp and all(m.header.frame_id == COLOR_FRAME for m in markers)
        labels = [m.text for m in markers if m.text]
        assert labels == [k.name for o in kp_msg.objects for k in o.keypoints]

        dbg = got["debug_image"]
        assert (dbg.encoding, dbg.height, dbg.width) == ("rgb8", h, w)
        pic = np.frombuffer(bytes(dbg.data), np.uint8).reshape(h, w, 3)
        away = ~objects_px
        same = float((pic[away] == f["color"][away]).all(-1).mean())
        swapped = float((pic[away] == f["color"][away][:, ::-1]).all(-1).mean())
        # the picture is the RGB input with overlays (bgr8 frames included); a channel swap would show
        assert same > 0.9 and swapped < 0.5, (i, same, swapped)
    FIGURES.update(dense_outputs_superseded=superseded)


def _diag_after(lis, t0, pred, what, log, timeout=10.0):
    """The first node diagnostics received after wall time ``t0`` whose values satisfy ``pred``."""
    def find():
        return [st for t, st in lis.diagnostics if t >= t0 and pred(diag_values(st))][:1]
    return diag_values(lis.wait_for(find, timeout, what, log)[0])


def _settled(v) -> bool:
    return v["inference_busy"] == "false" and int(v["frames_synced"]) == int(v["frames_processed"]) + int(
        v["frames_dropped"]) + int(v["frames_rejected"])


def test_paced_frames_are_all_processed(session):
    """Frames sent at a steady rate below the node's throughput, without waiting for answers:
    every one is processed, the node drops none."""
    s, lis, node = session, session["listener"], session["node"]
    before = _diag_after(lis, time.time(), _settled, "an idle node with settled counters", node.log)
    per_frame = float(np.median(FIGURES.get("publish_to_keypoints_s") or [1.0]))
    period = min(2.0, max(0.5, 2.0 * per_frame))
    stamps = []
    t0 = time.time()
    for k in range(4):
        t = time.monotonic()
        stamps.append(s["camera"].publish(s["files"][k % N_FRAMES])["stamp_ns"])
        time.sleep(max(0.0, period - (time.monotonic() - t)))
    for st in stamps:
        assert len(_wait_keypoints(s, st)) == 1
    after = _diag_after(lis, t0, lambda v: _settled(v) and int(v["frames_processed"]) >= int(
        before["frames_processed"]) + len(stamps), "diagnostics after the paced frames", node.log)
    assert int(after["frames_dropped"]) == int(before["frames_dropped"])
    FIGURES["paced_period_s"] = round(period, 3)


def test_burst_faster_than_the_model_drops_frames_and_keeps_the_newest(session):
    s, lis, node = session, session["listener"], session["node"]
    before = _diag_after(lis, time.time(), _settled, "an idle node with settled counters", node.log)
    n0 = len(lis.keypoints)
    n_burst = 6
    t0 = time.time()
    stamps = s["camera"].call("burst", file=str(s["files"][0]), n=n_burst, period_s=0.03)["stamps_ns"]
    _wait_keypoints(s, stamps[-1])  # the newest frame is processed, not lost behind a queue
    out = [stamp_ns(m.header) for _, m in lis.keypoints[n0:]]
    assert set(out) <= set(stamps) and out == sorted(out) and out[-1] == stamps[-1]
    assert len(out) < n_burst, "every frame of a burst was processed: did the model not fall behind?"
    after = _diag_after(lis, t0, lambda v: _settled(v) and int(v["frames_processed"]) >= int(
        before["frames_processed"]) + len(out), "diagnostics after the burst", node.log)
    d = {k: int(after[k]) - int(before[k]) for k in ("frames_synced", "frames_processed", "frames_dropped",
                                                     "frames_rejected")}
    assert d["frames_processed"] == len(out) and d["frames_rejected"] == 0
    # frames the model could not take were dropped and counted (not queued): all of the burst but the
    # processed ones, unless DDS itself lost some before the sync (then they are not "synced")
    assert d["frames_dropped"] >= 1 and d["frames_processed"] + d["frames_dropped"] == d["frames_synced"] <= n_burst
    FIGURES.update(burst_sent=n_burst, burst_synced=d["frames_synced"], burst_processed=len(out),
                   burst_dropped=d["frames_dropped"],
                   node_latency_ms_median={k: after.get(f"latency_{k}_ms") for k in (
                       "segment", "embed", "align", "keypoints", "total", "convert", "publish", "pipeline")})


def test_sigint_during_inference_exits_0(session):
    s, node = session, session["node"]
    assert node.alive(), node.log()[-3000:]
    s["camera"].publish(s["files"][1])
    time.sleep(0.15)  # the frame is in the model now (it takes a few hundred ms)
    rc, took = node.signal_and_wait(signal.SIGINT, 15)
    FIGURES["sigint_exit_s"] = round(took, 2)
    assert rc == 0, node.log()[-3000:]
    assert took < 5.0
    assert "Traceback" not in node.log(), node.log()[-3000:]
