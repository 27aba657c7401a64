"""Keypoint Average Precision: hand-computed values, contracts, bad input."""

import math

import numpy as np
import pytest

from semcorr_core.errors import InputError
from semcorr_core.metrics import average_precision, kap, kap_keypoints


def test_average_precision_by_hand():
    # ranking: + - + -   precision at the positives: 1/1 (R=1/2), 2/3 (R=1)
    # AP = 1/2 * 1 + 1/2 * 2/3 = 0.8333
    assert average_precision([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0]) == pytest.approx(0.8333333333)
    # with 4 positives in total (two never ranked): AP = 1/4 * 1 + 1/4 * 2/3 = 0.41667
    assert average_precision([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0], n_positives=4) == pytest.approx(0.4166666667)
    # tied scores enter together: one threshold with P = 1/2, R = 1 -> AP 0.5
    assert average_precision([0.5, 0.5], [1, 0]) == pytest.approx(0.5)
    assert math.isnan(average_precision([0.5], [0]))


# ---------------------------------------------------------------- dense (per-pixel) KAP
# One target image, H = 1, W = 5: pixel centres u = 0..4, v = 0.  bbox max(h, w) = 10, alpha 0.1 -> 1 px.
SIM_VIS = [0.1, 0.6, 0.9, 0.2, 0.0]  # keypoint 0, visible in the target at u = 2 -> positives u = 1, 2, 3
SIM_INV = [0.05, 0.15, 0.8, 0.25, 0.02]  # keypoint 1, invisible in the target -> all negatives
GT = np.array([[[2.0, 0.0], [0.0, 0.0]]])
VIS = np.array([[True, False]])


def _sim(*rows):
    return np.array(rows, dtype=float)[None, :, None, :]  # (1, K, 1, W)


def test_dense_kap_invisible_keypoint_is_negative():
    r = kap(_sim(SIM_VIS, SIM_INV), GT, VIS, alpha=0.1, bbox_size=[10.0])
    # pooled ranking of the 10 samples: 0.9 +, 0.8 - (invisible kp), 0.6 +, 0.25 -, 0.2 +, rest -
    # precision at the positives: 1/1, 2/3, 3/5 ; AP = (1 + 2/3 + 3/5) / 3 = 34/45 = 0.75556
    assert r.per_image == pytest.approx(34 / 45)
    assert r.n_images_used == 1 and r.n_images_without_positive == 0
    # the same prediction without querying the invisible keypoint: + + + - - -> AP = 1
    r2 = kap(_sim(SIM_VIS, SIM_INV), GT, VIS, [[True, False]], alpha=0.1, bbox_size=[10.0])
    assert r2.per_image == pytest.approx(1.0)


def test_dense_kap_pixel_mask():
    mask = np.array([[True, True, False, True, True]])  # drop u = 2 (for both keypoints)
    r = kap(_sim(SIM_VIS, SIM_INV), GT, VIS, alpha=0.1, bbox_size=[10.0], pixel_mask=mask)
    # ranking: 0.6 +, 0.25 -, 0.2 +, 0.15 -, ... ; AP = (1/1 + 2/3) / 2 = 0.83333
    assert r.per_image == pytest.approx(5 / 6)


def test_dense_kap_per_image_excludes_pairs_without_positive_and_pooled():
    sim = np.concatenate([_sim(SIM_VIS, SIM_INV), np.full((1, 2, 1, 5), -1.0)])  # pair 1: all low scores
    gt = np.concatenate([GT, GT])
    vis = np.array([[True, False], [False, False]])  # pair 1: nothing visible in the target
    r = kap(sim, gt, vis, alpha=0.1, bboxes=[[0, 0, 10, 4], [0, 0, 10, 4]], pooled=True)
    assert r.n_images_used == 1 and r.n_images_without_positive == 1
    assert math.isnan(r.per_image_values[1])
    assert r.per_image == pytest.approx(34 / 45)
    # pooled: pair 1 only adds negatives ranked below every positive -> same AP 34/45
    assert r.pooled == pytest.approx(34 / 45)
    assert math.isnan(kap(sim, gt, vis, alpha=0.1, bbox_size=[10.0, 10.0]).pooled)  # not requested


