"""Canonical keypoint prototype by generalised Procrustes (seed 004, "Jamais Vu", Eq. 3).

Jamais Vu keeps, per category, a prototype of ``K`` canonical 3D keypoints ``P = {p_i}`` shared
by all instances. Each training sample gives "posed" keypoints ``k_bar_i`` (Eq. 2: the annotated
pixel back-projected with its depth, camera frame, metres), of which only the visible ones are
used. The prototype is learned by solving a generalised Procrustes problem::

    min_P  sum_n sum_i || p_i - M_hat^(n) k_bar_i^(n) ||_1 ,
    M_hat^(n) = argmin_M  sum_i || p_i - M k_bar_i^(n) ||_2 ,   M = s [R | T]      (Eq. 3)

Reading:

* What is aligned to what: the *posed* keypoints of each sample (source) are mapped onto the
  *prototype* (destination) by a similarity ``M = (s, R, T)`` fitted with Kabsch-Umeyama (least
  squares, i.e. the squared norm; the printed ``|| . ||_2`` is read as Umeyama's objective) on the
  visible keypoints only.
* Scale constraint: ``s >= 1`` on the posed -> canonical map ("objects cannot shrink", which
  forbids the collapse ``s = 0``, and makes the prototype as large as the largest instance). The
  clamp of :func:`semcorr_core.geometry.fit_similarity_torch` (``s_min=1``) gives the exact
  constrained optimum.
* What is penalised: the L1 norm (sum of absolute x, y, z differences) between each canonical
  keypoint and the aligned posed keypoint, for the visible keypoints.
* Gradients: the paper writes ``M_hat`` as a function of ``P``; by default autograd goes through
  the Umeyama fit too. ``detach_transform=True`` treats ``M_hat`` as a constant of the step
  (classic alternating GPA). In the paper only ``P`` is optimised by this loss (the posed
  keypoints come from a depth model and carry no gradient).

Samples with fewer than ``min_visible`` (>= 3) visible keypoints, or whose visible posed keypoints
are coincident/collinear (rotation undetermined), are left out of the loss. If instead the
*prototype* restricted to the visible keypoints is degenerate, the sample is kept but its
transform is fitted without gradient (the SVD backward is undefined there).

Reductions: ``"mean"`` (default) averages over all used (sample, visible keypoint) terms, so the
value is a mean L1 alignment error in the units of the keypoints (metres); the paper's objective
is the ``"sum"``. ``"none"`` returns ``(B, K)`` with zeros for unused entries.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch import nn

from semcorr_core.errors import InputError
from semcorr_core.geometry import SimilarityTransform, fit_similarity_torch
from semcorr_core.geometry.similarity import DEGENERACY_RTOL

__all__ = ["PrototypeAlignment", "align_to_prototype", "procrustes_prototype_loss", "ProcrustesPrototype"]

_REDUCTIONS = ("mean", "sum", "none")


def _degenerate(x: torch.Tensor, w: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``(B, N, 3)``, ``(B, N)`` weights >= 0 -> ``(B,)`` bool: weighted points coincident or collinear."""
    with torch.no_grad():
        wn = w / w.sum(1, keepdim=True).clamp_min(eps)
        mu = (wn[..., None] * x).sum(1, keepdim=True)
        sv = torch.linalg.svdvals((x - mu) * wn.sqrt()[..., None])
        return (sv[:, 0] <= eps) | (sv[:, 1] <= DEGENERACY_RTOL * sv[:, 0])


def _batched_fit(
    src: torch.Tensor,
    dst: torch.Tensor,
    weights: torch.Tensor,
    *,
    fixed_side: str,
    s_min: Optional[float],
    s_max: Optional[float],
    detach_transform: bool,
    min_points: int = 3,
) -> tuple[SimilarityTransform, torch.Tensor]:
    """Umeyama ``dst ~ s R src + t`` per batch element, robust to degenerate elements.

    ``fixed_side`` (``"src"`` or ``"dst"``) is the data side (posed points): elements with fewer
    than ``min_points`` weighted points or a degenerate data side are *unused* (returned mask
    ``False``; identity-like transform, no gradient). Elements whose learned side is degenerate
    are used but fitted without gradient, as are all elements when ``detach_transform``.
    Returns ``(transform (B,...), used (B,) bool)``.
    """
    B = src.shape[0]
    dev, dt = src.device, src.dtype
    w = weights.to(dt)
    enough = (weights > 0).sum(1) >= min_points
    fixed, learned = (src, dst) if fixed_side == "src" else (dst, src)
    used = enough & ~_degenerate(fixed, w)
    grad_ok = used & ~_degenerate(learned, w) & (not detach_transform) & torch.is_grad_enabled()
    R = torch.eye(3, dtype=dt, device=dev).expand(B, 3, 3).clone()
    t = torch.zeros(B, 3, dtype=dt, device=dev)
    s = torch.ones(B, dtype=dt, device=dev)
    nograd = used & ~grad_ok
    kw = dict(s_min=s_min, s_max=s_max, check_degenerate=False)
    if nograd.any():
        with torch.no_grad():
            Tn = fit_similarity_torch(src[nograd].detach(), dst[nograd].detach(), w[nograd], **kw)
        R, t, s = R.index_put((nograd,), Tn.R), t.index_put((nograd,), Tn.t), s.index_put((nograd,), Tn.s)
    if grad_ok.any():
        Tg = fit_similarity_torch(src[grad_ok], dst[grad_ok], w[grad_ok], **kw)
        R, t, s = R.index_put((grad_ok,), Tg.R), t.index_put((grad_ok,), Tg.t), s.index_put((grad_ok,), Tg.s)
    return SimilarityTransform(R, t, s), used


