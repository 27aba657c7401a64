"""Local geometric-alignment loss with pseudo-geodesic neighbourhoods (seed 004, "Jamais Vu", Eq. 6).

For every object point of a training sample there are two coordinates, in index correspondence:

* ``X^b`` (posed): the point back-projected with depth (Eq. 2), camera frame, metres;
* ``X^c`` (canonical): the predicted canonical coordinate (Eq. 5, attention over the prototype).

The canonical shape need not equal the posed one globally (instances differ, objects deform),
but it should be *locally* similar. Eq. 6::

    min_{Phi, Z} 1/N sum_n || C_q - M_c2b B_q ||_1 + || B_r - M_b2c C_r ||_1                  (Eq. 6)

* ``C_q``: the ``k`` nearest neighbours of a point ``q`` in the *canonical* cloud (Euclidean
  kNN), ``B_q`` the posed coordinates of the same points. ``B_q`` is aligned *onto* ``C_q``.
* ``B_r``: the ``k``-point *pseudo-geodesic* neighbourhood of a point ``r`` in the *posed* cloud
  (Algorithm 1, :func:`semcorr_core.geometry.pseudo_geodesic_neighbourhoods`; it follows the
  surface instead of jumping to a nearby part such as a hand close to a face), ``C_r`` the
  canonical coordinates of the same points. ``C_r`` is aligned *onto* ``B_r``.
* The ``M`` are similarities fitted by Kabsch-Umeyama at every iteration "as in Eq. 3", and the
  residual is penalised with the L1 norm.

Reading and choices (documented, configurable):

* Scale: Eq. 3 constrains the posed -> canonical scale to ``s >= 1``. The first term maps posed
  -> canonical, so by default it uses ``s_min = 1`` (without it the canonical neighbourhood could
  collapse to a point with ``s = 0`` and zero loss). The second term maps canonical -> posed; the
  consistent constraint is its inverse, ``s <= 1`` (default ``s_max = 1``). Pass ``None`` to
  lift either bound.
* Gradients go through the fits by default (``detach_transform=False``); the prototype must be
  detached by the caller (the paper: Eq. 6 does not update ``P``). Neighbour selection uses no
  gradient.
* The L1 norm of a neighbourhood residual is the per-point L1 norm (sum of ``|dx|+|dy|+|dz|``).
  ``"mean"`` (default) averages it over the points of all used neighbourhoods, separately for the
  two terms, and adds the two means (units: metres); ``"sum"`` sums everything; ``"none"`` returns
  the two ``(B, S, k)`` per-point residual tensors.
* Neighbourhoods whose *posed* points are degenerate (coincident / collinear) are skipped. A
  degenerate *canonical* neighbourhood is still penalised, with its transform fitted without
  gradient.

The paper FPS-subsamples each object cloud to 1024 points and uses ``k = 64``.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Union

import torch

from semcorr_core.errors import InputError
from semcorr_core.geometry import pseudo_geodesic_neighbourhoods
from semcorr_core.losses.procrustes_prototype import _batched_fit

__all__ = ["knn_neighbourhoods", "local_alignment_loss", "LocalAlignmentResiduals"]

_REDUCTIONS = ("mean", "sum", "none")


class LocalAlignmentResiduals(NamedTuple):
    """``reduction="none"`` output: per-point L1 residuals ``(B, S, k)`` of the canonical-kNN term
    (``canonical``) and of the posed pseudo-geodesic term (``posed``); zero where unused."""

    canonical: torch.Tensor
    posed: torch.Tensor


def _check_cloud(x, name: str, where: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != 3 or not x.is_floating_point():
        raise InputError(f"{where}: {name} must be a float (B, N, 3) tensor, got "
                         f"{getattr(x, 'shape', type(x).__name__)}; use x[None] for one cloud")


def _check_seeds(seeds, B: int, lengths: torch.Tensor, name: str, where: str) -> torch.Tensor:
    if not isinstance(seeds, torch.Tensor) or seeds.dim() != 2 or seeds.shape[0] != B:
        raise InputError(f"{where}: {name} must be a ({B}, S) integer tensor of point indices, got "
                         f"{getattr(seeds, 'shape', type(seeds).__name__)}")
    if seeds.is_floating_point() or seeds.is_complex() or seeds.dtype == torch.bool:
        raise InputError(f"{where}: {name} must hold integer point indices, got dtype {seeds.dtype}")
    s = seeds.to(device=lengths.device, dtype=torch.int64)
    if (s < 0).any() or (s >= lengths[:, None]).any():
        raise InputError(f"{where}: {name} index out of range of the valid points of its cloud")
    return s


def knn_neighbourhoods(points: torch.Tensor, seeds: torch.Tensor, k: int, *, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Euclidean kNN neighbourhoods (the canonical-space sampling of Eq. 6).

    Args:
        points: ``(B, N, D)`` float clouds.
        seeds: ``(B, S)`` int64 query indices.
        k: neighbours including the seed, ``1 <= k <= min(lengths)``.
        lengths: optional ``(B,)`` valid leading points per cloud (padding never selected).

    Returns:
        ``(B, S, k)`` int64 indices, ``[..., 0]`` is the seed, then by increasing distance
        (ties to the lower index). No gradient.
    """
    where = "knn_neighbourhoods"
    if not isinstance(points, torch.Tensor) or points.dim() != 3 or not points.is_floating_point():
        raise InputError(f"{where}: points must be a float (B, N, D) tensor, got {getattr(points, 'shape', type(points).__name__)}")
    B, N, _ = points.shape
    lengths = _check_lengths(lengths, B, N, points.device, where)
    seeds = _check_seeds(seeds, B, lengths, "seeds", where)
    k = int(k)
    kmax = int(lengths.min()) if B else N
    if not 1 <= k <= kmax:
        raise InputError(f"{where}: k must be in [1, min(lengths)={kmax}], got {k}")
    pts = points.detach()
    q = torch.gather(pts, 1, seeds[..., None].expand(-1, -1, pts.shape[-1]))  # (B, S, D)
    d = torch.cdist(q, pts)  # (B, S, N)
    valid = torch.arange(N, device=pts.device)[None, :] < lengths[:, None]
    d = d.masked_fill(~valid[:, None, :], float("inf"))
    d = d.scatter(-1, seeds[..., None], -1.0)  # the seed first, even among duplicates
    order = torch.sort(d, dim=-1, stable=True).indices
    return order[..., :k]


