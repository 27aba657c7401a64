"""Symmetric pose errors and left/right flip detection: hand-computed values, contracts, bad input."""

import numpy as np
import pytest

from semcorr_core.data.shape import Symmetry
from semcorr_core.errors import InputError
from semcorr_core.metrics import left_right_flip, pose_error, rotation_angle_deg

I3 = np.eye(3)
RZ90 = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]], dtype=float)  # 90 deg about z
RX90 = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], dtype=float)  # 90 deg about x
# RZ90 @ RX90 = [[0, 0, 1], [1, 0, 0], [0, 1, 0]]: trace 0 -> cos = (0 - 1) / 2 -> 120 deg; z axis -> (1, 0, 0)
RZX = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], dtype=float)
T0 = np.zeros(3)
ZSYM = Symmetry(kind="rotation_z")
MIRROR = Symmetry(kind="reflection", plane_normal=(1.0, 0.0, 0.0), keypoint_swaps=(("arm_left", "arm_right"),))


def test_rotation_no_symmetry():
    assert pose_error(RZ90, T0, 1.0, I3, T0, 1.0).rotation_deg == pytest.approx(90.0)
    assert pose_error(RZX, T0, 1.0, I3, T0, 1.0).rotation_deg == pytest.approx(120.0)
    assert rotation_angle_deg(RZX, I3) == pytest.approx(120.0)
    # small angle stays accurate: 1e-4 rad about z = 0.0057296 deg
    c, s = np.cos(1e-4), np.sin(1e-4)
    R = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    assert rotation_angle_deg(R, I3) == pytest.approx(np.degrees(1e-4), rel=1e-8)


def test_rotation_z_symmetry():
    # a pure rotation about the symmetry axis is no error
    assert pose_error(RZ90, T0, 1.0, I3, T0, 1.0, ZSYM).rotation_deg == pytest.approx(0.0, abs=1e-9)
    # tilting the axis is: z_pred = RX90[:, 2] = (0, -1, 0) vs (0, 0, 1) -> 90 deg
    assert pose_error(RX90, T0, 1.0, I3, T0, 1.0, ZSYM).rotation_deg == pytest.approx(90.0)
    # RZX: 120 deg plainly, but its z axis (1, 0, 0) is 90 deg from (0, 0, 1)
    assert pose_error(RZX, T0, 1.0, I3, T0, 1.0, ZSYM).rotation_deg == pytest.approx(90.0)


def test_reflection_symmetry_keeps_plain_rotation_error():
    # the mirror is improper, so it adds no equivalent proper pose (see pose.py docstring)
    e = pose_error(RZ90, T0, 1.0, I3, T0, 1.0, MIRROR)
    assert e.rotation_deg == pytest.approx(90.0)
    assert e.symmetry == "reflection"


def test_translation_and_scale():
    # |(1.03, 2.04, 3) - (1, 2, 3)| = sqrt(0.03^2 + 0.04^2) = 0.05 m ; |1.1 / 1.0 - 1| = 0.1
    e = pose_error(I3, [1.03, 2.04, 3.0], 1.1, I3, [1.0, 2.0, 3.0], 1.0)
    assert e.translation_m == pytest.approx(0.05)
    assert e.scale_rel == pytest.approx(0.1)
    # |0.16 / 0.2 - 1| = 0.2
    assert pose_error(I3, T0, 0.16, I3, T0, 0.2).scale_rel == pytest.approx(0.2)
    assert isinstance(e.rotation_deg, float)


def test_batched():
    e = pose_error(
        np.stack([RZ90, RZX]), np.zeros((2, 3)), [1.0, 2.0], np.stack([I3, I3]), np.zeros((2, 3)), [1.0, 1.0], ZSYM
    )
    assert e.rotation_deg.shape == (2,)
    assert e.rotation_deg == pytest.approx([0.0, 90.0], abs=1e-9)
    assert e.scale_rel == pytest.approx([0.0, 1.0])


def test_torch_input():
    torch = pytest.importorskip("torch")
    e = pose_error(torch.tensor(RZ90), torch.zeros(3), torch.tensor(1.0), torch.eye(3), torch.zeros(3), 1.0)
    assert e.rotation_deg == pytest.approx(90.0)


