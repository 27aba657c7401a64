"""Batched multi-start refinement of an upright similarity by an alignment energy (seeds 003, 001, 002).

The robust fit (:func:`~semcorr_core.alignment.align_to_prototype`) gives a canonical -> gravity
transform ``x = s Rz(theta) c + t`` with the canonical origin on the support plane. This module
refines ``theta``, ``t_xy`` and ``log s`` of ``S`` starts at once (one batch of tensors: the
robust fit's heading plus the offsets in ``EnergyConfig.heading_offsets``, e.g. the 180° turn a
mug's handle confusion gives) by gradient descent (Adam) on::

    E = w_c E_corr + w_s E_surface + w_f E_free + w_m E_silhouette

* ``E_corr`` - the matches' likelihood with an annealed width (seed 003): the similarity-weighted
  mean of ``1 - exp(-|T(c_i) - x_i|^2 / 2 sigma^2)``, sigma from ``sigma_start`` to
  ``sigma_end`` (fractions of the observed object's diagonal) over the iterations: wide first
  (every match pulls), narrow last (outliers stop pulling);
* ``E_surface`` - depth consistency: each observed point's robust distance to the nearest
  prototype surface point (the observed surface must lie on the fitted shape);
* ``E_free`` - z-order against the measured depth: prototype points that the camera should
  see *in front of* the measured surface by more than ``free_space_tol`` (the sensor looked
  through where the fit puts matter) pay that depth difference over the diagonal;
* ``E_silhouette`` - background-mask penalty via the distance transform of the object mask
  (seeds 001/002): a prototype point projecting outside the mask where nothing measured lies in
  front of it pays its pixel distance to the mask over the mask's size (occluded parts, behind
  another object, are not penalised).

With ``soft_iou_iterations`` > 0 a second stage follows (seeds 001/002: distance transform
first, then soft IoU): the same energy at ``sigma_end`` plus ``w_soft_iou (1 - IoU)``, the soft
intersection over union of the prototype's splatted silhouette with the object mask on a coarse
grid over the mask's box (:func:`soft_silhouette_iou`; cells that something in front of the
object covers are left out).

Mug, 80 tuning frames (seed 7), 10 soft-IoU iterations after the 20 of the first stage: occluded
PCK@2cm 0.857 -> 0.867 (512 points on a 32 x 32 grid: 0.870), visible 0.957 -> 0.952, flips 0
of 69 both, +227 ms per frame on 2 CPU cores (+516 ms with 512 / 32): off by default
(``soft_iou_iterations = 0``).

The start with the lowest final energy wins (:class:`EnergyRefinement` keeps every start's
energy). Everything runs on ``device`` (CPU or CUDA).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Optional

import numpy as np
import torch
from scipy import ndimage

from semcorr_core.errors import InputError
from semcorr_core.geometry.camera import PinholeCamera
from semcorr_core.geometry.similarity import SimilarityTransform

__all__ = ["EnergyConfig", "EnergyRefinement", "refine_upright_similarity", "mask_distance_transform",
           "soft_silhouette_iou"]


@dataclass(frozen=True)
class EnergyConfig:
    iterations: int = 20
    lr: float = 0.03
    sigma_start: float = 0.25
    sigma_end: float = 0.08
    w_correspondence: float = 1.0
    w_surface: float = 1.0
    w_free_space: float = 1.0
    w_silhouette: float = 0.5
    free_space_tol: float = 0.01
    surface_points: int = 192
    matches: int = 384
    heading_offsets: tuple[float, ...] = (0.0, math.pi)
    soft_iou_iterations: int = 0
    w_soft_iou: float = 1.0
    silhouette_points: int = 256
    silhouette_grid: int = 24
    splat_sigma: float = 0.8

    def __post_init__(self) -> None:
        if self.iterations < 0 or not self.lr > 0 or not 0 < self.sigma_end <= self.sigma_start:
            raise InputError(f"EnergyConfig: iterations >= 0, lr > 0 and 0 < sigma_end <= sigma_start, got "
                             f"{self.iterations}, {self.lr}, {self.sigma_end}, {self.sigma_start}")
        if (self.soft_iou_iterations < 0 or self.silhouette_grid < 2 or self.silhouette_points < 1
                or not self.splat_sigma > 0):
            raise InputError("EnergyConfig: soft_iou_iterations >= 0, silhouette_grid >= 2, silhouette_points >= 1 and "
                             f"splat_sigma > 0, got {self.soft_iou_iterations}, {self.silhouette_grid}, "
                             f"{self.silhouette_points}, {self.splat_sigma}")
        if min(self.w_correspondence, self.w_surface, self.w_free_space, self.w_silhouette, self.w_soft_iou) < 0:
            raise InputError("EnergyConfig: term weights must be >= 0")
        if not self.heading_offsets:
            raise InputError("EnergyConfig: heading_offsets needs at least one start (0.0: the fit's own heading)")


class EnergyRefinement(NamedTuple):
    """transform: the winning start's canonical -> gravity transform; start: its index in
    ``heading_offsets``; energies: ``(S,)`` final energy of every start; initial_energies: ``(S,)``
    their energies before refinement (at ``sigma_end``)."""

    transform: SimilarityTransform
    start: int
    energies: np.ndarray
    initial_energies: np.ndarray


def mask_distance_transform(mask: np.ndarray) -> np.ndarray:
    """``(H, W)`` float32: each pixel's distance in pixels to the nearest ``mask`` pixel (0 inside)."""
    mask = np.asarray(mask, bool)
    if mask.ndim != 2 or not mask.any():
        raise InputError("mask_distance_transform needs a non-empty (H, W) mask")
    return ndimage.distance_transform_edt(~mask).astype(np.float32)


