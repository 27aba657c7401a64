"""ONNX export of the per-point embedding models, and a numerical check with onnxruntime.

Exporter: the TorchScript-based ("legacy") exporter, ``torch.onnx.export(..., dynamo=False)``.
With torch 2.13 the default dynamo exporter needs the ``onnxscript`` package, which is not a
dependency of semcorr; the legacy exporter needs only ``onnx`` and handles the dynamic point
axis of both models (DGCNN's ``TopK`` takes a constant ``k``; the graph is valid for any
``N >= k``).

The graph has one input ``points`` ``(B, N, C)`` float32 and one output ``embeddings``
``(B, N, D)``; the batch axis is always dynamic, the point axis is dynamic when
``num_points is None`` and the model supports it (both built-in models do). If a dynamic export
fails, the export falls back to a fixed ``N`` (:data:`FALLBACK_NUM_POINTS`) with a warning, and
the result records it. The model's settings are written into the ONNX metadata
(``semcorr.*`` keys) so a loader can check a file before use.

Input validation (NaN scan, device check) is not part of the exported graph: callers of the ONNX
model must pass finite points, and ``N >= k`` for DGCNN.

Agreement with torch: ~1e-7 for PointNet at any N. DGCNN agrees as closely except where a
point's k-th and (k+1)-th neighbours are nearly tied: float32 rounding differs between torch and
onnxruntime and may pick the other neighbour (measured on random uniform clouds: no flip in
25 clouds of 64-500 points; a few points, diff up to ~1e-3, in 2 of 10 clouds of 1024-2048
points). A kNN graph is a discontinuous function of its input; this is not an export error.
"""

from __future__ import annotations

import copy

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from semcorr_core.errors import InputError

__all__ = ["OnnxExportResult", "export_onnx", "export_dense2d_onnx", "check_onnx", "FALLBACK_NUM_POINTS", "EXPORTER"]

#: fixed point count used when a dynamic point axis cannot be exported
FALLBACK_NUM_POINTS = 1024
#: exporter used by :func:`export_onnx`
EXPORTER = "torchscript"
INPUT_NAME = "points"
OUTPUT_NAME = "embeddings"


@dataclass(frozen=True)
class OnnxExportResult:
    """What :func:`export_onnx` wrote."""

    path: Path
    exporter: str
    opset: int
    in_features: int
    out_dim: int
    dynamic_batch: bool
    dynamic_points: bool
    #: the fixed N baked into the graph, or None when the point axis is dynamic
    num_points: int | None


def _model_in_features(model: nn.Module, in_features: int | None) -> int:
    declared = getattr(model, "in_features", None)
    if in_features is None:
        if declared is None:
            raise InputError("export_onnx: the model has no in_features attribute; pass in_features explicitly")
        return int(declared)
    if isinstance(in_features, bool) or not isinstance(in_features, int) or in_features < 1:
        raise InputError(f"export_onnx: in_features must be a positive int, got {in_features!r}")
    if declared is not None and int(declared) != in_features:
        raise InputError(
            f"export_onnx: in_features={in_features} but the model was built with in_features={declared}; "
            "pass the model's value (or leave in_features=None)"
        )
    return in_features