@pytest.mark.parametrize(
    "args, match",
    [
        ((2 * I3, T0, 1.0, I3, T0, 1.0), "not a proper rotation"),
        ((np.diag([1.0, 1.0, -1.0]), T0, 1.0, I3, T0, 1.0), "not a proper rotation"),
        ((I3, np.zeros(2), 1.0, I3, T0, 1.0), "t_pred must have shape"),
        ((I3, T0, 0.0, I3, T0, 1.0), "> 0"),
        ((I3, T0, [1.0, 1.0], I3, T0, 1.0), "one scale per pose"),
        ((np.stack([I3, I3]), T0, 1.0, I3, T0, 1.0), "same shape"),
        ((np.eye(4), T0, 1.0, np.eye(4), T0, 1.0), r"\(3, 3\)"),
        ((I3, [np.nan, 0, 0], 1.0, I3, T0, 1.0), "NaN"),
    ],
)
def test_bad_input(args, match):
    with pytest.raises(InputError, match=match):
        pose_error(*args)


def test_bad_symmetry_type():
    with pytest.raises(InputError, match="Symmetry"):
        pose_error(I3, T0, 1.0, I3, T0, 1.0, "rotation_z")


# ---------------------------------------------------------------- left/right flip
GT_KPS = {"arm_left": [0.0, 0.0], "arm_right": [10.0, 0.0], "seat": [5.0, 5.0]}


def test_flip_detected():
    pred = {"arm_left": [10.0, 0.0], "arm_right": [0.0, 0.0], "seat": [8.0, 9.0]}  # seat off by (3, 4) -> 5
    r = left_right_flip(pred, GT_KPS, [("arm_left", "arm_right")])
    # direct: (10 + 10 + 5) / 3 = 8.3333 ; swapped: (0 + 0 + 5) / 3 = 1.6667
    assert r.flipped
    assert r.error_direct == pytest.approx(25 / 3)
    assert r.error_swapped == pytest.approx(5 / 3)
    assert set(r.compared) == {"arm_left", "arm_right", "seat"}


def test_no_flip_and_symmetry_argument():
    r = left_right_flip(GT_KPS, GT_KPS, MIRROR)
    # direct 0 ; swapped (10 + 10 + 0) / 3
    assert not r.flipped
    assert r.error_direct == 0.0 and r.error_swapped == pytest.approx(20 / 3)


def test_flip_ignores_missing_keypoints():
    pred = {"arm_left": [10.0, 0.0], "arm_right": [0.0, 0.0], "seat": [np.nan, np.nan]}
    r = left_right_flip(pred, GT_KPS, [("arm_left", "arm_right")])
    assert r.compared == ("arm_left", "arm_right") and r.error_swapped == 0.0


def test_flip_bad_input():
    with pytest.raises(InputError, match="swaps is empty"):
        left_right_flip(GT_KPS, GT_KPS, [])
    with pytest.raises(InputError, match="no left/right pair"):
        left_right_flip({"arm_left": [0, 0], "seat": [1, 1]}, GT_KPS, [("arm_left", "arm_right")])
    with pytest.raises(InputError, match="same dimension"):
        left_right_flip({"arm_left": [0, 0, 0], "arm_right": [1, 1, 1]}, GT_KPS, [("arm_left", "arm_right")])
    with pytest.raises(InputError, match="more than one"):
        left_right_flip(GT_KPS, GT_KPS, [("arm_left", "arm_right"), ("arm_left", "seat")])


def test_heading_flipped_by_hand():
    from semcorr_core.metrics import heading_flipped

    def rz(deg):
        a = np.radians(deg)
        return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])

    assert not heading_flipped(rz(89.0), np.eye(3))  # handle 89 deg off: same side
    assert heading_flipped(rz(91.0), np.eye(3))  # 91 deg: the other side
    assert heading_flipped(rz(180.0), rz(0.0))
    # a tilt of the prediction about the heading axis does not matter, only the in-plane heading
    tilt = np.array([[1.0, 0, 0], [0, np.cos(0.3), -np.sin(0.3)], [0, np.sin(0.3), np.cos(0.3)]])
    assert not heading_flipped(rz(30.0) @ tilt, np.eye(3))
    with pytest.raises(InputError, match="3, 3"):
        heading_flipped(np.eye(2), np.eye(3))
