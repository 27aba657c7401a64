"""Dense canonical-coordinate error: hand-computed values, symmetry variants, contracts, bad input."""

import numpy as np
import pytest

from semcorr_core.data.shape import Symmetry
from semcorr_core.errors import EmptyMaskError, ImageSizeMismatchError, InputError
from semcorr_core.metrics import canonical_error

NAN = float("nan")
# H = 1, W = 4 ; pixel 3 is outside the mask (and its prediction is NaN: must be ignored)
GT = np.array([[[0.1, 0.0, 0.0], [0.0, 0.1, 0.0], [0.0, 0.0, 0.1], [0.0, 0.0, 0.0]]])
PRED = GT + np.array([[[0.003, 0.004, 0.0], [0.0, 0.0, 0.02], [0.06, 0.08, 0.0], [NAN, NAN, NAN]]])
MASK = np.array([[True, True, True, False]])
CONF = np.array([[1.0, 1.0, 2.0, 5.0]])


def test_plain_error_by_hand():
    r = canonical_error(PRED, GT, MASK, CONF)
    # errors: sqrt(0.003^2 + 0.004^2) = 0.005 ; 0.02 ; sqrt(0.06^2 + 0.08^2) = 0.1
    assert r.errors == pytest.approx([0.005, 0.02, 0.1])
    assert r.mean == pytest.approx(0.125 / 3)  # 0.041667
    assert r.median == pytest.approx(0.02)
    assert r.fraction_under == pytest.approx({0.01: 1 / 3, 0.02: 2 / 3, 0.05: 2 / 3})
    # confidence-weighted: (1*0.005 + 1*0.02 + 2*0.1) / (1 + 1 + 2) = 0.225 / 4
    assert r.weighted_mean == pytest.approx(0.05625)
    assert r.n_pixels == 3 and r.coverage == 1.0
    assert r.mirrored is None and r.rotation_z_deg is None


def test_min_confidence():
    r = canonical_error(PRED, GT, MASK, CONF, min_confidence=1.5)
    # only pixel 2 (conf 2) of the 3 mask pixels survives
    assert r.n_pixels == 1 and r.coverage == pytest.approx(1 / 3)
    assert r.mean == pytest.approx(0.1)


def test_reflection_symmetry_mirrors_per_object():
    sym = Symmetry(kind="reflection", plane_normal=(1.0, 0.0, 0.0))
    gt = np.array([[[0.1, 0.0, 0.0], [-0.05, 0.02, 0.03]]])
    pred = np.array([[[-0.1, 0.0, 0.0], [0.05, 0.02, 0.04]]])  # mirrored in x, second pixel 1 cm off in z
    mask = np.ones((1, 2), bool)
    r = canonical_error(pred, gt, mask, symmetry=sym)
    # as is: 0.2 and sqrt(0.1^2 + 0.01^2) = 0.1004988 -> mean 0.1502494
    # mirrored (x -> -x): 0 and 0.01 -> mean 0.005  => keep mirrored
    assert r.mirrored is True
    assert r.errors == pytest.approx([0.0, 0.01])
    assert r.mean == pytest.approx(0.005)
    plain = canonical_error(pred, gt, mask)
    assert plain.mean == pytest.approx((0.2 + 0.1004987562) / 2)
    # an unmirrored good prediction stays unmirrored
    assert canonical_error(gt, gt, mask, symmetry=sym).mirrored is False


def test_rotation_z_global():
    z = Symmetry(kind="rotation_z")
    gt = np.array([[[0.1, 0.0, 0.05], [0.0, 0.1, 0.0]]])
    pred = np.array([[[0.0, 0.1, 0.05], [-0.1, 0.0, 0.0]]])  # gt rotated by +90 deg about z
    mask = np.ones((1, 2), bool)
    # plain: |(-0.1, 0.1, 0)| = 0.141421 for both pixels
    assert canonical_error(pred, gt, mask).mean == pytest.approx(0.1414213562)
    r = canonical_error(pred, gt, mask, symmetry=z)
    # sum (p x g)_z = (0*0 - 0.1*0.1) + (-0.1*0.1 - 0*0) = -0.02 ; sum p.g (xy) = 0 -> theta = -90 deg
    assert r.rotation_z_deg == pytest.approx(-90.0)
    assert r.mean == pytest.approx(0.0, abs=1e-12)


