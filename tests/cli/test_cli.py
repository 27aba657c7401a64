"""The `semcorr` command line, run as a user would (a real subprocess of the installed entry point)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

SEMCORR = shutil.which("semcorr") or str(Path(sys.executable).with_name("semcorr"))


def run(*args, check=True):
    return subprocess.run([SEMCORR, *args], capture_output=True, text=True, check=check, timeout=300)


def test_synth_writes_dataset_and_contact_sheet(tmp_path):
    out = tmp_path / "mugs"
    r = run("synth", "--category", "mug", "--instances", "2", "--views", "2", "--seed", "4",
            "--out", str(out), "--width", "160", "--height", "120", "--quiet")
    assert "wrote 4 frames" in r.stdout
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["category"] == "mug" and len(meta["frames"]) == 4 and len(meta["instances"]) == 2
    sheet = cv2.imread(str(out / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[0] > 100 and sheet.std() > 10  # a real picture, not blank


def test_unknown_category_is_a_clear_error(tmp_path):
    r = run("synth", "--category", "teapot", "--out", str(tmp_path / "x"), check=False)
    assert r.returncode == 2
    assert "teapot" in r.stderr and "mug" in r.stderr and "Traceback" not in r.stderr


def test_bench_synth_reports_json(tmp_path):
    report = tmp_path / "r.json"
    r = run("bench", "synth", "--category", "can", "--frames", "3", "--width", "160", "--height", "120",
            "--report", str(report))
    data = json.loads(report.read_text())
    assert json.loads(r.stdout) == data
    assert data["bench"] == "synth" and data["frame"]["n"] == 3 and data["fps_median"] > 0
    assert data["machine"]["cores_available"] >= 1 and data["noise"] is True


@pytest.mark.parametrize("bad", ["--instances=0", "--views=0"])
def test_bad_counts(tmp_path, bad):
    r = run("synth", "--category", "mug", bad, "--out", str(tmp_path / "x"), check=False)
    assert r.returncode == 2 and "at least 1" in r.stderr


def test_pcd_to_rgbd_writes_a_detect_ready_frame(tmp_path):
    import numpy as np

    from semcorr_core.data.rgbd import make_rgbd, read_color, read_image
    from semcorr_core.geometry.camera import PinholeCamera

    cloud = Path(__file__).resolve().parents[2].parent / "shared/data/pcl_test_rgbd/table_scene_mug_stereo_textured.pcd"
    r = run("pcd-to-rgbd", str(cloud), "--out", str(tmp_path))
    assert "fx=964.36" in r.stdout
    cam = PinholeCamera.from_camera_info(json.loads((tmp_path / "intrinsics.json").read_text()))
    frame = make_rgbd(read_color(tmp_path / "color.png"), read_image(tmp_path / "depth.png"), cam)
    assert frame.depth.shape == (480, 640) and 0.8 < np.median(frame.depth[frame.depth > 0]) < 1.1


def test_pcd_to_rgbd_refuses_an_unorganised_cloud(tmp_path):
    bad = tmp_path / "flat.pcd"
    bad.write_text("VERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH 3\nHEIGHT 1\n"
                   "POINTS 3\nDATA ascii\n0 0 1\n1 0 1\n0 1 1\n")
    r = run("pcd-to-rgbd", str(bad), "--out", str(tmp_path / "o"), check=False)
    assert r.returncode == 2 and "not an organised cloud" in r.stderr and "Traceback" not in r.stderr


def test_bench_pipeline_runs_the_shipped_detector(tmp_path):
    report = tmp_path / "p.json"
    run("bench", "pipeline", "--category", "can", "--frames", "2", "--gt-mask", "--report", str(report))
    d = json.loads(report.read_text())
    assert d["bench"] == "pipeline" and d["frames"] == 2 and d["masks"] == "ground truth"
    assert 0.0 <= d["detection_rate"] <= 1.0 and d["latency_ms_median"]["total"] > 0
    assert set(d["targets"]) >= {"visible", "occluded"}


def test_bench_categories_refuses_a_repeated_category():
    r = run("bench", "categories", "--categories", "mug,can,mug", check=False)
    assert r.returncode == 2 and "repeated: mug" in r.stderr and "Traceback" not in r.stderr


def test_export_onnx_writes_a_checked_graph(tmp_path):
    import onnxruntime as ort

    out = tmp_path / "mug.onnx"
    r = run("export", "--format", "onnx", "--category", "mug", "--out", str(out))
    info = json.loads(r.stdout)
    assert info["dynamic_points"] is True and info["max_abs_error_vs_torch"] < 1e-4
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].name == "points"
    assert session.run(None, {"points": np.zeros((1, 300, 3), np.float32)})[0].shape == (1, 300, 128)


def test_export_tensorrt_without_tensorrt_says_what_to_do(tmp_path):
    out = tmp_path / "mug.engine"
    r = run("export", "--format", "tensorrt", "--category", "mug", "--out", str(out), check=False)
    assert r.returncode == 2 and "TensorRT is not installed" in r.stderr and "onnxruntime" in r.stderr
    assert "Traceback" not in r.stderr and not out.exists()
    r = run("export", "--format", "tensorrt", "--profile", "256,1024", "--out", str(out), check=False)
    assert r.returncode == 2 and "MIN,OPT,MAX" in r.stderr


def test_detect_one_frame_with_a_category_list(tmp_path):
    from semcorr_core.data.rgbd import depth_to_millimetres
    from tests.pipeline.test_multi_category import _bottle_and_bowl

    fr, _ = _bottle_and_bowl()
    cv2.imwrite(str(tmp_path / "color.png"), fr.color[..., ::-1])
    cv2.imwrite(str(tmp_path / "depth.png"), depth_to_millimetres(fr.depth))
    (tmp_path / "K.json").write_text(json.dumps(fr.camera.to_camera_info()))
    args = ["detect", "--color", str(tmp_path / "color.png"), "--depth", str(tmp_path / "depth.png"),
            "--intrinsics", str(tmp_path / "K.json"), "--depth-scale", "0.001"]
    r = run(*args, "--category", "bottle,bowl", "--out", str(tmp_path / "r.json"), "--vis", str(tmp_path / "v.png"))
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["category"] == "bottle,bowl" and "bottle,bowl object(s)" in r.stdout
    assert sorted(o["category"] for o in result["objects"]) == ["bottle", "bowl"]
    names = {o["category"]: [k["name"] for k in o["keypoints"]] for o in result["objects"]}
    assert names["bowl"] == ["rim_center", "bottom_center"]
    assert cv2.imread(str(tmp_path / "v.png")).shape == fr.color.shape
    bad = run(*args, "--category", "bottle,bowl", "--bundle", "b.pt", check=False)
    assert bad.returncode == 2 and "--bundle" in bad.stderr and "Traceback" not in bad.stderr


def test_bench_offers_every_pipeline_ablation():
    from semcorr_core.bench.pipeline import ABLATIONS
    from semcorr_core.cli.main import build_parser

    bench_parser = build_parser()._subparsers._group_actions[0].choices["bench"]
    bench = next(a for a in bench_parser._actions if "--ablation" in a.option_strings)
    assert set(bench.choices) == set(ABLATIONS)