class PrototypeAlignment(NamedTuple):
    """Per-sample posed -> canonical similarity and which samples were used.

    ``transform``: :class:`SimilarityTransform` with ``R (B, 3, 3)``, ``t (B, 3)``, ``s (B,)``
    (identity for unused samples). ``used``: ``(B,)`` bool.
    """

    transform: SimilarityTransform
    used: torch.Tensor


def _check_inputs(prototype, keypoints, visible, where):
    if not isinstance(keypoints, torch.Tensor) or keypoints.dim() != 3 or keypoints.shape[-1] != 3 or not keypoints.is_floating_point():
        raise InputError(
            f"{where}: keypoints must be a float (B, K, 3) tensor of posed (back-projected) keypoints, got "
            f"{getattr(keypoints, 'shape', type(keypoints).__name__)}; use x[None] for one sample"
        )
    B, K, _ = keypoints.shape
    if not isinstance(prototype, torch.Tensor) or not prototype.is_floating_point() or prototype.shape not in ((K, 3), (B, K, 3)):
        raise InputError(
            f"{where}: prototype must be a float ({K}, 3) tensor (or ({B}, {K}, 3) for per-sample prototypes), got "
            f"{getattr(prototype, 'shape', type(prototype).__name__)}"
        )
    if prototype.dtype != keypoints.dtype or prototype.device != keypoints.device:
        raise InputError(
            f"{where}: prototype and keypoints must share dtype and device, got {prototype.dtype}@{prototype.device} "
            f"and {keypoints.dtype}@{keypoints.device}"
        )
    if not isinstance(visible, torch.Tensor) or visible.dtype != torch.bool or visible.shape != (B, K):
        raise InputError(
            f"{where}: visible must be a bool ({B}, {K}) tensor (False for occluded / out-of-frame / missing keypoints), got "
            f"{getattr(visible, 'dtype', type(visible).__name__)} {tuple(getattr(visible, 'shape', ()))}"
        )
    visible = visible.to(keypoints.device)
    if not torch.isfinite(keypoints[visible]).all():
        raise InputError(f"{where}: visible keypoints contain NaN or inf (missing depth?); mark them not visible")
    if not torch.isfinite(prototype).all():
        raise InputError(f"{where}: prototype contains NaN or inf")
    P = prototype.expand(B, K, 3)
    kp = torch.where(visible[..., None], keypoints, torch.zeros_like(keypoints))  # NaN-free for invisible
    return P, kp, visible


def align_to_prototype(
    prototype: torch.Tensor,
    keypoints: torch.Tensor,
    visible: torch.Tensor,
    *,
    s_min: Optional[float] = 1.0,
    detach_transform: bool = False,
    min_visible: int = 3,
) -> PrototypeAlignment:
    """``M_hat`` of Eq. 3: Kabsch-Umeyama fit of the visible posed keypoints onto the prototype.

    Args:
        prototype: ``(K, 3)`` canonical keypoints ``P`` (or ``(B, K, 3)``).
        keypoints: ``(B, K, 3)`` posed keypoints ``k_bar`` (metres); invisible rows may be NaN.
        visible: ``(B, K)`` bool.
        s_min: lower scale bound of the posed -> canonical map (paper: 1; ``None``: unconstrained).
        detach_transform: fit without gradient.
        min_visible: samples with fewer visible keypoints are unused (>= 3).
    """
    where = "align_to_prototype"
    P, kp, vis = _check_inputs(prototype, keypoints, visible, where)
    if int(min_visible) < 3:
        raise InputError(f"{where}: min_visible must be >= 3 (a similarity needs 3 non-collinear points), got {min_visible}")
    T, used = _batched_fit(kp, P, vis, fixed_side="src", s_min=s_min, s_max=None,
                           detach_transform=detach_transform, min_points=int(min_visible))
    return PrototypeAlignment(T, used)


