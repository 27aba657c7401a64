"""PCK@alpha: hand-computed values, shape contracts, bad input."""

import math

import numpy as np
import pytest

from semcorr_core.errors import InputError
from semcorr_core.metrics import pck, pck_at_thresholds

NAN = float("nan")

# Three images, K = 3 keypoints (u, v) pixels.
GT = np.array(
    [
        [[0, 0], [10, 10], [20, 20]],
        [[0, 0], [0, 0], [0, 0]],
        [[5, 5], [5, 5], [5, 5]],
    ],
    dtype=float,
)
PRED = np.array(
    [
        [[6, 8], [10, 21], [20, 20]],  # distances 10, 11, 0
        [[3, 4], [0, 6], [NAN, NAN]],  # distances 5, 6, (invalid anyway)
        [[0, 0], [0, 0], [0, 0]],  # image without a valid keypoint
    ],
    dtype=float,
)
VALID = np.array([[1, 1, 1], [1, 1, 0], [0, 0, 0]], dtype=bool)
BBOX_SIZE = np.array([100.0, 50.0, 80.0])  # max(h, w) per image
NAMES = ("nose", "left_ear", "right_ear")


def test_hand_computed_bbox_normaliser():
    r = pck(PRED, GT, VALID, alpha=0.1, bbox_size=BBOX_SIZE, keypoint_names=NAMES)
    # thresholds: 0.1*100 = 10 px (image 0), 0.1*50 = 5 px (image 1)
    # image 0: 10 <= 10 ok, 11 > 10 wrong, 0 ok  -> 2/3
    # image 1: 5 <= 5 ok, 6 > 5 wrong             -> 1/2
    # image 2: no valid keypoint                  -> excluded
    assert r.thresholds[:2] == pytest.approx([10.0, 5.0])
    assert r.per_image == pytest.approx((2 / 3 + 1 / 2) / 2)  # = 7/12 = 0.58333
    assert r.per_image == pytest.approx(0.5833333333)
    assert r.per_keypoint == pytest.approx(3 / 5)  # 3 correct of 5 valid, pooled
    assert r.n_images_used == 2 and r.n_keypoints_used == 5
    assert r.per_image_values[:2] == pytest.approx([2 / 3, 0.5])
    assert math.isnan(r.per_image_values[2])
    # per keypoint name: nose 2/2, left_ear 0/2, right_ear 1/1
    assert r.per_keypoint_type == pytest.approx({"nose": 1.0, "left_ear": 0.0, "right_ear": 1.0})
    assert r.correct.tolist() == [[True, False, True], [True, False, False], [False, False, False]]
    assert r.distances[0].tolist() == pytest.approx([10.0, 11.0, 0.0])
    assert np.isnan(r.distances[1, 2])


def test_bboxes_give_same_normaliser():
    # (x_min, y_min, x_max, y_max): max(100, 40) = 100; max(30, 50) = 50; max(80, 10) = 80
    bboxes = np.array([[0, 0, 100, 40], [10, 10, 40, 60], [0, 0, 80, 10]], dtype=float)
    r = pck(PRED, GT, VALID, alpha=0.1, bboxes=bboxes)
    assert r.thresholds == pytest.approx([10.0, 5.0, 8.0])
    assert r.per_image == pytest.approx(7 / 12)


def test_image_normaliser():
    # max(H, W) = max(200, 100) = 200; alpha 0.05 -> 10 px everywhere
    # image 0: 10 ok, 11 wrong, 0 ok -> 2/3 ; image 1: 5 ok, 6 ok -> 2/2
    r = pck(PRED, GT, VALID, alpha=0.05, normaliser="image", image_size=(200, 100))
    assert r.per_image == pytest.approx((2 / 3 + 1) / 2)  # 5/6
    assert r.per_keypoint == pytest.approx(4 / 5)


def test_several_alphas():
    res = pck_at_thresholds(PRED, GT, VALID, alphas=(0.05, 0.1), bbox_size=BBOX_SIZE)
    # alpha 0.05: thresholds 5 and 2.5 px. image 0: 10, 11 wrong, 0 ok -> 1/3; image 1: 5, 6 wrong -> 0
    assert res[0.05].per_image == pytest.approx((1 / 3 + 0) / 2)  # 1/6
    assert res[0.05].per_keypoint == pytest.approx(1 / 5)
    assert res[0.1].per_keypoint == pytest.approx(3 / 5)


def test_missing_prediction_counts_as_wrong():
    pred = PRED.copy()
    pred[0, 2] = np.nan  # was correct (distance 0)
    r = pck(pred, GT, VALID, alpha=0.1, bbox_size=BBOX_SIZE)
    assert r.per_keypoint == pytest.approx(2 / 5)
    assert np.isinf(r.distances[0, 2])


def test_torch_input():
    torch = pytest.importorskip("torch")
    r = pck(torch.tensor(PRED), torch.tensor(GT), torch.tensor(VALID), alpha=0.1, bbox_size=torch.tensor(BBOX_SIZE))
    assert r.per_image == pytest.approx(7 / 12)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(pred=PRED[:, :2]), "same shape"),
        (dict(gt=GT[..., :1], pred=PRED[..., :1]), r"\(N_images, K, 2\)"),
        (dict(valid=VALID[:, :2]), "valid must have shape"),
        (dict(valid=VALID.astype(float) * 2), "boolean"),
        (dict(valid=np.zeros_like(VALID)), "no keypoint"),
        (dict(alpha=0.0), "alpha"),
        (dict(bbox_size=np.array([100.0, 0.0, 1.0])), "> 0"),
        (dict(bbox_size=np.array([100.0, 50.0])), r"bbox_size must have shape \(3,\)"),
        (dict(bboxes=np.zeros((3, 4))), "exactly one"),
        (dict(bbox_size=None), "exactly one"),
        (dict(normaliser="diag"), "unknown normaliser"),
        (dict(normaliser="image"), "image_size"),
        (dict(keypoint_names=("a", "b")), "keypoint_names"),
    ],
)
def test_bad_input(kwargs, match):
    args = dict(pred=PRED, gt=GT, valid=VALID, alpha=0.1, bbox_size=BBOX_SIZE)
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        pck(**args)


def test_bad_bbox_format_and_nan_gt():
    with pytest.raises(InputError, match="x_min, y_min, x_max, y_max"):
        pck(PRED, GT, VALID, bboxes=np.array([[10, 10, 5, 50], [0, 0, 1, 1], [0, 0, 1, 1]], dtype=float))
    gt = GT.copy()
    gt[0, 0] = np.nan
    with pytest.raises(InputError, match="finite"):
        pck(PRED, gt, VALID, bbox_size=BBOX_SIZE)
    with pytest.raises(InputError, match="alpha"):
        pck_at_thresholds(PRED, GT, VALID, alphas=(0.1, -1.0), bbox_size=BBOX_SIZE)
