"""Per-point 3D embedding models (seed 000, CPNet: dense per-point embeddings).

All models share one contract: ``(B, N, C)`` points (xyz first, then optional normals/colour)
-> ``(B, N, D)`` embeddings, unit L2 norm per point by default, permutation equivariant,
device-agnostic, deterministic given ``torch.manual_seed``; bad input raises
:class:`~semcorr_core.errors.InputError`.

* :class:`PointNetEmbedding` (``"pointnet"``) -- shared MLP + max-pooled global feature.
* :class:`DGCNNEmbedding` (``"dgcnn"``) -- EdgeConv on a dynamic kNN graph.

Build by name with :func:`build_embedding_model`; export with
:func:`~semcorr_core.models.export.export_onnx` and verify with
:func:`~semcorr_core.models.export.check_onnx`.
"""

from __future__ import annotations

import inspect
from typing import Callable

from torch import nn

from semcorr_core.errors import InputError
from semcorr_core.models.dgcnn import DGCNNEmbedding, EdgeConv, gather_neighbors, knn_indices
from semcorr_core.models.pointnet import PointNetEmbedding

__all__ = [
    "PointNetEmbedding",
    "DGCNNEmbedding",
    "EdgeConv",
    "knn_indices",
    "gather_neighbors",
    "EMBEDDING_MODELS",
    "available_embedding_models",
    "build_embedding_model",
    "export_onnx",
    "check_onnx",
    "OnnxExportResult",
]

#: registry name -> model class (constructor takes ``in_features``, ``out_dim`` and keywords)
EMBEDDING_MODELS: dict[str, Callable[..., nn.Module]] = {
    "pointnet": PointNetEmbedding,
    "dgcnn": DGCNNEmbedding,
}


def available_embedding_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(EMBEDDING_MODELS)


def build_embedding_model(name: str, **kwargs) -> nn.Module:
    """Build a registered per-point embedding model.

    Args:
        name: one of :func:`available_embedding_models` (case-insensitive).
        **kwargs: constructor arguments, e.g. ``in_features=6, out_dim=64, k=16``.

    Raises:
        InputError: unknown name (the message lists the known ones) or an unknown/invalid argument.
    """
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in EMBEDDING_MODELS:
        raise InputError(
            f"unknown embedding model {name!r}; known models: {', '.join(available_embedding_models())}"
        )
    cls = EMBEDDING_MODELS[key]
    params = inspect.signature(cls).parameters
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise InputError(
            f"embedding model {key!r} does not take argument(s) {', '.join(unknown)}; "
            f"valid arguments: {', '.join(params)}"
        )
    return cls(**kwargs)


from semcorr_core.models.export import OnnxExportResult, check_onnx, export_onnx  # noqa: E402