def soft_silhouette_iou(uv: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, origin: tuple[float, float],
                        cell: tuple[float, float], sigma: float) -> torch.Tensor:
    """Soft IoU of splatted points with a target silhouette on a grid, per batch row (differentiable in ``uv``).

    uv: ``(S, M, 2)`` projected points, pixels (u, v). target: ``(g_h, g_w)`` the silhouette's
    coverage of each cell in [0, 1]; valid: ``(g_h, g_w)`` 1 where the cell counts. origin: pixel
    (u, v) of the grid's corner; cell: its cells' size in pixels (w, h). A point covers a cell
    by ``exp(-d^2 / 2 sigma^2)`` (``d``: the distance of the cell's centre in cells); the soft
    silhouette is ``1 - prod_j (1 - cover_j)``. Returns ``(S,)``
    ``sum(v o t) / sum(v (o + t - o t))``."""
    if uv.ndim != 3 or uv.shape[-1] != 2 or target.ndim != 2 or valid.shape != target.shape:
        raise InputError(f"soft_silhouette_iou: uv (S, M, 2), target and valid (g_h, g_w); got {tuple(uv.shape)}, "
                         f"{tuple(target.shape)}, {tuple(valid.shape)}")
    gh, gw = target.shape
    cw, ch = float(cell[0]), float(cell[1])
    cu = float(origin[0]) + (torch.arange(gw, dtype=uv.dtype, device=uv.device) + 0.5) * cw
    cv = float(origin[1]) + (torch.arange(gh, dtype=uv.dtype, device=uv.device) + 0.5) * ch
    du = (uv[:, None, None, :, 0] - cu[None, None, :, None]) / cw  # (S, 1, g_w, M)
    dv = (uv[:, None, None, :, 1] - cv[None, :, None, None]) / ch  # (S, g_h, 1, M)
    cover = torch.exp(-(du * du + dv * dv) / (2.0 * sigma * sigma)).clamp(max=1.0 - 1e-4)
    occupancy = 1.0 - torch.exp(torch.log1p(-cover).sum(-1))  # (S, g_h, g_w)
    t, v = target[None].to(uv.dtype), valid[None].to(uv.dtype)
    inter = (occupancy * t * v).sum((1, 2))
    union = ((occupancy + t - occupancy * t) * v).sum((1, 2))
    return inter / union.clamp_min(1e-9)


