"""Symmetry-aware errors between predicted and ground-truth similarity poses.

A pose maps canonical coordinates to the camera frame: ``x_cam = s * R @ x_can + t`` (``R`` proper
rotation, ``t`` metres, ``s > 0`` unitless). Inputs may be one pose (``R`` (3, 3), ``t`` (3,), ``s``
scalar) or a batch (``R`` (N, 3, 3), ``t`` (N, 3), ``s`` (N,)); the result fields are floats or (N,)
arrays accordingly.

Errors
------
* ``rotation_deg``: geodesic angle on SO(3) between the poses, modulo the category symmetry
  (``semcorr_core.data.shape.Symmetry``):

  - ``"none"``: ``angle(R_pred^T R_gt)``.
  - ``"rotation_z"`` (continuous rotation about canonical +z): every ``R_gt @ Rz(theta)`` is an
    equivalent pose, and the minimum over ``theta`` of the angle is the angle between the two
    canonical z axes expressed in the camera frame, ``angle(R_pred[:, 2], R_gt[:, 2])``.
  - ``"reflection"`` (mirror ``M`` through a canonical plane): the poses that show a mirror-symmetric
    shape identically are ``R_gt`` and ``R_gt @ M``, but ``R_gt @ M`` has determinant -1: it is not
    a rotation, and no proper rotation can stand in for it in general. So a reflection symmetry
    adds **no** proper pose to the equivalence set and the rotation error is the plain one (as for
    ``"none"``). A category that is mirror-symmetric *and* has a rotational symmetry must declare the
    rotational one. Left/right confusions of mirror-symmetric categories (chairs) are therefore not
    hidden in the pose error; detect them on the keypoints with :func:`left_right_flip`, and compare
    dense coordinates with the mirror-aware ``semcorr_core.metrics.canonical``.
* ``translation_m``: ``||t_pred - t_gt||`` (the canonical origin, on the symmetry axis / in the
  symmetry plane by the category convention, so the symmetry does not change it).
* ``scale_rel``: ``|s_pred / s_gt - 1|``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from semcorr_core.data.shape import Symmetry
from semcorr_core.errors import InputError
from semcorr_core.metrics._arrays import as_array

__all__ = ["PoseError", "FlipResult", "rotation_angle_deg", "pose_error", "left_right_flip", "heading_flipped"]

Scalar = float | np.ndarray


@dataclass(frozen=True)
class PoseError:
    """Errors of one pose (floats) or a batch ((N,) arrays)."""

    rotation_deg: Scalar
    translation_m: Scalar
    scale_rel: Scalar
    symmetry: str


def _check_rotations(R: np.ndarray, name: str, tol: float = 1e-4) -> None:
    if not np.all(np.isfinite(R)):
        raise InputError(f"{name} contains NaN/inf")
    err = np.abs(np.einsum("nij,nkj->nik", R, R) - np.eye(3)).max(axis=(1, 2))
    det = np.linalg.det(R)
    if np.any(err > tol) or np.any(det < 0):
        bad = int(np.argmax((err > tol) | (det < 0)))
        raise InputError(
            f"{name}[{bad}] is not a proper rotation (|R R^T - I| = {err[bad]:.2e}, det = {det[bad]:.3f}); "
            "pass the rotation part only (divide out the scale) and orthonormalise it (e.g. SVD) first"
        )


def _angle(cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    return np.degrees(np.arctan2(sin, cos))


def rotation_angle_deg(R_a: npt.ArrayLike, R_b: npt.ArrayLike) -> Scalar:
    """Geodesic angle (degrees, [0, 180]) between rotations (3, 3) or batches (N, 3, 3)."""
    a = as_array(R_a, "R_a")
    b = as_array(R_b, "R_b")
    if a.shape != b.shape or a.shape[-2:] != (3, 3) or a.ndim not in (2, 3):
        raise InputError(f"rotations must both be (3, 3) or (N, 3, 3), got {a.shape} and {b.shape}")
    single = a.ndim == 2
    a, b = a.reshape(-1, 3, 3), b.reshape(-1, 3, 3)
    _check_rotations(a, "R_a")
    _check_rotations(b, "R_b")
    ang = _rotation_angle(a, b)
    return float(ang[0]) if single else ang


def _rotation_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    D = np.einsum("nji,njk->nik", a, b)  # a^T b
    cos = (np.trace(D, axis1=1, axis2=2) - 1.0) / 2.0
    w = np.stack([D[:, 2, 1] - D[:, 1, 2], D[:, 0, 2] - D[:, 2, 0], D[:, 1, 0] - D[:, 0, 1]], axis=1)
    sin = np.linalg.norm(w, axis=1) / 2.0
    return _angle(cos, sin)


def pose_error(
    R_pred: npt.ArrayLike,
    t_pred: npt.ArrayLike,
    s_pred: npt.ArrayLike,
    R_gt: npt.ArrayLike,
    t_gt: npt.ArrayLike,
    s_gt: npt.ArrayLike,
    symmetry: Symmetry | None = None,
) -> PoseError:
    """Rotation (deg, modulo ``symmetry``), translation (m) and relative scale error; see module docstring."""
    sym = symmetry if symmetry is not None else Symmetry()
    if not isinstance(sym, Symmetry):
        raise InputError(f"symmetry must be a semcorr_core.data.shape.Symmetry or None, got {type(sym).__name__}")
    Rp, Rg = as_array(R_pred, "R_pred"), as_array(R_gt, "R_gt")
    single = Rg.ndim == 2
    if Rg.shape[-2:] != (3, 3) or Rg.ndim not in (2, 3):
        raise InputError(f"R_gt must be (3, 3) or (N, 3, 3), got {Rg.shape}")
    if Rp.shape != Rg.shape:
        raise InputError(f"R_pred must have the same shape as R_gt {Rg.shape}, got {Rp.shape}")
    Rp, Rg = Rp.reshape(-1, 3, 3), Rg.reshape(-1, 3, 3)
    n = Rg.shape[0]
    tp, tg = as_array(t_pred, "t_pred"), as_array(t_gt, "t_gt")
    want_t = (3,) if single else (n, 3)
    for name, t in (("t_pred", tp), ("t_gt", tg)):
        if t.shape != want_t:
            raise InputError(f"{name} must have shape {want_t} (metres) to match the rotations, got {t.shape}")
        if not np.all(np.isfinite(t)):
            raise InputError(f"{name} contains NaN/inf")
    sp, sg = as_array(s_pred, "s_pred"), as_array(s_gt, "s_gt")
    want_s = () if single else (n,)
    for name, s in (("s_pred", sp), ("s_gt", sg)):
        if s.shape != want_s:
            raise InputError(f"{name} must have shape {want_s} (one scale per pose), got {s.shape}")
        if not np.all(np.isfinite(s)) or np.any(s <= 0):
            raise InputError(f"{name} must be finite and > 0 (similarity scale), got {s}")
    _check_rotations(Rp, "R_pred")
    _check_rotations(Rg, "R_gt")

    if sym.kind == "rotation_z":
        zp, zg = Rp[:, :, 2], Rg[:, :, 2]
        rot = _angle((zp * zg).sum(1), np.linalg.norm(np.cross(zp, zg), axis=1))
    else:  # "none" and "reflection" (a mirror adds no proper rotation; see module docstring)
        rot = _rotation_angle(Rp, Rg)
    trans = np.linalg.norm(tp.reshape(-1, 3) - tg.reshape(-1, 3), axis=1)
    scale = np.abs(sp.reshape(-1) / sg.reshape(-1) - 1.0)
    if single:
        return PoseError(float(rot[0]), float(trans[0]), float(scale[0]), sym.kind)
    return PoseError(rot, trans, scale, sym.kind)


@dataclass(frozen=True)
class FlipResult:
    """flipped: the prediction matches the GT strictly better after swapping the left/right pairs.
    error_direct / error_swapped: mean distance over the compared keypoints (input units)."""

    flipped: bool
    error_direct: float
    error_swapped: float
    compared: tuple[str, ...]


def left_right_flip(
    pred_kps: Mapping[str, npt.ArrayLike],
    gt_kps: Mapping[str, npt.ArrayLike],
    swaps: Sequence[tuple[str, str]] | Symmetry,
) -> FlipResult:
    """Whether a prediction is left/right flipped with respect to the ground truth.

    pred_kps / gt_kps: ``{name: (D,) point}`` (2D pixels or 3D metres, same ``D`` for all).
    swaps: the left/right name pairs, or a ``Symmetry`` (its ``keypoint_swaps``).
    Compares the mean distance of the keypoints as named against the mean distance after renaming
    every prediction ``a`` of a pair ``(a, b)`` to ``b`` and vice versa. Compared names: those present
    (finite) in both dicts whose swap partner is also present in the prediction. Unswapped names
    add the same amount to both sides. ``flipped`` is True only when swapping is strictly better.
    """
    pairs = swaps.keypoint_swaps if isinstance(swaps, Symmetry) else tuple(tuple(p) for p in swaps)
    mapping: dict[str, str] = {}
    for pr in pairs:
        if len(pr) != 2 or pr[0] == pr[1]:
            raise InputError(f"each swap must be a pair of two different keypoint names, got {pr!r}")
        a, b = pr
        if a in mapping or b in mapping:
            raise InputError(f"keypoint {a!r} or {b!r} appears in more than one swap pair")
        mapping[a], mapping[b] = b, a
    if not mapping:
        raise InputError("swaps is empty: name the left/right keypoint pairs, e.g. [('arm_left', 'arm_right')]")

    def _clean(d: Mapping[str, npt.ArrayLike], which: str) -> dict[str, np.ndarray]:
        out = {}
        for k, v in d.items():
            arr = as_array(v, f"{which}[{k!r}]").reshape(-1)
            if np.all(np.isfinite(arr)):
                out[str(k)] = arr
        return out

    P, G = _clean(pred_kps, "pred_kps"), _clean(gt_kps, "gt_kps")
    dims = {v.shape for v in (*P.values(), *G.values())}
    if len(dims) > 1:
        raise InputError(f"all keypoints must have the same dimension (2D or 3D), got shapes {sorted(dims)}")
    names = tuple(k for k in G if k in P and mapping.get(k, k) in P)
    if not any(k in mapping for k in names):
        raise InputError(
            "no left/right pair can be compared: need at least one swapped name present in the ground truth "
            "with both partners present in the prediction"
        )
    direct = float(np.mean([np.linalg.norm(P[k] - G[k]) for k in names]))
    swapped = float(np.mean([np.linalg.norm(P[mapping.get(k, k)] - G[k]) for k in names]))
    return FlipResult(flipped=swapped < direct, error_direct=direct, error_swapped=swapped, compared=names)


def heading_flipped(R_pred: npt.ArrayLike, R_gt: npt.ArrayLike, axis: Sequence[float] = (1.0, 0.0, 0.0),
                    up: Sequence[float] = (0.0, 0.0, 1.0)) -> bool:
    """Whether a predicted rotation points the canonical ``axis`` (mug: +x, towards the handle) to
    the other side of the object: more than 90 degrees from the ground truth's, both projected onto
    the plane perpendicular to the ground truth's ``up`` axis. An upright object with a handle or a
    front then has it on the wrong side (the mug's left/right flip: its mirror plane keeps the
    handle in place, so a keypoint swap cannot show it)."""
    Rp, Rg = as_array(R_pred, "R_pred"), as_array(R_gt, "R_gt")
    if Rp.shape != (3, 3) or Rg.shape != (3, 3):
        raise InputError(f"R_pred and R_gt must be (3, 3), got {Rp.shape} and {Rg.shape}")
    a, u = np.asarray(axis, dtype=np.float64), np.asarray(up, dtype=np.float64)
    n = Rg @ u / np.linalg.norm(Rg @ u)
    hp, hg = Rp @ a, Rg @ a
    hp, hg = hp - (hp @ n) * n, hg - (hg @ n) * n
    return bool(hp @ hg < 0.0)
