"""3D keypoint error / PCK-3D: hand-computed values, shape contracts, bad input."""

import math

import numpy as np
import pytest

from semcorr_core.errors import InputError
from semcorr_core.metrics import keypoint3d_errors

GT = np.zeros((1, 4, 3))
PRED = np.array(
    [
        [
            [0.003, 0.004, 0.0],  # |.| = sqrt(9e-6 + 16e-6) = 0.005 m
            [0.0, 0.009, 0.012],  # sqrt(81e-6 + 144e-6) = 0.015 m
            [0.03, 0.0, 0.0],  # 0.03 m
            [0.0, 0.0, 0.1],  # 0.1 m
        ]
    ]
)
VISIBLE = np.array([[True, True, False, False]])


def test_hand_computed_all_visible_occluded():
    r = keypoint3d_errors(PRED, GT, visible=VISIBLE, keypoint_names=["a", "b", "c", "d"])
    assert r.errors[0] == pytest.approx([0.005, 0.015, 0.03, 0.1])
    # all: mean (0.005 + 0.015 + 0.03 + 0.1) / 4 = 0.15 / 4 = 0.0375; median (0.015 + 0.03) / 2 = 0.0225
    assert r.all.count == 4 and r.all.n_missing == 0
    assert r.all.mean == pytest.approx(0.0375)
    assert r.all.median == pytest.approx(0.0225)
    # PCK-3D: <= 1 cm: 1/4; <= 2 cm: 2/4; <= 5 cm: 3/4
    assert r.all.pck == pytest.approx({0.01: 0.25, 0.02: 0.5, 0.05: 0.75})
    # visible (a, b): mean (0.005 + 0.015) / 2 = 0.01; pck 1/2, 1, 1
    assert r.visible.count == 2
    assert r.visible.mean == pytest.approx(0.01)
    assert r.visible.median == pytest.approx(0.01)
    assert r.visible.pck == pytest.approx({0.01: 0.5, 0.02: 1.0, 0.05: 1.0})
    # occluded (c, d): mean (0.03 + 0.1) / 2 = 0.065; pck 0, 0, 1/2
    assert r.occluded.mean == pytest.approx(0.065)
    assert r.occluded.median == pytest.approx(0.065)
    assert r.occluded.pck == pytest.approx({0.01: 0.0, 0.02: 0.0, 0.05: 0.5})
    assert r.per_keypoint_type["d"].mean == pytest.approx(0.1)


def test_threshold_inclusive_and_custom_thresholds():
    pred = np.array([[[0.02, 0.0, 0.0]]])  # exactly 0.02 m
    r = keypoint3d_errors(pred, np.zeros((1, 1, 3)), thresholds=(0.02, 0.1))
    assert r.all.pck == {0.02: 1.0, 0.1: 1.0}
    assert r.visible is None and r.occluded is None


def test_single_object_shape_and_valid_mask():
    # (K, 3) input; keypoint 3 has no ground truth -> excluded
    r = keypoint3d_errors(PRED[0], GT[0], valid=[True, True, True, False])
    assert r.errors.shape == (1, 4)
    assert math.isnan(r.errors[0, 3])
    # mean (0.005 + 0.015 + 0.03) / 3 = 0.05 / 3
    assert r.all.mean == pytest.approx(0.05 / 3)
    assert r.all.median == pytest.approx(0.015)


def test_missing_prediction_and_empty_group():
    pred = PRED.copy()
    pred[0, 0] = np.nan
    r = keypoint3d_errors(pred, GT, visible=np.ones((1, 4), bool))
    assert r.all.n_missing == 1 and math.isinf(r.all.mean)
    assert r.all.pck[0.01] == 0.0  # the 0.005 one is now missing
    assert r.occluded.count == 0 and math.isnan(r.occluded.mean) and math.isnan(r.occluded.pck[0.05])


def test_torch_input():
    torch = pytest.importorskip("torch")
    r = keypoint3d_errors(torch.tensor(PRED), torch.tensor(GT))
    assert r.all.mean == pytest.approx(0.0375)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(pred=PRED[:, :3]), "same shape"),
        (dict(gt=np.zeros((1, 4, 2)), pred=np.zeros((1, 4, 2))), r"\(N, K, 3\)"),
        (dict(valid=np.ones((1, 3))), "valid must have shape"),
        (dict(valid=np.zeros((1, 4))), "no keypoint"),
        (dict(visible=np.full((1, 4), 0.5)), "boolean"),
        (dict(thresholds=(20.0,)), "millimetres"),
        (dict(thresholds=()), "thresholds"),
        (dict(keypoint_names=["a", "a", "b", "c"]), "unique"),
    ],
)
def test_bad_input(kwargs, match):
    args = dict(pred=PRED, gt=GT)
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        keypoint3d_errors(**args)


def test_nan_gt_rejected():
    gt = GT.copy()
    gt[0, 1] = np.nan
    with pytest.raises(InputError, match="invalid"):
        keypoint3d_errors(PRED, gt)
