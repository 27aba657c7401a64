"""The `semcorr` command line, run as a user would (a real subprocess of the installed entry point)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
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
