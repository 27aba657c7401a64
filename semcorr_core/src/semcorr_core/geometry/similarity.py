"""Weighted least-squares similarity / rigid alignment of corresponding points (Umeyama / Kabsch).

Given corresponding points ``src`` and ``dst`` and optional non-negative weights ``w``, find the
rotation ``R`` (a proper rotation, ``det R = +1``), translation ``t`` and scale ``s > 0`` minimising

    sum_i w_i || dst_i - (s R src_i + t) ||^2 .

The closed form is Umeyama (1991): with weighted centroids ``mu_s, mu_d``, cross-covariance
``Sigma = sum_i w_i (dst_i - mu_d)(src_i - mu_s)^T / W`` and its SVD ``U D V^T``,
``R = U diag(1, 1, det(U V^T)) V^T`` (the last sign removes reflections),
``s = trace(D diag(1, 1, det(U V^T))) / var_s`` and ``t = mu_d - s R mu_s``.

The optimal rotation does not depend on the scale, and for fixed ``R`` the objective is a convex
quadratic in ``s`` with ``t`` eliminated, so clamping ``s`` to ``[s_min, s_max]`` and recomputing
``t = mu_d - s R mu_s`` *after* clamping gives the exact constrained optimum (used with
``s_min = 1`` by the generalised Procrustes step of seed 004, which forbids shrinking).
``with_scale=False`` gives the rigid (Kabsch) solution with ``s = 1``.

Two implementations with the same semantics:

* :func:`fit_similarity` -- numpy, one problem: ``(N, 3)`` arrays, ``float64``.
* :func:`fit_similarity_torch` -- batched torch: ``(B, N, 3)`` tensors, differentiable, on the
  device of the inputs.

Both return a :class:`SimilarityTransform` ``(R, t, s)`` with ``apply`` / ``inverse`` / ``matrix``
helpers that work on numpy arrays and (batched) tensors alike.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import numpy as np
import torch

from semcorr_core.errors import InputError

__all__ = ["SimilarityTransform", "fit_similarity", "fit_similarity_torch", "similarity_residuals"]

#: relative singular-value threshold below which a point set counts as collinear (or a point)
DEGENERACY_RTOL = 1e-6


class SimilarityTransform(NamedTuple):
    """``x -> s * R @ x + t``.

    numpy (one transform): ``R`` (3, 3), ``t`` (3,), ``s`` float.
    torch (batched): ``R`` (B, 3, 3), ``t`` (B, 3), ``s`` (B,). Any leading batch shape ``(...)``
    works as long as ``R`` is ``(..., 3, 3)``, ``t`` ``(..., 3)`` and ``s`` ``(...)``.
    """

    R: Any
    t: Any
    s: Any

    @property
    def is_torch(self) -> bool:
        return isinstance(self.R, torch.Tensor)

    def apply(self, points: Any) -> Any:
        """Transform points.

        numpy: ``(..., 3)`` -> ``(..., 3)``. torch: ``(..., N, 3)`` with the transform's batch
        shape ``(...)`` -> ``(..., N, 3)``.
        """
        if self.is_torch:
            if not isinstance(points, torch.Tensor) or points.shape[-1] != 3 or points.dim() != self.R.dim():
                raise InputError(
                    f"apply: expected a tensor of shape {tuple(self.R.shape[:-2])} + (N, 3), got "
                    f"{getattr(points, 'shape', type(points).__name__)}; add or remove the batch dimension"
                )
            return self.s[..., None, None] * (points @ self.R.transpose(-1, -2)) + self.t[..., None, :]
        p = np.asarray(points, dtype=np.float64)
        if p.shape[-1:] != (3,):
            raise InputError(f"apply: points must have shape (..., 3), got {p.shape}")
        return float(self.s) * (p @ np.asarray(self.R).T) + np.asarray(self.t)

    def inverse(self) -> "SimilarityTransform":
        """The inverse transform ``y -> R^T (y - t) / s``."""
        if self.is_torch:
            Rt = self.R.transpose(-1, -2)
            inv_s = 1.0 / self.s
            t = -inv_s[..., None] * (Rt @ self.t[..., None])[..., 0]
            return SimilarityTransform(Rt, t, inv_s)
        Rt = np.asarray(self.R).T
        inv_s = 1.0 / float(self.s)
        return SimilarityTransform(Rt, -inv_s * (Rt @ np.asarray(self.t)), inv_s)

    def matrix(self) -> Any:
        """Homogeneous 4x4 matrix: numpy ``(4, 4)`` or torch ``(..., 4, 4)``."""
        if self.is_torch:
            top = torch.cat([self.s[..., None, None] * self.R, self.t[..., :, None]], dim=-1)
            bottom = torch.zeros(top.shape[:-2] + (1, 4), dtype=top.dtype, device=top.device)
            bottom[..., 0, 3] = 1.0
            return torch.cat([top, bottom], dim=-2)
        T = np.eye(4)
        T[:3, :3] = float(self.s) * np.asarray(self.R)
        T[:3, 3] = np.asarray(self.t)
        return T


def _check_scale_bounds(with_scale: bool, s_min: Optional[float], s_max: Optional[float]) -> None:
    for name, v in (("s_min", s_min), ("s_max", s_max)):
        if v is not None and not (np.isfinite(v) and v > 0):
            raise InputError(f"{name} must be a finite positive number or None, got {v}")
    if s_min is not None and s_max is not None and s_min > s_max:
        raise InputError(f"s_min ({s_min}) must not exceed s_max ({s_max})")
    if not with_scale and (s_min is not None or s_max is not None):
        raise InputError("scale bounds were given with with_scale=False (scale fixed to 1); drop s_min/s_max")


# --------------------------------------------------------------------------------------------
# numpy
# --------------------------------------------------------------------------------------------
def fit_similarity(
    src: np.ndarray,
    dst: np.ndarray,
    weights: Optional[np.ndarray] = None,
    *,
    with_scale: bool = True,
    s_min: Optional[float] = None,
    s_max: Optional[float] = None,
) -> SimilarityTransform:
    """Weighted Umeyama fit ``dst ~ s R src + t`` for one problem (numpy, float64).

    Args:
        src: ``(N, 3)`` source points.
        dst: ``(N, 3)`` corresponding destination points.
        weights: optional ``(N,)`` non-negative finite weights (need not sum to 1).
        with_scale: estimate the scale; ``False`` gives the rigid (Kabsch) fit with ``s = 1``.
        s_min, s_max: optional bounds on the scale (clamped; ``t`` recomputed after clamping).

    Returns:
        :class:`SimilarityTransform` with ``R`` (3, 3) proper rotation, ``t`` (3,), ``s`` float.

    Raises:
        InputError: wrong shapes, non-finite values, negative weights, all-zero weights, or fewer
            than 3 non-collinear (positively weighted) points in ``src`` or ``dst``.
    """
    _check_scale_bounds(with_scale, s_min, s_max)
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.ndim != 2 or src.shape[1] != 3 or dst.shape != src.shape:
        raise InputError(f"fit_similarity: src and dst must both be (N, 3), got {src.shape} and {dst.shape}")
    n = src.shape[0]
    if n < 3:
        raise InputError(f"fit_similarity needs at least 3 non-collinear correspondences, got {n}")
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise InputError("fit_similarity: src/dst contain NaN or inf; drop invalid points (e.g. missing depth) first")
    if weights is None:
        w = np.full(n, 1.0 / n)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (n,):
            raise InputError(f"fit_similarity: weights must have shape ({n},), got {w.shape}")
        if not np.isfinite(w).all() or (w < 0).any():
            raise InputError("fit_similarity: weights must be finite and >= 0")
        total = w.sum()
        if total <= 0:
            raise InputError("fit_similarity: all weights are zero; give at least 3 non-collinear points weight > 0")
        w = w / total
    mu_s = w @ src
    mu_d = w @ dst
    xs = src - mu_s
    xd = dst - mu_d
    _check_rank_np(xs, w, "src")
    _check_rank_np(xd, w, "dst")
    cov = (xd * w[:, None]).T @ xs  # (3, 3) = sum_i w_i xd_i xs_i^T
    U, D, Vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(U) * np.linalg.det(Vt))
    if d == 0:
        d = 1.0
    S = np.array([1.0, 1.0, d])
    R = (U * S) @ Vt
    if with_scale:
        var_s = float(w @ (xs * xs).sum(axis=1))
        s = float((D * S).sum() / var_s)
        if s_min is not None:
            s = max(s, float(s_min))
        if s_max is not None:
            s = min(s, float(s_max))
    else:
        s = 1.0
    t = mu_d - s * (R @ mu_s)
    return SimilarityTransform(R, t, s)


def _check_rank_np(x: np.ndarray, w: np.ndarray, name: str) -> None:
    sv = np.linalg.svd(x * np.sqrt(w)[:, None], compute_uv=False)
    if sv[0] <= 1e-12 or sv[1] <= DEGENERACY_RTOL * sv[0]:
        raise InputError(
            f"fit_similarity: {name} points (with weight > 0) are coincident or collinear; the rotation is "
            "undetermined - give at least 3 non-collinear correspondences"
        )


def similarity_residuals(T: SimilarityTransform, src: Any, dst: Any) -> Any:
    """Euclidean residual ``|| dst - T(src) ||`` per point: numpy ``(N,)`` or torch ``(..., N)``."""
    if T.is_torch:
        return torch.linalg.norm(T.apply(src) - dst, dim=-1)
    return np.linalg.norm(T.apply(src) - np.asarray(dst, dtype=np.float64), axis=-1)


# --------------------------------------------------------------------------------------------
# torch (batched)
# --------------------------------------------------------------------------------------------
def fit_similarity_torch(
    src: torch.Tensor,
    dst: torch.Tensor,
    weights: Optional[torch.Tensor] = None,
    *,
    with_scale: bool = True,
    s_min: Optional[float] = None,
    s_max: Optional[float] = None,
    check_degenerate: bool = True,
    eps: float = 1e-12,
) -> SimilarityTransform:
    """Batched, differentiable weighted Umeyama fit ``dst[b] ~ s[b] R[b] src[b] + t[b]``.

    Args:
        src: ``(B, N, 3)`` source points (float32/float64, any device).
        dst: ``(B, N, 3)`` destination points, same dtype/device.
        weights: optional ``(B, N)`` non-negative weights; zero removes a point (use it for
            padding or invalid points).
        with_scale: estimate the scale; ``False`` gives the rigid (Kabsch) fit with ``s = 1``.
        s_min, s_max: optional scale bounds (clamped, ``t`` recomputed after clamping).
        check_degenerate: raise :class:`InputError` if any batch element has all-zero weights or
            collinear/coincident weighted points. Set ``False`` inside training loops or batched
            RANSAC where such elements are handled by the caller; their ``R`` is then still a proper
            rotation but arbitrary, and ``s`` may be 0 (before clamping).
        eps: guards divisions (total weight, source variance).

    Returns:
        :class:`SimilarityTransform` with ``R`` (B, 3, 3), ``t`` (B, 3), ``s`` (B,), on the input
        device and dtype. Gradients flow to ``src``, ``dst`` and ``weights`` (SVD backward; it is
        ill-conditioned when two singular values of the cross-covariance coincide, e.g. for
        perfectly symmetric point sets).

    Raises:
        InputError: shape/dtype/device mismatch, NaN/inf, negative weights, degenerate elements
            (see ``check_degenerate``).
    """
    _check_scale_bounds(with_scale, s_min, s_max)
    if not isinstance(src, torch.Tensor) or not isinstance(dst, torch.Tensor):
        raise InputError("fit_similarity_torch: src and dst must be torch tensors; use fit_similarity for numpy")
    if src.dim() != 3 or src.shape[-1] != 3 or dst.shape != src.shape:
        raise InputError(
            f"fit_similarity_torch: src and dst must both be (B, N, 3), got {tuple(src.shape)} and {tuple(dst.shape)}; "
            "add a batch dimension with x[None] for a single problem"
        )
    if not src.is_floating_point() or src.dtype != dst.dtype or src.device != dst.device:
        raise InputError(
            f"fit_similarity_torch: src and dst must share a floating dtype and device, got "
            f"{src.dtype}@{src.device} and {dst.dtype}@{dst.device}"
        )
    B, N, _ = src.shape
    if N < 3:
        raise InputError(f"fit_similarity_torch needs at least 3 correspondences per problem, got N={N}")
    if not (torch.isfinite(src).all() and torch.isfinite(dst).all()):
        raise InputError("fit_similarity_torch: src/dst contain NaN or inf; mask such points with weight 0 and replace them by 0")
    if weights is None:
        w = torch.full((B, N), 1.0 / N, dtype=src.dtype, device=src.device)
    else:
        if not isinstance(weights, torch.Tensor) or weights.shape != (B, N):
            raise InputError(f"fit_similarity_torch: weights must be a ({B}, {N}) tensor, got {getattr(weights, 'shape', weights)}")
        w = weights.to(dtype=src.dtype, device=src.device)
        if not torch.isfinite(w).all() or (w < 0).any():
            raise InputError("fit_similarity_torch: weights must be finite and >= 0")
        total = w.sum(dim=1, keepdim=True)
        if check_degenerate and (total <= 0).any():
            bad = torch.nonzero(total[:, 0] <= 0).flatten().tolist()
            raise InputError(f"fit_similarity_torch: all weights are zero in batch elements {bad}; give >= 3 points weight > 0")
        w = w / total.clamp_min(eps)
    mu_s = (w[..., None] * src).sum(dim=1)  # (B, 3)
    mu_d = (w[..., None] * dst).sum(dim=1)
    xs = src - mu_s[:, None]
    xd = dst - mu_d[:, None]
    if check_degenerate:
        with torch.no_grad():
            sw = w.sqrt()[..., None]
            for name, x in (("src", xs), ("dst", xd)):
                sv = torch.linalg.svdvals(x * sw)  # (B, 3)
                bad = (sv[:, 0] <= eps) | (sv[:, 1] <= DEGENERACY_RTOL * sv[:, 0])
                if bad.any():
                    idx = torch.nonzero(bad).flatten().tolist()[:10]
                    raise InputError(
                        f"fit_similarity_torch: {name} points are coincident or collinear in batch elements {idx}; "
                        "give at least 3 non-collinear correspondences (or pass check_degenerate=False)"
                    )
    cov = (w[..., None] * xd).transpose(1, 2) @ xs  # (B, 3, 3)
    U, D, Vh = torch.linalg.svd(cov)
    d = torch.sign(torch.linalg.det(U) * torch.linalg.det(Vh)).detach()
    d = torch.where(d == 0, torch.ones_like(d), d)
    S = torch.stack([torch.ones_like(d), torch.ones_like(d), d], dim=-1)  # (B, 3)
    R = (U * S[:, None, :]) @ Vh
    if with_scale:
        var_s = (w * (xs * xs).sum(dim=-1)).sum(dim=1)
        s = (D * S).sum(dim=-1) / var_s.clamp_min(eps)
        if s_min is not None or s_max is not None:
            s = s.clamp(min=s_min, max=s_max)
    else:
        s = torch.ones(B, dtype=src.dtype, device=src.device)
    t = mu_d - s[:, None] * (R @ mu_s[..., None])[..., 0]
    return SimilarityTransform(R, t, s)
