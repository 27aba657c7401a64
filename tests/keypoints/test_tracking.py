"""KeypointTracker: association by pose translation, exponential smoothing, track ids, drop-out."""

from __future__ import annotations

import numpy as np
import pytest

from semcorr_core.errors import InputError
from semcorr_core.geometry.camera import PinholeCamera
from semcorr_core.geometry.similarity import SimilarityTransform
from semcorr_core.keypoints.tracking import KeypointTracker
from semcorr_core.pipeline.detector import DetectedKeypoint, DetectedObject, Detections

CAM = PinholeCamera(fx=100.0, fy=100.0, cx=32.0, cy=24.0, width=64, height=48)


def _obj(centre, kps, category="mug"):
    kps = np.asarray(kps, float)
    return DetectedObject(category, 0, SimilarityTransform(np.eye(3), np.asarray(centre, float), 1.0), 0.9,
                          [DetectedKeypoint(f"k{i}", p, 0.0, 0.0, 0.9, True) for i, p in enumerate(kps)],
                          np.zeros((48, 64), bool), np.zeros((48, 64, 3), np.float32))


def _frame(*objs):
    return Detections(list(objs), np.array([0.0, -1.0, 0.0]), {})


def test_ids_smoothing_and_new_tracks_by_hand():
    tr = KeypointTracker(alpha=0.5, max_distance=0.05, max_missed=1)
    a0, b0 = [[0.0, 0.0, 1.0]], [[0.3, 0.0, 1.0]]
    out = tr.update(_frame(_obj([0, 0, 1], a0), _obj([0.3, 0, 1], b0)), CAM)
    assert [o.instance_id for o in out.objects] == [1, 2]
    # next frame, listed the other way round, each 2 cm away: same ids, halfway blend
    out = tr.update(_frame(_obj([0.32, 0, 1], [[0.32, 0.0, 1.0]]), _obj([0.02, 0, 1], [[0.02, 0.0, 1.0]])), CAM)
    assert [o.instance_id for o in out.objects] == [2, 1]
    np.testing.assert_allclose(out.objects[1].keypoints[0].xyz, [0.01, 0.0, 1.0])
    np.testing.assert_allclose(out.objects[0].keypoints[0].xyz, [0.31, 0.0, 1.0])
    # re-projected: u = fx x / z + cx
    assert out.objects[1].keypoints[0].u == pytest.approx(100 * 0.01 + 32)
    # object 1 jumps 20 cm: a new track (id 3), no blending
    out = tr.update(_frame(_obj([0.22, 0, 1], [[0.22, 0.0, 1.0]]), _obj([0.32, 0, 1], [[0.32, 0.0, 1.0]])), CAM)
    assert [o.instance_id for o in out.objects] == [3, 2]
    np.testing.assert_allclose(out.objects[0].keypoints[0].xyz, [0.22, 0.0, 1.0])
    # track 1 was missed once (kept), a second miss drops it: coming back there it is new
    tr.update(_frame(), CAM)
    out = tr.update(_frame(_obj([0.01, 0, 1], [[0.01, 0.0, 1.0]])), CAM)
    assert out.objects[0].instance_id == 4


def test_a_detection_of_another_category_never_joins_a_track():
    tr = KeypointTracker(alpha=0.5, max_distance=0.05)
    tr.update(_frame(_obj([0, 0, 1], [[0.0, 0.0, 1.0]], "can")), CAM)
    # same place, same keypoint count, another category (a multi-category node changed its mind)
    out = tr.update(_frame(_obj([0.01, 0, 1], [[0.01, 0.0, 1.0]], "bowl")), CAM)
    assert out.objects[0].instance_id == 2
    np.testing.assert_allclose(out.objects[0].keypoints[0].xyz, [0.01, 0.0, 1.0])  # not blended with the can
    out = tr.update(_frame(_obj([0.0, 0, 1], [[0.0, 0.0, 1.0]], "can")), CAM)
    assert out.objects[0].instance_id == 1


def test_smoothing_reduces_jitter_of_a_static_object():
    rng = np.random.default_rng(0)
    tr = KeypointTracker(alpha=0.3)
    raw, smooth = [], []
    for _ in range(200):
        p = np.array([0.0, 0.0, 1.0]) + rng.normal(0, 0.004, 3)
        raw.append(p)
        smooth.append(tr.update(_frame(_obj(p, [p])), CAM).objects[0].keypoints[0].xyz)
    raw, smooth = np.array(raw[50:]), np.array(smooth[50:])
    # an EMA of white noise has variance alpha / (2 - alpha) of the input's: std ratio ~0.42
    ratio = smooth.std(0).mean() / raw.std(0).mean()
    assert ratio == pytest.approx(np.sqrt(0.3 / 1.7), rel=0.2)


def test_bad_parameters():
    for kw in ({"alpha": 0.0}, {"alpha": 1.5}, {"max_distance": 0.0}, {"max_missed": -1}):
        with pytest.raises(InputError):
            KeypointTracker(**kw)
