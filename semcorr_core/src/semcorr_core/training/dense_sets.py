"""Dense correspondence sets from exact canonical coordinates.

A category's few keypoint sets constrain a handful of points per cloud; every other point's
embedding is left free, so nearest-embedding search lands anywhere. The renderer and the surface
sampler know each point's exact canonical coordinate, which gives as many extra sets as wanted:
``M`` anchors in *bounding-box-normalised* canonical space (each instance's canonical box mapped
to the unit cube, so a tall and a short mug put their rims at the same place), and in every cloud
the member of set ``m`` is the point nearest to anchor ``m`` when it lies within ``tol`` (else -1).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from semcorr_core.data.point_clouds import sample_surface
from semcorr_core.data.shape import ShapeInstance
from semcorr_core.errors import InputError
from semcorr_core.geometry import farthest_point_sampling


class DenseCorrespondenceSets:
    def __init__(self, shapes: Sequence[ShapeInstance], n_sets: int = 64, tol: float = 0.05, seed: int = 0):
        if n_sets < 1 or not shapes:
            raise InputError("dense correspondence sets need n_sets >= 1 and at least one shape")
        lo = np.stack([s.vertices.min(0) for s in shapes])
        hi = np.stack([s.vertices.max(0) for s in shapes])
        self.lo = torch.as_tensor(lo, dtype=torch.float32)
        self.extent = torch.as_tensor(np.maximum(hi - lo, 1e-6), dtype=torch.float32)
        surface = sample_surface(shapes[0], 20 * n_sets, np.random.default_rng([seed, 0xD5]))
        unit = (surface.points - lo[0]) / np.maximum(hi[0] - lo[0], 1e-6)
        self.anchors = torch.as_tensor(unit[farthest_point_sampling(unit, n_sets, seed=seed)], dtype=torch.float32)
        # mean metric position of each anchor over the shapes: for the push margins
        self.anchor_positions = (self.lo[:, None] + self.anchors[None] * self.extent[:, None]).mean(0)
        self.tol = float(tol)

    @property
    def n_sets(self) -> int:
        return self.anchors.shape[0]

    def index(self, canonical: torch.Tensor, shape_index: torch.Tensor) -> torch.Tensor:
        """(B, M) index of each set's member in each cloud ((B, N, 3) canonical xyz), -1 absent."""
        dev = canonical.device
        unit = (canonical - self.lo.to(dev)[shape_index][:, None]) / self.extent.to(dev)[shape_index][:, None]
        d = torch.cdist(self.anchors.to(dev)[None].expand(len(unit), -1, -1), unit)  # (B, M, N)
        dist, idx = d.min(dim=-1)
        return torch.where(dist <= self.tol, idx, torch.full_like(idx, -1))

    def extend_set_distance(self, keypoint_distance: torch.Tensor, keypoint_positions: torch.Tensor) -> torch.Tensor:
        """(K+M, K+M) push margins: the keypoint block as given (geodesic); every block involving a
        dense set uses the straight-line distance between mean positions (a lower bound of the
        geodesic, so those margins are conservative)."""
        pos = torch.cat([keypoint_positions.float(), self.anchor_positions])
        out = torch.cdist(pos, pos)
        k = keypoint_distance.shape[0]
        out[:k, :k] = keypoint_distance
        return out