def _torch_export(model: nn.Module, example: torch.Tensor, path: Path, opset: int, dynamic_points: bool) -> None:
    axes = {0: "batch", 1: "num_points"} if dynamic_points else {0: "batch"}
    with warnings.catch_warnings():
        # the legacy exporter announces its deprecation and tracing notes; neither is actionable here
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=opset,
            dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes},
            do_constant_folding=True,
        )


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    num_points: int | None = None,
    in_features: int | None = None,
    opset: int = 17,
) -> OnnxExportResult:
    """Export an embedding model to ONNX (eval mode, float32, on CPU).

    Args:
        model: a model with the ``(B, N, C) -> (B, N, D)`` contract (e.g. from
            :func:`~semcorr_core.models.build_embedding_model`). It is exported in eval mode from a
            CPU copy; the model itself is left unchanged (device and train/eval flag restored).
        path: output ``.onnx`` file (parent folders are created).
        num_points: ``None`` for a dynamic point axis; an int bakes that ``N`` into the graph.
        in_features: input channels; ``None`` takes ``model.in_features`` (3 for xyz-only models).
        opset: ONNX opset version (>= 13).

    Returns:
        :class:`OnnxExportResult` (exporter, dynamic axes, fixed N if any).

    Raises:
        InputError: invalid arguments (``num_points`` below the model's minimum, wrong in_features).
    """
    c = _model_in_features(model, in_features)
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < 13:
        raise InputError(f"export_onnx: opset must be an int >= 13, got {opset!r}")
    min_points = int(getattr(model, "min_points", 1))
    if num_points is not None:
        if isinstance(num_points, bool) or not isinstance(num_points, int) or num_points < min_points:
            raise InputError(
                f"export_onnx: num_points must be None (dynamic) or an int >= {min_points} for this model, "
                f"got {num_points!r}"
            )
    out_path = Path(path)
    out_path.parent.mkdir(parents=True, exist_ok=True)

    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    if device.type != "cpu":
        model.to("cpu")
    try:
        want_dynamic = num_points is None and bool(getattr(model, "supports_dynamic_points", False))
        fixed = num_points if num_points is not None else (None if want_dynamic else FALLBACK_NUM_POINTS)
        example_n = fixed if fixed is not None else max(256, 2 * min_points)
        gen = torch.Generator().manual_seed(0)
        example = torch.rand(2, example_n, c, generator=gen)
        dynamic = want_dynamic
        try:
            _torch_export(model, example, out_path, opset, dynamic)
        except Exception as err:  # exporter limitation: retry with a fixed point count
            if not dynamic:
                raise
            warnings.warn(
                f"export_onnx: dynamic point axis failed for {type(model).__name__} ({err}); "
                f"exporting with a fixed N={FALLBACK_NUM_POINTS}",
                RuntimeWarning,
                stacklevel=2,
            )
            dynamic, fixed = False, FALLBACK_NUM_POINTS
            example = torch.rand(2, fixed, c, generator=gen)
            _torch_export(model, example, out_path, opset, dynamic)
        out_dim = int(getattr(model, "out_dim", model(example[:1, : max(min_points, 1)]).shape[-1]))
    finally:
        if device.type != "cpu":
            model.to(device)
        model.train(was_training)

    import onnx  # optional dependency (extra "export"), imported late

    proto = onnx.load(str(out_path))
    meta = {
        "semcorr.model": type(model).__name__,
        "semcorr.in_features": str(c),
        "semcorr.out_dim": str(out_dim),
        "semcorr.dynamic_points": str(dynamic).lower(),
        "semcorr.num_points": "" if fixed is None else str(fixed),
        "semcorr.min_points": str(min_points),
        "semcorr.exporter": EXPORTER,
    }
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out_path))
    return OnnxExportResult(
        path=out_path,
        exporter=EXPORTER,
        opset=opset,
        in_features=c,
        out_dim=out_dim,
        dynamic_batch=True,
        dynamic_points=dynamic,
        num_points=fixed,
    )


def export_dense2d_onnx(model: nn.Module, path: str | os.PathLike, crop_size: int, opset: int = 17) -> Path:
    """Export a :class:`~semcorr_core.models.dense2d.DenseDescriptorNet` to ONNX (eval mode, float32,
    CPU copy; dynamic batch, crops of ``crop_size`` x ``crop_size``): input ``crop (B, 5, S, S)``,
    output ``descriptors (B, D, S, S)``."""
    if isinstance(crop_size, bool) or not isinstance(crop_size, int) or crop_size < 8 or crop_size % 8:
        raise InputError(f"export_dense2d_onnx: crop_size must be a positive multiple of 8, got {crop_size!r}")
    out_path = Path(path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    cpu = copy.deepcopy(model).cpu().eval()
    example = torch.rand(1, int(getattr(cpu, "in_channels", 5)), crop_size, crop_size,
                         generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(cpu, (example,), str(out_path), dynamo=False, input_names=["crop"],
                          output_names=["descriptors"], opset_version=opset,
                          dynamic_axes={"crop": {0: "batch"}, "descriptors": {0: "batch"}}, do_constant_folding=True)
    import onnx

    onnx.checker.check_model(onnx.load(str(out_path)))
    return out_path


def check_onnx(model: nn.Module, path: str | os.PathLike, points: torch.Tensor | np.ndarray) -> float:
    """Max absolute difference between the torch model and the ONNX file on ``points``.

    Runs the model in eval mode without gradients (train/eval flag restored afterwards) and the
    ONNX file with onnxruntime's ``CPUExecutionProvider``.

    Args:
        model: the exported model.
        path: the ``.onnx`` file written by :func:`export_onnx`.
        points: ``(B, N, C)`` float points (tensor on any device, or numpy array).

    Raises:
        InputError: missing/unreadable ONNX file, or points the ONNX graph cannot take.
    """
    onnx_path = Path(path)
    if not onnx_path.is_file():
        raise InputError(f"check_onnx: no ONNX file at {onnx_path}; run export_onnx first")
    pts = torch.as_tensor(points)
    if not pts.is_floating_point():
        raise InputError(f"check_onnx: points must be floating point, got {pts.dtype}")
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            ref = model(pts.to(device=device, dtype=torch.float32)).cpu().numpy()
    finally:
        model.train(was_training)

    import onnxruntime as ort  # optional dependency (extra "export"), imported late

    try:
        session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    except Exception as err:
        raise InputError(f"check_onnx: cannot load {onnx_path} ({err}); the file is corrupt, re-export it") from err
    feed = {session.get_inputs()[0].name: pts.detach().cpu().to(torch.float32).numpy()}
    try:
        out = session.run(None, feed)[0]
    except Exception as err:
        raise InputError(
            f"check_onnx: onnxruntime rejected points of shape {tuple(pts.shape)} ({err}); "
            "a fixed-N export only takes that N"
        ) from err
    if out.shape != ref.shape:
        raise InputError(f"check_onnx: ONNX output shape {out.shape} differs from torch {ref.shape}")
    return float(np.max(np.abs(out.astype(np.float64) - ref.astype(np.float64))))
