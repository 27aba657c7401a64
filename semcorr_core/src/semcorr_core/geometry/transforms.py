"""Rigid / similarity transforms as 4x4 matrices, and camera placement helpers (numpy)."""

from __future__ import annotations

import numpy as np

from semcorr_core.errors import InputError


def make_transform(R: np.ndarray, t: np.ndarray, s: float = 1.0) -> np.ndarray:
    """4x4 matrix of x -> s R x + t."""
    T = np.eye(4)
    T[:3, :3] = s * np.asarray(R, dtype=np.float64)
    T[:3, 3] = np.asarray(t, dtype=np.float64)
    return T


def apply_transform(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 transform to (..., 3) points."""
    T = np.asarray(T, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    return p @ T[:3, :3].T + T[:3, 3]


def invert_transform(T: np.ndarray) -> np.ndarray:
    """Inverse of a 4x4 similarity transform."""
    return np.linalg.inv(np.asarray(T, dtype=np.float64))


def rotation_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = (0.0, 0.0, 1.0)) -> np.ndarray:
    """4x4 camera-to-world pose of an optical-frame camera (x right, y down, z forward) at ``eye``
    looking at ``target``, with image-up as close to world ``up`` as possible."""
    eye = np.asarray(eye, dtype=np.float64)
    z = np.asarray(target, dtype=np.float64) - eye
    n = np.linalg.norm(z)
    if n < 1e-12:
        raise InputError("look_at: eye and target coincide")
    z /= n
    up = np.asarray(up, dtype=np.float64)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:  # looking straight along up: pick any perpendicular
        x = np.cross(z, np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0]))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return make_transform(np.stack([x, y, z], axis=1), eye)


def gravity_frame(up: np.ndarray, forward: np.ndarray = (0.0, 0.0, 1.0)) -> np.ndarray:
    """3x3 rotation ``G`` whose rows are the axes of a gravity-aligned frame, expressed in the
    frame ``up`` and ``forward`` are given in: ``z = up`` (e.g. the support-plane normal in the
    camera frame), ``x`` = ``forward`` (default the optical axis) with its ``up`` component
    removed, ``y = z x x``. ``p_gravity = G @ p``. Only the heading about ``up`` depends on
    ``forward``; an upright object then differs from its canonical frame by a rotation about z.
    When ``forward`` is (nearly) parallel to ``up`` (camera looking straight down) any heading is
    as good: one perpendicular to ``up`` is picked deterministically."""
    z = np.asarray(up, dtype=np.float64)
    n = np.linalg.norm(z)
    if z.shape != (3,) or not np.isfinite(z).all() or n < 1e-12:
        raise InputError(f"gravity_frame: up must be a finite non-zero 3-vector, got {up!r}")
    z = z / n
    f = np.asarray(forward, dtype=np.float64)
    if f.shape != (3,) or not np.isfinite(f).all():
        raise InputError(f"gravity_frame: forward must be a finite 3-vector, got {forward!r}")
    x = f - (f @ z) * z
    if np.linalg.norm(x) < 1e-6 * max(np.linalg.norm(f), 1.0):
        helper = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        x = helper - (helper @ z) * z
    x = x / np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z])


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniformly distributed rotation (QR of a Gaussian matrix with sign fix)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q
