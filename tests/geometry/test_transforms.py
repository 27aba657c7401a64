import numpy as np
import pytest

from semcorr_core.errors import InputError
from semcorr_core.geometry import (
    apply_transform,
    invert_transform,
    look_at,
    make_transform,
    random_rotation,
    rotation_z,
)


def test_make_apply_invert():
    rng = np.random.default_rng(1)
    R = random_rotation(rng)
    T = make_transform(R, [1.0, 2.0, 3.0], 2.0)
    assert T.shape == (4, 4)
    p = rng.standard_normal((10, 3))
    q = apply_transform(T, p)
    np.testing.assert_allclose(q, 2.0 * p @ R.T + [1.0, 2.0, 3.0])
    np.testing.assert_allclose(apply_transform(invert_transform(T), q), p, atol=1e-12)
    assert apply_transform(T, p[0]).shape == (3,)


def test_random_rotation_is_proper_and_deterministic():
    for seed in range(5):
        R = random_rotation(np.random.default_rng(seed))
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(R) == pytest.approx(1.0)
    np.testing.assert_array_equal(random_rotation(np.random.default_rng(7)), random_rotation(np.random.default_rng(7)))


def test_rotation_z():
    np.testing.assert_allclose(rotation_z(np.pi / 2) @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)


def test_look_at_optical_frame():
    eye = np.array([2.0, 0.0, 1.0])
    T = look_at(eye, [0.0, 0.0, 1.0])
    R = T[:3, :3]
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    np.testing.assert_allclose(R[:, 2], [-1.0, 0.0, 0.0], atol=1e-12)  # z forward towards target
    assert R[2, 1] < 0  # image y (down) points against world up
    np.testing.assert_allclose(T[:3, 3], eye)
    # target in front of the camera at depth 2 on the optical axis
    p_cam = apply_transform(invert_transform(T), [0.0, 0.0, 1.0])
    np.testing.assert_allclose(p_cam, [0.0, 0.0, 2.0], atol=1e-12)


def test_look_at_straight_down_and_degenerate():
    T = look_at([0.0, 0.0, 2.0], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(T[:3, 2], [0.0, 0.0, -1.0], atol=1e-12)
    assert np.linalg.det(T[:3, :3]) == pytest.approx(1.0)
    with pytest.raises(InputError):
        look_at([1.0, 1.0, 1.0], [1.0, 1.0, 1.0])


def test_gravity_frame_axes():
    from semcorr_core.geometry import gravity_frame

    # camera looking horizontally (optical z forward, y down): up is -y in the camera frame
    G = gravity_frame(np.array([0.0, -2.0, 0.0]))
    np.testing.assert_allclose(G @ G.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(G) == pytest.approx(1.0)
    np.testing.assert_allclose(G @ np.array([0.0, -1.0, 0.0]), [0, 0, 1], atol=1e-12)  # up -> +z
    np.testing.assert_allclose(G @ np.array([0.0, 0.0, 1.0]), [1, 0, 0], atol=1e-12)  # forward -> +x
    # tilted camera: forward loses its up component only
    up = np.array([0.0, -np.cos(0.5), np.sin(0.5)])
    G = gravity_frame(up)
    np.testing.assert_allclose(G[2], up, atol=1e-12)
    assert G[0] @ up == pytest.approx(0.0, abs=1e-12) and G[0][2] > 0
    # looking straight down: any heading, still a rotation with z = up
    G = gravity_frame(np.array([0.0, 0.0, -1.0]))
    np.testing.assert_allclose(G @ G.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(G[2], [0, 0, -1], atol=1e-12)
    for bad in ([0.0, 0.0, 0.0], [np.nan, 0.0, 1.0], [1.0, 2.0]):
        with pytest.raises(InputError, match="up"):
            gravity_frame(np.array(bad))
