"""DGCNN per-point embedding network: EdgeConv on a dynamic kNN graph.

Each EdgeConv layer builds a k-nearest-neighbour graph, computes an edge feature
``h(x_i, x_j - x_i)`` for every neighbour ``j`` of point ``i`` with a shared linear map + norm +
LeakyReLU(0.2), and max-pools over the ``k`` edges. The graph of the first layer is built on the
xyz coordinates (the first three input channels, so colour or normals do not distort the spatial
neighbourhood); every later layer rebuilds it in its input feature space ("dynamic" graph).
The per-layer features are concatenated, a global feature is max-pooled over the points, and a
head maps ``[local, global]`` to a ``D``-dimensional embedding per point.

Input/output contract: as :class:`~semcorr_core.models.pointnet.PointNetEmbedding`, plus
``N >= k``.

Implementation notes:

* kNN: squared distances ``|x_i|^2 - 2 x_i.x_j + |x_j|^2`` from one batched matmul (what
  ``torch.cdist`` does internally for large clouds, but exportable to ONNX without an
  ``O(N^2 C)`` broadcast), then ``topk(k, largest=False)``. The point itself is its own nearest
  neighbour, as in the original DGCNN.
* EdgeConv uses the identity ``W [x_j - x_i ; x_i] = A x_j + (B - A) x_i``: the linear map runs
  once per point and only the ``(B, C_out, N, k)`` result is gathered, instead of building
  ``(B, 2 C_in, N, k)`` edge features. Same function, same parameter count, fewer FLOPs.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from semcorr_core.errors import InputError
from semcorr_core.models.pointnet import (
    _check_channels,
    _check_int,
    _check_norm,
    _EmbeddingHead,
    _is_tracing,
    _norm_layer,
    _pointwise,
    _validate_points,
)

__all__ = ["DGCNNEmbedding", "EdgeConv", "knn_indices", "gather_neighbors"]


def knn_indices(x: Tensor, k: int) -> Tensor:
    """Indices of the ``k`` nearest points (itself included) for every point, batched.

    Args:
        x: ``(B, C, N)`` channels-first features.
        k: neighbours per point, ``1 <= k <= N``.

    Returns:
        ``(B, N, k)`` int64 indices into the point axis, nearest first.
    """
    # centring per cloud does not change the neighbours but shrinks the norms, and with them the
    # cancellation error of the expanded form (fewer near-tie flips between backends)
    x = x - x.mean(dim=2, keepdim=True)
    xt = x.transpose(1, 2)  # (B, N, C)
    sq = (xt * xt).sum(dim=-1)  # (B, N)
    dist = sq.unsqueeze(2) - 2.0 * torch.bmm(xt, x) + sq.unsqueeze(1)  # (B, N, N)
    return dist.topk(k, dim=-1, largest=False, sorted=True).indices


def gather_neighbors(feat: Tensor, idx: Tensor) -> Tensor:
    """Gather ``(B, C, N)`` features at ``(B, N, k)`` indices -> ``(B, C, N, k)``."""
    b, n, k = idx.shape
    c = feat.shape[1]
    flat = idx.reshape(b, 1, -1).expand(-1, c, -1)  # (B, C, N*k)
    return torch.gather(feat, 2, flat).reshape(b, c, -1, k)


class EdgeConv(nn.Module):
    """One EdgeConv layer: ``max_j LeakyReLU(norm(A x_j + (B - A) x_i))`` over the kNN ``j`` of ``i``.

    Equivalent to a 1x1 convolution on ``[x_j - x_i ; x_i]`` edge features. Input ``(B, C_in, N)``
    and graph ``(B, N, k)``; output ``(B, C_out, N)``.
    """

    def __init__(self, in_channels: int, out_channels: int, norm: str = "batch") -> None:
        super().__init__()
        self.out_channels = out_channels
        # rows [0:C_out] = A (acts on x_j - x_i), rows [C_out:2 C_out] = B (acts on x_i)
        self.proj = nn.Conv1d(in_channels, 2 * out_channels, 1, bias=norm == "none")
        self.norm = _norm_layer(norm, out_channels, 2)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: Tensor, idx: Tensor) -> Tensor:
        p = self.proj(x)
        a, b = p[:, : self.out_channels], p[:, self.out_channels :]
        edge = gather_neighbors(a, idx) + (b - a).unsqueeze(-1)  # (B, C_out, N, k)
        return self.act(self.norm(edge)).max(dim=-1).values


class DGCNNEmbedding(nn.Module):
    """DGCNN (dynamic-graph EdgeConv) network producing one embedding per point.

    Architecture (defaults): three EdgeConv layers of 64 channels with ``k = 20``, their outputs
    concatenated (192), a global branch ``192 -> 512`` max-pooled over points, then a head
    ``[192 per-point | 512 global] -> 256 -> 128 -> D``; ~0.34 M parameters.

    Args:
        in_features: input channels ``C`` (xyz first; 3, 6 or 9 typical).
        out_dim: embedding size ``D``.
        k: neighbours per point in every EdgeConv graph (the cloud needs ``N >= k``).
        edge_channels: output widths of the EdgeConv layers.
        global_dim: width of the max-pooled global feature.
        head_channels: hidden widths of the head before the final linear map to ``D``.
        normalize: L2-normalise each embedding (default ``True``).
        norm: ``"batch"`` (default), ``"group"`` or ``"none"``.
        knn_on_xyz: build the first graph on xyz only (default); ``False`` uses all input channels.

    Shape:
        ``points (B, N, C)`` -> ``(B, N, D)``; any ``N >= k``. Memory grows as ``B N^2`` (kNN).

    Example:
        >>> _ = torch.manual_seed(0)
        >>> net = DGCNNEmbedding(k=16).eval()
        >>> net(torch.rand(1, 256, 3)).shape
        torch.Size([1, 256, 128])
    """

    supports_dynamic_points: bool = True

    def __init__(
        self,
        in_features: int = 3,
        out_dim: int = 128,
        *,
        k: int = 20,
        edge_channels: Sequence[int] = (64, 64, 64),
        global_dim: int = 512,
        head_channels: Sequence[int] = (256, 128),
        normalize: bool = True,
        norm: str = "batch",
        knn_on_xyz: bool = True,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self.in_features = _check_int("in_features", in_features, 3, owner)
        self.out_dim = _check_int("out_dim", out_dim, 1, owner)
        self.k = _check_int("k", k, 1, owner)
        edges = _check_channels("edge_channels", edge_channels, owner)
        self.global_dim = _check_int("global_dim", global_dim, 1, owner)
        head = _check_channels("head_channels", head_channels, owner)
        self.normalize = bool(normalize)
        self.norm = _check_norm(norm, owner)
        self.knn_on_xyz = bool(knn_on_xyz)

        layers = []
        c = in_features
        for w in edges:
            layers.append(EdgeConv(c, w, norm))
            c = w
        self.edge_convs = nn.ModuleList(layers)
        self.global_layer = _pointwise(sum(edges), self.global_dim, norm, nn.LeakyReLU(0.2))
        self.head = _EmbeddingHead(
            sum(edges), self.global_dim, head, out_dim, norm, lambda: nn.LeakyReLU(0.2)
        )

    @property
    def min_points(self) -> int:
        """Smallest N the model accepts (``k``)."""
        return self.k

    def forward(self, points: Tensor) -> Tensor:
        """Embed every point. ``points (B, N, in_features)`` -> ``(B, N, out_dim)``; needs ``N >= k``."""
        owner = type(self).__name__
        if not _is_tracing() and isinstance(points, Tensor) and points.dim() == 3 and 0 < points.shape[1] < self.k:
            raise InputError(
                f"{owner}: the cloud has N={points.shape[1]} points but k={self.k} neighbours are needed per point; "
                f"pass at least {self.k} points or build the model with a smaller k"
            )
        x = _validate_points(self, points, self.in_features, min_points=self.k, owner=owner)
        h = x.transpose(1, 2)  # (B, C, N)
        feats = []
        for i, layer in enumerate(self.edge_convs):
            graph_space = h[:, :3] if (i == 0 and self.knn_on_xyz) else h
            idx = knn_indices(graph_space, self.k)
            h = layer(h, idx)
            feats.append(h)
        local = torch.cat(feats, dim=1)
        global_feat = self.global_layer(local).max(dim=2, keepdim=True).values  # (B, G, 1)
        return self.head(local, global_feat, self.normalize)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_dim={self.out_dim}, k={self.k}, "
            f"normalize={self.normalize}, norm={self.norm!r}, knn_on_xyz={self.knn_on_xyz}"
        )