def test_rotation_z_cylindrical_vs_global():
    z = Symmetry(kind="rotation_z")
    mask = np.ones((1, 1), bool)
    # radius 0.13 vs 0.1 -> 0.03 ; height 0.09 vs 0.05 -> 0.04 ; sqrt(0.03^2 + 0.04^2) = 0.05
    r = canonical_error([[[0.0, 0.13, 0.09]]], [[[0.1, 0.0, 0.05]]], mask, symmetry=z, rotation_z_mode="cylindrical")
    assert r.mean == pytest.approx(0.05)
    # a prediction that collapses two opposite sides onto one: cylindrical says 0, global does not
    gt = np.array([[[0.1, 0.0, 0.0], [-0.1, 0.0, 0.0]]])
    pred = np.array([[[0.1, 0.0, 0.0], [0.1, 0.0, 0.0]]])
    m2 = np.ones((1, 2), bool)
    assert canonical_error(pred, gt, m2, symmetry=z, rotation_z_mode="cylindrical").mean == pytest.approx(0.0)
    # global: sum cross = 0, sum dot = 0.01 - 0.01 = 0 -> theta = 0 ; errors 0 and 0.2 -> mean 0.1
    g = canonical_error(pred, gt, m2, symmetry=z)
    assert g.mean == pytest.approx(0.1)


def test_torch_input():
    torch = pytest.importorskip("torch")
    r = canonical_error(torch.tensor(PRED), torch.tensor(GT), torch.tensor(MASK))
    assert r.mean == pytest.approx(0.125 / 3)


def test_bad_input():
    with pytest.raises(ImageSizeMismatchError, match="mask must be"):
        canonical_error(PRED, GT, MASK[:, :3])
    with pytest.raises(ImageSizeMismatchError, match="same"):
        canonical_error(PRED[:, :3], GT, MASK)
    with pytest.raises(InputError, match=r"\(H, W, 3\)"):
        canonical_error(PRED[..., :2], GT[..., :2], MASK)
    with pytest.raises(EmptyMaskError, match="no pixel"):
        canonical_error(PRED, GT, np.zeros_like(MASK))
    with pytest.raises(InputError, match="finite"):
        canonical_error(PRED, GT, np.ones_like(MASK))  # pixel 3 has NaN prediction
    with pytest.raises(InputError, match="needs a confidence"):
        canonical_error(PRED, GT, MASK, min_confidence=0.5)
    with pytest.raises(EmptyMaskError, match="lower min_confidence"):
        canonical_error(PRED, GT, MASK, CONF, min_confidence=10.0)
    with pytest.raises(ImageSizeMismatchError, match="confidence"):
        canonical_error(PRED, GT, MASK, CONF[:, :2])
    with pytest.raises(InputError, match="rotation_z_mode"):
        canonical_error(PRED, GT, MASK, rotation_z_mode="polar")
    with pytest.raises(InputError, match="Symmetry"):
        canonical_error(PRED, GT, MASK, symmetry="reflection")
    with pytest.raises(InputError, match="thresholds"):
        canonical_error(PRED, GT, MASK, thresholds=(0.0,))


def test_canonical_point_distance_by_hand():
    from semcorr_core.metrics import canonical_point_distance

    a = np.array([[0.03, 0.04, 0.10]])  # r = 0.05
    b = np.array([[-0.05, 0.0, 0.13]])  # r = 0.05, other side of the axis
    # plain: |(0.08, 0.04, -0.03)| = sqrt(0.0064 + 0.0016 + 0.0009) = sqrt(0.0089)
    assert canonical_point_distance(a, b)[0] == pytest.approx(np.sqrt(0.0089))
    # rotation about z: same radius, so only the height differs
    assert canonical_point_distance(a, b, Symmetry(kind="rotation_z"))[0] == pytest.approx(0.03)
    # a reflection does not forgive a swapped place (chair left/right)
    mirror = Symmetry(kind="reflection", plane_normal=(0.0, 1.0, 0.0))
    c = np.array([0.03, -0.04, 0.10])
    assert canonical_point_distance(a[0], c, mirror) == pytest.approx(0.08)
    with pytest.raises(InputError, match="canonical points"):
        canonical_point_distance(np.zeros((2, 2)), np.zeros((2, 3)))
