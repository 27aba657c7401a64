"""PointNet-style per-point embedding network (segmentation layout).

Every point passes through the same small MLP (1x1 convolutions); the per-point features of all
layers are kept, a global feature is max-pooled over the points, and a head maps
``[per-point features, global feature]`` to a ``D``-dimensional embedding per point (seed 000 uses
D = 128 for all its backbones). No input/feature transform nets: clouds are canonicalised
elsewhere in the pipeline.

Contract shared by every model in :mod:`semcorr_core.models`:

* input ``points``: ``(B, N, C)`` float tensor on the model's device, ``C = in_features`` channels,
  xyz first (metres), then optional extra features (normals 3, colour 3, ...);
* output: ``(B, N, D)`` embeddings, unit L2 norm per point unless ``normalize=False``;
* permutation equivariant: permuting the points permutes the embeddings the same way;
* bad input raises :class:`~semcorr_core.errors.InputError` saying what to fix.

The head's first layer is applied to the concatenation ``[local, global]`` as
``W_l @ local + W_g @ global``, which is the same linear map without materialising the global
feature at every point (the global term is computed once per cloud).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from semcorr_core.errors import InputError

__all__ = ["PointNetEmbedding"]

NORMS = ("batch", "group", "none")


# ----------------------------------------------------------------------------- shared helpers
# (private; dgcnn.py imports them too)


def _is_tracing() -> bool:
    """True while torch.jit tracing / torch.export is recording the forward pass."""
    if torch.jit.is_tracing():
        return True
    compiler = getattr(torch, "compiler", None)
    is_exporting = getattr(compiler, "is_exporting", None)
    is_compiling = getattr(compiler, "is_compiling", None)
    return bool((is_exporting is not None and is_exporting()) or (is_compiling is not None and is_compiling()))


def _check_int(name: str, value: object, minimum: int, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{owner}: {name} must be an int >= {minimum}, got {value!r}")
    return value


def _check_channels(name: str, values: Sequence[int], owner: str) -> tuple[int, ...]:
    try:
        out = tuple(values)
    except TypeError:
        raise InputError(f"{owner}: {name} must be a sequence of positive ints, got {values!r}") from None
    if len(out) == 0:
        raise InputError(f"{owner}: {name} must hold at least one channel count, got an empty sequence")
    for v in out:
        _check_int(name + " entries", v, 1, owner)
    return out


def _check_norm(norm: str, owner: str) -> str:
    if norm not in NORMS:
        raise InputError(f"{owner}: norm must be one of {NORMS}, got {norm!r}")
    return norm


def _norm_layer(norm: str, channels: int, dims: int) -> nn.Module:
    """Normalisation over channels of a channels-first tensor with ``dims`` = 1 (B,C,N) or 2 (B,C,N,k)."""
    if norm == "batch":
        return nn.BatchNorm1d(channels) if dims == 1 else nn.BatchNorm2d(channels)
    if norm == "group":
        return nn.GroupNorm(math.gcd(8, channels), channels)
    return nn.Identity()


def _validate_points(
    model: nn.Module, points: object, in_features: int, *, min_points: int = 1, owner: str
) -> Tensor:
    """Check a ``(B, N, C)`` cloud against a model and return it in the model's dtype.

    Shape checks run always; the NaN/inf scan and device check are skipped while tracing for
    export (they would be baked into the graph as constants).
    """
    if not isinstance(points, Tensor):
        raise InputError(
            f"{owner}: points must be a torch.Tensor of shape (B, N, {in_features}), got {type(points).__name__}; "
            "convert with torch.as_tensor(points, dtype=torch.float32)"
        )
    if points.dim() != 3:
        hint = " (add a batch axis with points.unsqueeze(0))" if points.dim() == 2 else ""
        raise InputError(
            f"{owner}: points must have shape (B, N, {in_features}), got {tuple(points.shape)}{hint}"
        )
    if points.shape[-1] != in_features:
        raise InputError(
            f"{owner}: points have {points.shape[-1]} channels but the model was built with "
            f"in_features={in_features} (xyz first, then extra features such as normals or colour); "
            "pass matching features or build the model with the right in_features"
        )
    if not points.is_floating_point():
        raise InputError(f"{owner}: points must be a floating-point tensor, got dtype {points.dtype}")
    b, n = points.shape[0], points.shape[1]
    param = next(model.parameters(), None)
    if not _is_tracing():
        if b < 1 or n < min_points:
            raise InputError(
                f"{owner}: need a batch of at least 1 cloud with at least {min_points} points, got B={b}, N={n}"
            )
        if param is not None and points.device != param.device:
            raise InputError(
                f"{owner}: points are on {points.device} but the model is on {param.device}; "
                f"move one of them (points.to({str(param.device)!r}) or model.to(points.device))"
            )
        if not bool(torch.isfinite(points).all()):
            raise InputError(f"{owner}: points contain NaN or inf; drop invalid points (e.g. missing depth) first")
        has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
        if model.training and b * n < 2 and has_bn:
            raise InputError(
                f"{owner}: batch norm cannot train on a single point (B*N = 1); use more points or model.eval()"
            )
    param_dtype = param.dtype if param is not None else points.dtype
    return points.to(param_dtype)


def _pointwise(in_ch: int, out_ch: int, norm: str, act: nn.Module) -> nn.Sequential:
    """1x1 Conv1d + norm + activation on ``(B, C, N)``."""
    return nn.Sequential(nn.Conv1d(in_ch, out_ch, 1, bias=norm == "none"), _norm_layer(norm, out_ch, 1), act)


class _EmbeddingHead(nn.Module):
    """Head mapping ``[local (B, Cl, N), global (B, G, 1)]`` to ``(B, N, D)`` embeddings."""

    def __init__(
        self, local_ch: int, global_ch: int, hidden: tuple[int, ...], out_dim: int, norm: str, act_factory
    ) -> None:
        super().__init__()
        first = hidden[0]
        self.local_proj = nn.Conv1d(local_ch, first, 1, bias=False)
        self.global_proj = nn.Conv1d(global_ch, first, 1, bias=norm == "none")
        self.first_post = nn.Sequential(_norm_layer(norm, first, 1), act_factory())
        layers: list[nn.Module] = []
        for c_in, c_out in zip(hidden[:-1], hidden[1:]):
            layers.append(_pointwise(c_in, c_out, norm, act_factory()))
        self.mlp = nn.Sequential(*layers)
        self.out = nn.Conv1d(hidden[-1], out_dim, 1, bias=True)

    def forward(self, local: Tensor, global_feat: Tensor, normalize: bool) -> Tensor:
        h = self.first_post(self.local_proj(local) + self.global_proj(global_feat))
        h = self.out(self.mlp(h)).transpose(1, 2)  # (B, N, D)
        if normalize:
            h = F.normalize(h, p=2.0, dim=-1, eps=1e-12)
        return h


# ----------------------------------------------------------------------------- PointNet


class PointNetEmbedding(nn.Module):
    """PointNet segmentation-style network producing one embedding per point.

    Architecture (defaults): shared MLP ``C -> 64 -> 64 -> 128`` (ReLU, norm), a global branch
    ``128 -> 1024`` max-pooled over points, then a head on
    ``[64, 64, 128 per-point features | 1024 global] -> 256 -> 128 -> D``; ~0.52 M parameters.

    Args:
        in_features: input channels ``C`` (3 = xyz; 6 = xyz + normals or colour; 9 = all three).
        out_dim: embedding size ``D``.
        local_channels: widths of the shared per-point MLP (all kept for the head).
        global_dim: width of the max-pooled global feature.
        head_channels: hidden widths of the head before the final linear map to ``D``.
        normalize: L2-normalise each embedding (default ``True``).
        norm: ``"batch"`` (default), ``"group"`` (per-cloud statistics; robust to tiny batches)
            or ``"none"``.
        fourier_bands: ``L >= 0`` octaves of a sinusoidal encoding of xyz appended to the input
            (``sin``/``cos`` of ``pi * 2**l * xyz / 4`` for ``l < L``, 6 L extra channels). A
            per-point MLP on raw coordinates resolves coarse places only (the spectral bias of
            MLPs); the encoding lets it tell, e.g., a bottle's cap centre from the cap's edge on
            clouds scaled to unit RMS radius. 0 (default) = raw xyz as in PointNet.

    Shape:
        ``points (B, N, C)`` -> ``(B, N, D)``; any ``N >= 1``.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> net = PointNetEmbedding(in_features=3).eval()
        >>> net(torch.rand(2, 500, 3)).shape
        torch.Size([2, 500, 128])
    """

    #: smallest N the model accepts
    min_points: int = 1
    #: the point axis can be dynamic in an exported graph
    supports_dynamic_points: bool = True

    def __init__(
        self,
        in_features: int = 3,
        out_dim: int = 128,
        *,
        local_channels: Sequence[int] = (64, 64, 128),
        global_dim: int = 1024,
        head_channels: Sequence[int] = (256, 128),
        normalize: bool = True,
        norm: str = "batch",
        fourier_bands: int = 0,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self.in_features = _check_int("in_features", in_features, 3, owner)
        self.fourier_bands = _check_int("fourier_bands", fourier_bands, 0, owner)
        self.register_buffer("_frequencies", (math.pi / 4) * 2.0 ** torch.arange(self.fourier_bands, dtype=torch.float32),
                             persistent=False)
        self.out_dim = _check_int("out_dim", out_dim, 1, owner)
        local = _check_channels("local_channels", local_channels, owner)
        self.global_dim = _check_int("global_dim", global_dim, 1, owner)
        head = _check_channels("head_channels", head_channels, owner)
        self.normalize = bool(normalize)
        self.norm = _check_norm(norm, owner)

        layers = []
        c = in_features + 6 * self.fourier_bands
        for w in local:
            layers.append(_pointwise(c, w, norm, nn.ReLU()))
            c = w
        self.local_layers = nn.ModuleList(layers)
        self.global_layer = _pointwise(c, self.global_dim, norm, nn.ReLU())
        self.head = _EmbeddingHead(sum(local), self.global_dim, head, out_dim, norm, nn.ReLU)

    def forward(self, points: Tensor) -> Tensor:
        """Embed every point. ``points (B, N, in_features)`` -> ``(B, N, out_dim)``."""
        x = _validate_points(self, points, self.in_features, min_points=self.min_points, owner=type(self).__name__)
        if self.fourier_bands:
            phase = x[..., :3, None] * self._frequencies  # (B, N, 3, L)
            x = torch.cat([x, phase.sin().flatten(2), phase.cos().flatten(2)], dim=-1)
        h = x.transpose(1, 2)  # (B, C, N)
        feats = []
        for layer in self.local_layers:
            h = layer(h)
            feats.append(h)
        local = torch.cat(feats, dim=1)
        global_feat = self.global_layer(h).max(dim=2, keepdim=True).values  # (B, G, 1)
        return self.head(local, global_feat, self.normalize)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_dim={self.out_dim}, normalize={self.normalize}, norm={self.norm!r}, "
                f"fourier_bands={self.fourier_bands}")