def _grown_box(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], grow: float) -> tuple[int, int, int, int]:
    """``(r0, r1, c0, c1)``: the box of the pixels ``rows``, ``cols`` grown by ``grow`` x its height
    and width on each side, clipped to an image of ``shape``."""
    mh, mw = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    r0, r1 = max(int(rows.min() - grow * mh), 0), min(int(rows.max() + grow * mh) + 1, shape[0])
    c0, c1 = max(int(cols.min() - grow * mw), 0), min(int(cols.max() + grow * mw) + 1, shape[1])
    return r0, r1, c0, c1


def _at_most(rng: np.random.Generator, array: np.ndarray, n: int) -> np.ndarray:
    """``array``, or ``n`` of its rows drawn without replacement when it has more."""
    return array if len(array) <= n else array[rng.choice(len(array), n, replace=False)]


def _silhouette_grid(mask: np.ndarray, rows: np.ndarray, cols: np.ndarray, depth: np.ndarray, size: int,
                     tol: float):
    """The soft-IoU grid over ``mask``'s box (its pixels ``rows``, ``cols``) grown by a fifth on
    each side: coverage per cell, the cells that count (not mostly covered by something measured in
    front of the object), the grid's pixel origin (u, v) and cell size (w, h)."""
    r0, r1, c0, c1 = _grown_box(rows, cols, mask.shape, 0.2)
    box = mask[r0:r1, c0:c1].astype(np.float32)
    d = np.asarray(depth, np.float32)[r0:r1, c0:c1]
    near = float(np.median(np.asarray(depth, np.float32)[mask]))
    occluder = ((d > 0) & (d < near - tol) & (box == 0)).astype(np.float32)
    pool = torch.nn.functional.adaptive_avg_pool2d
    target = pool(torch.as_tensor(box)[None, None], (size, size))[0, 0]
    valid = (pool(torch.as_tensor(occluder)[None, None], (size, size))[0, 0] < 0.5).float()
    return target, valid, (float(c0), float(r0)), ((c1 - c0) / size, (r1 - r0) / size)


def _rz(theta: torch.Tensor) -> torch.Tensor:
    c, s = theta.cos(), theta.sin()
    z, o = torch.zeros_like(c), torch.ones_like(c)
    return torch.stack([c, -s, z, s, c, z, z, z, o], -1).reshape(*theta.shape, 3, 3)


def _robust(d2: torch.Tensor, sigma: float) -> torch.Tensor:
    return 1.0 - torch.exp(-d2 / (2.0 * sigma * sigma))