class CanonicalSpace:
    """Normalised canonical positions shared by every instance of a category.

    Each instance's canonical bounding box is mapped to the unit cube (``(x - lo) / extent``), so
    corresponding places on a tall and a short mug get the same position. For a category with a
    continuous rotation symmetry about z (bottle, bowl, can) the azimuth carries no meaning and
    positions are ``(r / r_max, (z - z_lo) / z_extent)`` with ``r`` the distance from the z axis.

    ``height_keypoints`` (names) warps heights piecewise linearly through those keypoints'
    heights instead: each instance's keypoint heights map to their mean normalised height over the
    shapes (bottom and top of the box to 0 and 1). A box maps a bottle's shoulder to another
    fraction of the height on every bottle (its body is 40-80 % of it), so the places just below
    a round shoulder would get the label of a bare wall on one bottle and of the shoulder on the
    next; warped, the shoulder and neck sit at one height on all.

    ``positions(canonical (B, N, 3), shape_index (B,)) -> (B, N, P)``; ``P`` = 3, or 2 when
    ``rotation_symmetric``.
    """

    def __init__(self, shapes: Sequence[ShapeInstance], rotation_symmetric: bool = False,
                 height_keypoints: Sequence[str] = ()) -> None:
        if not shapes:
            raise InputError("CanonicalSpace needs at least one shape")
        lo = np.stack([s.vertices.min(0) for s in shapes])
        hi = np.stack([s.vertices.max(0) for s in shapes])
        r_max = np.array([np.linalg.norm(s.vertices[:, :2], axis=1).max() for s in shapes])
        self.lo = torch.as_tensor(lo, dtype=torch.float32)
        self.extent = torch.as_tensor(np.maximum(hi - lo, 1e-6), dtype=torch.float32)
        self.r_max = torch.as_tensor(np.maximum(r_max, 1e-6), dtype=torch.float32)
        self.rotation_symmetric = bool(rotation_symmetric)
        self.height_knots, self.height_targets = (None, None)
        if height_keypoints:
            knots, targets = _height_knots(shapes, tuple(height_keypoints), lo[:, 2], hi[:, 2])
            self.height_knots = torch.as_tensor(knots, dtype=torch.float32)
            self.height_targets = torch.as_tensor(targets, dtype=torch.float32)

    def _unit_height(self, z: torch.Tensor, si: torch.Tensor) -> torch.Tensor:
        dev = z.device
        if self.height_knots is None:
            return (z - self.lo.to(dev)[si][:, None, 2]) / self.extent.to(dev)[si][:, None, 2]
        xp = self.height_knots.to(dev)[si]  # (B, J), strictly increasing per row
        fp = self.height_targets.to(dev)
        j = torch.searchsorted(xp.contiguous(), z.contiguous()).clamp(1, xp.shape[1] - 1)
        x0, x1 = xp.gather(1, j - 1), xp.gather(1, j)
        # beyond the end knots the end segments extend linearly (a noisy point just outside the box)
        return fp[j - 1] + (z - x0) / (x1 - x0) * (fp[j] - fp[j - 1])

    @property
    def dim(self) -> int:
        return 2 if self.rotation_symmetric else 3

    def positions(self, canonical: torch.Tensor, shape_index: torch.Tensor) -> torch.Tensor:
        dev = canonical.device
        si = torch.as_tensor(shape_index, device=dev)
        lo, ext = self.lo.to(dev)[si][:, None], self.extent.to(dev)[si][:, None]
        z = self._unit_height(canonical[..., 2], si)
        if not self.rotation_symmetric:
            return torch.cat([(canonical[..., :2] - lo[..., :2]) / ext[..., :2], z[..., None]], dim=-1)
        r = canonical[..., :2].norm(dim=-1) / self.r_max.to(dev)[si][:, None]
        return torch.stack([r, z], dim=-1)

    def class_positions(self, shape: ShapeInstance, shape_index: int, n_anchors: int, keypoint_positions: torch.Tensor,
                        seed: int = 0) -> torch.Tensor:
        """``(n_anchors + K, P)``: farthest-point anchors on ``shape`` (which is
        ``shapes[shape_index]``) followed by the given ``(K, P)`` keypoint positions."""
        if n_anchors < 1:
            raise InputError(f"n_anchors must be >= 1, got {n_anchors}")
        surface = sample_surface(shape, 20 * n_anchors, np.random.default_rng([seed, 0xC5]))
        pos = self.positions(torch.as_tensor(surface.points, dtype=torch.float32)[None], torch.tensor([shape_index]))[0]
        anchors = pos[farthest_point_sampling(pos.numpy(), n_anchors, seed=seed)]
        return torch.cat([anchors, keypoint_positions.to(anchors.dtype)])


def _height_knots(shapes: Sequence[ShapeInstance], names: tuple[str, ...], lo_z: np.ndarray,
                  hi_z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(S, J)`` knot heights per shape (strictly increasing) and ``(J,)`` their shared targets:
    box bottom -> 0, the named keypoints' heights -> their mean normalised height, box top -> 1.
    Keypoints at one mean height (mug ``rim_center`` and ``rim_front``) share a knot."""
    missing = sorted({n for s in shapes for n in names if n not in s.keypoints})
    if missing:
        raise InputError(f"height_keypoints {missing} are not keypoints of every shape (partly annotated "
                         "meshes?); train with loss.canonical_heights: box")
    z = np.array([[s.keypoints[n][2] for n in names] for s in shapes], np.float64)  # (S, K)
    unit = (z - lo_z[:, None]) / np.maximum(hi_z - lo_z, 1e-6)[:, None]
    mean = unit.mean(0)
    inner = (mean > 1e-3) & (mean < 1 - 1e-3)  # the box's own ends are knots already
    groups: list[list[int]] = []
    for k in np.argsort(mean, kind="stable"):
        if not inner[k]:
            continue
        if groups and mean[k] - mean[groups[-1][0]] < 1e-3:
            groups[-1].append(int(k))
        else:
            groups.append([int(k)])
    targets = np.array([0.0] + [float(mean[g].mean()) for g in groups] + [1.0])
    knots = np.column_stack([lo_z] + [z[:, g].mean(1) for g in groups] + [hi_z])
    # one instance whose keypoints cross (or touch a box end) must not fold the space: keep each
    # row strictly increasing
    eps = 1e-6 * np.maximum(hi_z - lo_z, 1e-6)
    for j in range(1, knots.shape[1]):
        knots[:, j] = np.maximum(knots[:, j], knots[:, j - 1] + eps)
    return knots, targets