def _check_lengths(lengths, B, N, device, where) -> torch.Tensor:
    if lengths is None:
        return torch.full((B,), N, dtype=torch.int64, device=device)
    if not isinstance(lengths, torch.Tensor) or lengths.shape != (B,) or lengths.is_floating_point():
        raise InputError(f"{where}: lengths must be an integer ({B},) tensor of valid points per cloud")
    lengths = lengths.to(device=device, dtype=torch.int64)
    if (lengths < 1).any() or (lengths > N).any():
        raise InputError(f"{where}: lengths must be in [1, N={N}]")
    return lengths


def _gather(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``(B, N, 3)``, ``(B, S, k)`` -> ``(B, S, k, 3)`` (differentiable w.r.t. ``x``)."""
    B, S, k = idx.shape
    return torch.gather(x, 1, idx.reshape(B, S * k, 1).expand(-1, -1, 3)).reshape(B, S, k, 3)


def _term(src, dst, *, fixed_side, s_min, s_max, detach_transform):
    """Align ``src`` onto ``dst`` per neighbourhood; ``(B, S, k, 3)`` each -> residuals ``(B, S, k)``, used ``(B, S)``."""
    B, S, k, _ = src.shape
    s2, d2 = src.reshape(B * S, k, 3), dst.reshape(B * S, k, 3)
    T, used = _batched_fit(s2, d2, torch.ones(B * S, k, dtype=src.dtype, device=src.device), fixed_side=fixed_side,
                           s_min=s_min, s_max=s_max, detach_transform=detach_transform)
    res = (d2 - T.apply(s2)).abs().sum(-1)  # (B*S, k) per-point L1
    res = torch.where(used[:, None], res, torch.zeros_like(res))
    return res.reshape(B, S, k), used.reshape(B, S)


def local_alignment_loss(
    canonical: torch.Tensor,
    posed: torch.Tensor,
    seeds: torch.Tensor,
    *,
    k: int = 64,
    posed_seeds: Optional[torch.Tensor] = None,
    lengths: Optional[torch.Tensor] = None,
    posed_to_canonical_s_min: Optional[float] = 1.0,
    canonical_to_posed_s_max: Optional[float] = 1.0,
    detach_transform: bool = False,
    reduction: str = "mean",
) -> Union[torch.Tensor, LocalAlignmentResiduals]:
    """Eq. 6 of seed 004.

    Args:
        canonical: ``(B, N, 3)`` predicted canonical coordinates ``X^c`` (carry the gradient).
        posed: ``(B, N, 3)`` back-projected coordinates ``X^b`` of the same points (metres).
        seeds: ``(B, S)`` indices of the query points ``q`` (canonical kNN term).
        k: neighbourhood size including the seed (paper: 64), ``3 <= k <= min(lengths)``.
        posed_seeds: ``(B, S')`` indices of the points ``r`` (posed pseudo-geodesic term);
            default: ``seeds``.
        lengths: optional ``(B,)`` valid leading points per cloud (padding is never a neighbour).
        posed_to_canonical_s_min: scale bound of the first term's fit (default 1, as Eq. 3).
        canonical_to_posed_s_max: scale bound of the second term's fit (default 1, the inverse).
        detach_transform: no gradient through the Umeyama fits.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (see the module docstring).

    Returns:
        Scalar tensor (metres; ``0`` if no neighbourhood is usable) or
        :class:`LocalAlignmentResiduals`.
    """
    where = "local_alignment_loss"
    if reduction not in _REDUCTIONS:
        raise InputError(f"{where}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    _check_cloud(canonical, "canonical", where)
    _check_cloud(posed, "posed", where)
    if posed.shape != canonical.shape or posed.dtype != canonical.dtype or posed.device != canonical.device:
        raise InputError(f"{where}: canonical and posed must have the same shape, dtype and device (point i of one is "
                         f"point i of the other), got {tuple(canonical.shape)} {canonical.dtype}@{canonical.device} and "
                         f"{tuple(posed.shape)} {posed.dtype}@{posed.device}")
    B, N, _ = canonical.shape
    lengths = _check_lengths(lengths, B, N, canonical.device, where)
    valid = torch.arange(N, device=canonical.device)[None, :] < lengths[:, None]
    if not (torch.isfinite(canonical[valid]).all() and torch.isfinite(posed[valid]).all()):
        raise InputError(f"{where}: canonical/posed contain NaN or inf; drop invalid points (e.g. missing depth) first")
    seeds = _check_seeds(seeds, B, lengths, "seeds", where)
    posed_seeds = seeds if posed_seeds is None else _check_seeds(posed_seeds, B, lengths, "posed_seeds", where)
    k = int(k)
    kmax = int(lengths.min()) if B else N
    if not 3 <= k <= kmax:
        raise InputError(f"{where}: k must be in [3, min(lengths)={kmax}] (a similarity fit needs 3 points), got {k}")
    # pad with a copy of point 0 so that padding values never matter (they are never selected)
    canon = torch.where(valid[..., None], canonical, canonical[:, :1])
    pose = torch.where(valid[..., None], posed, posed[:, :1])

    nb_c = knn_neighbourhoods(canon, seeds, k, lengths=lengths)  # (B, S, k) in canonical space
    nb_b = pseudo_geodesic_neighbourhoods(pose, posed_seeds, k, lengths=lengths)  # (B, S', k) posed space
    # term 1: posed B_q aligned onto canonical C_q ; term 2: canonical C_r aligned onto posed B_r
    r1, u1 = _term(_gather(pose, nb_c), _gather(canon, nb_c), fixed_side="src", s_min=posed_to_canonical_s_min,
                   s_max=None, detach_transform=detach_transform)
    r2, u2 = _term(_gather(canon, nb_b), _gather(pose, nb_b), fixed_side="dst", s_min=None,
                   s_max=canonical_to_posed_s_max, detach_transform=detach_transform)
    if reduction == "none":
        return LocalAlignmentResiduals(r1, r2)
    anchor = 0.0 * canon.sum()  # keeps the graph when nothing is usable (padding already replaced)
    if reduction == "sum":
        return r1.sum() + r2.sum() + anchor
    return r1.sum() / max(int(u1.sum()) * k, 1) + r2.sum() / max(int(u2.sum()) * k, 1) + anchor