# ---------------------------------------------------------------- sparse (one prediction per keypoint)
def test_sparse_kap_by_hand():
    gt = np.array([[[0, 0], [50, 50], [20, 20]], [[0, 0], [30, 30], [0, 0]]], dtype=float)
    pred = np.array([[[0, 0], [1, 1], [23, 24]], [[20, 0], [30, 30], [9, 9]]], dtype=float)
    scores = np.array([[0.9, 0.8, 0.3], [0.95, 0.5, 0.99]])
    vis = np.array([[True, False, True], [True, True, False]])
    query = np.array([[True, True, True], [True, True, False]])  # pair 1, kp 2 not queried
    # bbox 100, alpha 0.1 -> 10 px
    # pair 0: 0.9 TP (d 0), 0.8 FP (kp invisible in target), 0.3 TP (d 5)
    #         AP = 1/2 * 1 + 1/2 * 2/3 = 0.83333
    # pair 1: 0.95 FP (d 20 > 10), 0.5 TP (d 0); 2 visible -> AP = 1/2 * 1/2 = 0.25
    r = kap_keypoints(pred, scores, gt, vis, query, alpha=0.1, bbox_size=[100.0, 100.0])
    assert r.per_image_values == pytest.approx([5 / 6, 0.25])
    assert r.per_image == pytest.approx((5 / 6 + 0.25) / 2)  # 0.541667
    # pooled: 0.95 -, 0.9 +, 0.8 -, 0.5 +, 0.3 + ; 4 positives
    # precision at the positives 1/2, 2/4, 3/5 -> AP = (0.5 + 0.5 + 0.6) / 4 = 0.4
    assert r.pooled == pytest.approx(0.4)
    # a low score for the invisible keypoint removes the false positive from the top: pair 0 AP = 1
    s2 = scores.copy()
    s2[0, 1] = 0.1
    r2 = kap_keypoints(pred, s2, gt, vis, query, alpha=0.1, bbox_size=[100.0, 100.0])
    assert r2.per_image_values[0] == pytest.approx(1.0)


def test_sparse_kap_nan_score_is_unranked_miss():
    gt = np.zeros((1, 2, 2))
    pred = np.zeros((1, 2, 2))
    scores = np.array([[0.7, np.nan]])  # kp 1 visible but not predicted -> recall capped at 1/2
    r = kap_keypoints(pred, scores, gt, [[True, True]], alpha=0.1, bbox_size=[10.0])
    assert r.per_image == pytest.approx(0.5)  # 1/2 * 1


def test_torch_input():
    torch = pytest.importorskip("torch")
    r = kap(torch.tensor(_sim(SIM_VIS, SIM_INV)), torch.tensor(GT), torch.tensor(VIS), alpha=0.1, bbox_size=[10.0])
    assert r.per_image == pytest.approx(34 / 45)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(similarity=np.zeros((1, 3, 1, 5))), r"\(N, K, H, W\)"),
        (dict(gt_kps=np.zeros((1, 2, 3))), r"\(N_pairs, K, 2\)"),
        (dict(gt_visible=np.zeros((1, 2))), "no image pair has a positive"),
        (dict(query_mask=np.zeros((1, 2))), "no source keypoint"),
        (dict(alpha=-0.1), "alpha"),
        (dict(bbox_size=None), "exactly one"),
        (dict(pixel_mask=np.ones((2, 5))), "pixel_mask"),
        (dict(similarity=_sim([np.nan] * 5, SIM_INV)), "NaN"),
    ],
)
def test_dense_bad_input(kwargs, match):
    args = dict(similarity=_sim(SIM_VIS, SIM_INV), gt_kps=GT, gt_visible=VIS, alpha=0.1, bbox_size=[10.0])
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        kap(**args)


def test_sparse_and_ap_bad_input():
    with pytest.raises(InputError, match="scores must be"):
        kap_keypoints(np.zeros((1, 2, 2)), np.zeros((1, 3)), np.zeros((1, 2, 2)), [[1, 1]], bbox_size=[10.0])
    with pytest.raises(InputError, match="same shape"):
        kap_keypoints(np.zeros((1, 3, 2)), np.zeros((1, 2)), np.zeros((1, 2, 2)), [[1, 1]], bbox_size=[10.0])
    with pytest.raises(InputError, match="same length"):
        average_precision([0.1, 0.2], [1])
    with pytest.raises(InputError, match="finite"):
        average_precision([np.nan], [1])
    with pytest.raises(InputError, match="n_positives"):
        average_precision([0.1, 0.2], [1, 1], n_positives=1)