def refine_upright_similarity(points: np.ndarray, canonical: np.ndarray, similarity: np.ndarray,
                              surface: np.ndarray, start: SimilarityTransform, *, G: np.ndarray,
                              camera: PinholeCamera, depth: np.ndarray, mask: np.ndarray,
                              config: EnergyConfig = EnergyConfig(), seed: int = 0,
                              device: Optional[torch.device] = None) -> EnergyRefinement:
    """Refine ``start`` (canonical -> gravity, rotation about z) over the starts of ``config``.

    points: ``(N, 3)`` observed object points, gravity frame. canonical / similarity: their
    ``(N, 3)`` matches and ``(N,)`` cosine similarities. surface: ``(M, 3)`` prototype surface
    points, canonical frame (subsampled to ``config.surface_points``). G: the gravity frame's rows
    in camera coordinates (``p_gravity = G p_camera``). depth: ``(H, W)`` metres (0 = none);
    mask: ``(H, W)`` bool, the object's pixels. Returns :class:`EnergyRefinement`.
    """
    points = np.asarray(points, np.float64)
    canonical = np.asarray(canonical, np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or canonical.shape != points.shape or len(similarity) != len(points):
        raise InputError(f"refine_upright_similarity: points and canonical (N, 3), similarity (N,); got "
                         f"{points.shape}, {canonical.shape}, {np.shape(similarity)}")
    if np.asarray(depth).shape != np.asarray(mask).shape:
        raise InputError(f"refine_upright_similarity: depth {np.shape(depth)} and mask {np.shape(mask)} differ")
    dev = torch.device("cpu") if device is None else torch.device(device)
    f32 = dict(dtype=torch.float32, device=dev)
    rng = np.random.default_rng([seed, 0xE7])
    surf = _at_most(rng, np.asarray(surface, np.float64), config.surface_points)
    obs_sub = _at_most(rng, points, config.surface_points)
    diag = float(np.linalg.norm(np.ptp(points, axis=0))) or 1e-3
    similarity = np.asarray(similarity, np.float64)
    if len(points) > config.matches:
        keep = rng.choice(len(points), config.matches, replace=False)
        points, canonical, similarity = points[keep], canonical[keep], similarity[keep]
    X, C = torch.as_tensor(points, **f32), torch.as_tensor(canonical, **f32)
    w = torch.as_tensor(np.clip(similarity, 0.0, None) + 1e-6, **f32)
    w = w / w.sum()
    D, Xs = torch.as_tensor(surf, **f32), torch.as_tensor(obs_sub, **f32)
    Gt = torch.as_tensor(np.asarray(G, np.float64).T, **f32)  # gravity -> camera
    depth_t = torch.as_tensor(np.asarray(depth, np.float32), device=dev)
    mask = np.asarray(mask, bool)
    if not mask.any():
        raise InputError("refine_upright_similarity: the object mask is empty")
    # the distance transform on the mask's box grown by its size on every side (a full 640 x 480
    # transform costs more than the refinement); beyond it the border value stands
    rows, cols = np.nonzero(mask)
    r0, r1, c0, c1 = _grown_box(rows, cols, mask.shape, 1.0)
    dt = torch.as_tensor(mask_distance_transform(mask[r0:r1, c0:c1]), device=dev)
    dh, dw = dt.shape
    mask_size = float(np.sqrt(len(rows)))
    H, W = depth_t.shape
    fx, fy, cx, cy = camera.fx, camera.fy, camera.cx, camera.cy

    soft_iou = config.soft_iou_iterations > 0
    if soft_iou:
        Ds = torch.as_tensor(_at_most(rng, np.asarray(surface, np.float64), config.silhouette_points), **f32)
        target, valid, grid_origin, grid_cell = _silhouette_grid(mask, rows, cols, depth, config.silhouette_grid,
                                                                 config.free_space_tol)
        target, valid = target.to(dev), valid.to(dev)

    R0 = np.asarray(start.R, np.float64)
    theta0 = math.atan2(R0[1, 0], R0[0, 0])
    S = len(config.heading_offsets)
    theta_start = theta0 + torch.as_tensor(config.heading_offsets, **f32)
    txy0 = torch.as_tensor(np.asarray(start.t, np.float64)[:2], **f32)
    tz, log_s0 = float(np.asarray(start.t)[2]), math.log(float(start.s))
    # unknowns as offsets in natural units (radians, object diagonals, log scale): Adam's step
    # of ``lr`` then means the same for a mug and a chair
    d_theta = torch.zeros(S, **f32, requires_grad=True)
    d_xy = torch.zeros(S, 2, **f32, requires_grad=True)
    d_log_s = torch.zeros(S, **f32, requires_grad=True)

    def pose() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return theta_start + d_theta, txy0 + diag * d_xy, log_s0 + d_log_s

    def energy(sigma: float, with_iou: bool = False) -> torch.Tensor:
        theta, txy, log_s = pose()
        R = _rz(theta)  # (S, 3, 3)
        s = log_s.exp()[:, None, None]
        t = torch.cat([txy, torch.full((S, 1), tz, **f32)], 1)[:, None]
        fitted = s * C[None] @ R.transpose(1, 2) + t  # (S, N, 3)
        e_corr = (_robust((fitted - X[None]).pow(2).sum(-1), sigma * diag) * w[None]).sum(-1)
        proto = s * D[None] @ R.transpose(1, 2) + t  # (S, M, 3) gravity
        d2 = torch.cdist(Xs[None].expand(S, -1, -1), proto).pow(2).min(-1).values
        e_surf = _robust(d2, config.sigma_end * diag).mean(-1)  # observed surface on the fitted shape
        cam = proto @ Gt.T  # (S, M, 3) camera frame
        z = cam[..., 2].clamp_min(1e-3)
        u = fx * cam[..., 0] / z + cx
        v = fy * cam[..., 1] / z + cy
        ui, vi = u.detach().round().long(), v.detach().round().long()
        inside = (ui >= 0) & (ui < W) & (vi >= 0) & (vi < H) & (cam[..., 2] > 1e-3)
        measured = depth_t[vi.clamp(0, H - 1), ui.clamp(0, W - 1)]
        has = inside & (measured > 0)
        e_free = (torch.relu(measured - z - config.free_space_tol) * has).sum(-1) / (has.sum(-1).clamp_min(1) * diag)
        # outside the mask with nothing measured in front of the point: the silhouette should cover it
        unoccluded = inside & ((measured <= 0) | (measured > z - config.free_space_tol))
        grid = torch.stack([2 * (u - c0 + 0.5) / dw - 1, 2 * (v - r0 + 0.5) / dh - 1], -1)[:, :, None]  # (S, M, 1, 2)
        dist = torch.nn.functional.grid_sample(dt[None, None].expand(S, -1, -1, -1), grid, mode="bilinear",
                                               padding_mode="border", align_corners=False)[:, 0, :, 0]
        e_sil = (dist * unoccluded).sum(-1) / (unoccluded.sum(-1).clamp_min(1) * mask_size)
        e = (config.w_correspondence * e_corr + config.w_surface * e_surf + config.w_free_space * e_free
             + config.w_silhouette * e_sil)
        if with_iou:
            sc = (s * Ds[None] @ R.transpose(1, 2) + t) @ Gt.T  # (S, M', 3) camera frame
            zs = sc[..., 2].clamp_min(1e-3)
            uv = torch.stack([fx * sc[..., 0] / zs + cx, fy * sc[..., 1] / zs + cy], -1)
            iou = soft_silhouette_iou(uv, target, valid, grid_origin, grid_cell, config.splat_sigma)
            e = e + config.w_soft_iou * (1.0 - iou)
        return e

    with torch.no_grad():
        initial = energy(config.sigma_end, soft_iou)
    opt = torch.optim.Adam([d_theta, d_xy, d_log_s], lr=config.lr)
    for k in range(config.iterations):
        frac = k / max(config.iterations - 1, 1)
        sigma = config.sigma_start * (config.sigma_end / config.sigma_start) ** frac
        opt.zero_grad()
        energy(sigma).sum().backward()  # the starts are independent: one sum, S separate gradients
        opt.step()
    for _ in range(config.soft_iou_iterations):  # then the silhouette's overlap
        opt.zero_grad()
        energy(config.sigma_end, True).sum().backward()
        opt.step()
    with torch.no_grad():
        final = energy(config.sigma_end, soft_iou)
        theta, txy, log_s = pose()
    best = int(torch.argmin(final))
    R = _rz(theta[best]).cpu().numpy().astype(np.float64)
    t = np.array([*txy[best].cpu().numpy().astype(np.float64), tz])
    return EnergyRefinement(SimilarityTransform(R, t, float(log_s[best].exp())), best,
                            final.cpu().numpy().astype(np.float64), initial.cpu().numpy().astype(np.float64))