def procrustes_prototype_loss(
    prototype: torch.Tensor,
    keypoints: torch.Tensor,
    visible: torch.Tensor,
    *,
    s_min: Optional[float] = 1.0,
    detach_transform: bool = False,
    min_visible: int = 3,
    reduction: str = "mean",
) -> torch.Tensor:
    """Eq. 3 of seed 004: L1 residual of the prototype after aligning each sample's posed keypoints.

    Args:
        prototype: ``(K, 3)`` canonical keypoints ``P`` (or ``(B, K, 3)``), same dtype/device as
            ``keypoints``. Gradients flow to it (and to ``keypoints`` if they require grad).
        keypoints: ``(B, K, 3)`` posed keypoints (camera frame, metres); invisible rows may be NaN.
        visible: ``(B, K)`` bool, the keypoints used by the fit and by the loss.
        s_min: lower bound of the posed -> canonical scale (paper: 1.0).
        detach_transform: ``True``: no gradient through the Umeyama fit (alternating GPA).
        min_visible: samples with fewer visible keypoints are skipped.
        reduction: ``"mean"`` over used (sample, visible keypoint) terms, ``"sum"`` (the paper's
            objective), or ``"none"`` -> ``(B, K)``.

    Returns:
        Scalar tensor (``0`` if no sample is usable) or ``(B, K)``; units of the keypoints.
    """
    if reduction not in _REDUCTIONS:
        raise InputError(f"procrustes_prototype_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    P, kp, vis = _check_inputs(prototype, keypoints, visible, "procrustes_prototype_loss")
    align = align_to_prototype(prototype, keypoints, visible, s_min=s_min, detach_transform=detach_transform,
                               min_visible=min_visible)
    aligned = align.transform.apply(kp)  # (B, K, 3) in the canonical frame
    mask = vis & align.used[:, None]
    per_kp = (P - aligned).abs().sum(-1)  # L1 norm per keypoint
    per_kp = torch.where(mask, per_kp, torch.zeros_like(per_kp))
    if reduction == "none":
        return per_kp
    total = per_kp.sum() + 0.0 * prototype.sum()
    if reduction == "sum":
        return total
    return total / max(int(mask.sum()), 1)


class ProcrustesPrototype(nn.Module):
    """Learnable canonical keypoint prototype ``P`` (``(K, 3)`` parameter) with its Eq. 3 loss.

    Args:
        num_keypoints: ``K``, the category's keypoint count.
        init: optional ``(K, 3)`` initial prototype (e.g. the posed keypoints of one fully visible
            sample); otherwise ``init_scale * N(0, 1)`` drawn from ``generator``. It must not be
            collinear. A small initialisation is fine: with ``s >= 1`` the loss grows ``P`` to the
            size of the largest instance.
        init_scale: standard deviation of the random initialisation (metres).
        s_min, detach_transform, min_visible, reduction: see :func:`procrustes_prototype_loss`.

    ``forward(keypoints (B, K, 3), visible (B, K)) -> scalar loss``; ``align(...)`` gives the
    per-sample posed -> canonical transforms (e.g. to express the posed cloud in the canonical
    frame).
    """

    def __init__(
        self,
        num_keypoints: int,
        *,
        init: Optional[torch.Tensor] = None,
        init_scale: float = 0.1,
        generator: Optional[torch.Generator] = None,
        s_min: Optional[float] = 1.0,
        detach_transform: bool = False,
        min_visible: int = 3,
        reduction: str = "mean",
    ):
        super().__init__()
        if isinstance(num_keypoints, bool) or not isinstance(num_keypoints, int) or num_keypoints < 3:
            raise InputError(f"ProcrustesPrototype: num_keypoints must be an int >= 3, got {num_keypoints!r}")
        if init is None:
            if not (init_scale > 0):
                raise InputError(f"ProcrustesPrototype: init_scale must be > 0, got {init_scale}")
            init = init_scale * torch.randn(num_keypoints, 3, generator=generator)
        elif not isinstance(init, torch.Tensor) or init.shape != (num_keypoints, 3) or not init.is_floating_point() \
                or not torch.isfinite(init).all():
            raise InputError(
                f"ProcrustesPrototype: init must be a finite float ({num_keypoints}, 3) tensor, got "
                f"{getattr(init, 'shape', type(init).__name__)}"
            )
        if reduction not in _REDUCTIONS:
            raise InputError(f"ProcrustesPrototype: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.prototype = nn.Parameter(init.detach().clone())
        self.s_min = s_min
        self.detach_transform = bool(detach_transform)
        self.min_visible = int(min_visible)
        self.reduction = reduction

    def align(self, keypoints: torch.Tensor, visible: torch.Tensor) -> PrototypeAlignment:
        return align_to_prototype(self.prototype, keypoints, visible, s_min=self.s_min,
                                  detach_transform=self.detach_transform, min_visible=self.min_visible)

    def forward(self, keypoints: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        return procrustes_prototype_loss(self.prototype, keypoints, visible, s_min=self.s_min,
                                         detach_transform=self.detach_transform, min_visible=self.min_visible,
                                         reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"num_keypoints={self.prototype.shape[0]}, s_min={self.s_min}, detach_transform={self.detach_transform}"
