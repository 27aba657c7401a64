"""Inference backends for the per-point embedding network, behind one call.

A backend maps normalised points ``(B, N, 3)`` float32 (a torch tensor) to embeddings
``(B, N, D)`` float32 on the same device. Two run here:

* ``torch`` - the bundle's module (CPU or CUDA: whatever ``device`` says);
* ``onnxruntime`` - the same network exported to ONNX (:func:`~semcorr_core.models.export.export_onnx`)
  and run by ONNX Runtime (CPU execution provider; CUDA's when ``device`` is CUDA and the
  installed onnxruntime has it). 0.62x torch's time for the shipped PointNets at 1024 points
  on the 2-core CPU (``semcorr bench export``, BENCHMARKS.md). The export is cached on disk, keyed by a hash of the weights, the model
  settings and the torch version, written atomically, and re-exported when the cached file does
  not load.

* ``tensorrt`` - an engine built from that ONNX file by TensorRT on a CUDA device
  (:mod:`semcorr_core.models.tensorrt_engine`; written against TensorRT's API, not run here).

``auto`` takes TensorRT on CUDA when it is installed, then onnxruntime when it can serve the
device, then torch, and says why (:attr:`EmbeddingBackend.reason`). TensorRT is not installable on
the machines this was built on (MISSION §8); asking for it gives a
:class:`~semcorr_core.errors.BackendError` that says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from semcorr_core.atomic_file import atomic_path
from semcorr_core.errors import BackendError

__all__ = ["BACKENDS", "PRECISIONS", "check_precision", "EmbeddingBackend", "TorchBackend", "OnnxRuntimeBackend",
           "make_backend", "make_dense2d_backend", "onnx_cache_dir"]

BACKENDS = ("auto", "torch", "onnxruntime", "tensorrt")
PRECISIONS = ("fp32", "fp16")


def check_precision(precision: str) -> None:
    """:class:`BackendError` unless ``precision`` is one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise BackendError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


class EmbeddingBackend:
    """name: the backend that runs; reason: why it was chosen (for logs and diagnostics)."""

    name = "abstract"

    def __init__(self, reason: str = "") -> None:
        self.reason = reason

    def __call__(self, points: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError


class TorchBackend(EmbeddingBackend):
    """The bundle's module; ``precision="fp16"`` runs it in half precision (weights and inputs; the
    embeddings come back float32). fp16 is meant for CUDA: on a CPU torch emulates it ~50x slower
    than fp32, which is only good for measuring its accuracy."""

    name = "torch"

    def __init__(self, model: torch.nn.Module, reason: str = "", precision: str = "fp32") -> None:
        super().__init__(reason)
        check_precision(precision)
        self.precision = precision
        self.dtype = torch.float16 if precision == "fp16" else torch.float32
        self.model = model.eval().to(self.dtype)

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.model(points.to(self.dtype)).float()


class OnnxRuntimeBackend(EmbeddingBackend):
    name = "onnxruntime"

    def __init__(self, onnx_path: str | os.PathLike, providers: list[str], threads: int = 0, reason: str = "") -> None:
        import onnxruntime as ort

        super().__init__(reason)
        options = ort.SessionOptions()
        if threads > 0:
            options.intra_op_num_threads = int(threads)
        # idle threads would spin after each run and take the cores from the numpy/torch work that
        # follows: on 2 cores the cosine matching right after a run took 10.3 ms with spinning,
        # 4.5 ms without, and the run itself was no slower (5.9 vs 5.1 ms, 1024 points)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(onnx_path), options, providers=providers)
        self.providers = self.session.get_providers()
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        x = points.detach().to("cpu", torch.float32).numpy()
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(x)})[0]
        return torch.from_numpy(out).to(points.device)


def onnx_cache_dir() -> Path:
    """``$SEMCORR_CACHE/onnx``, default ``~/.cache/semcorr/onnx``."""
    root = os.environ.get("SEMCORR_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "semcorr")
    return Path(root) / "onnx"


def _weights_key(settings: dict, state_dict: dict) -> str:
    """Hash of a network's settings, its weights and the torch version (the exporter's)."""
    h = hashlib.sha256()
    h.update(json.dumps({**settings, "torch": torch.__version__}, sort_keys=True, default=str).encode())
    for name in sorted(state_dict):
        h.update(name.encode())
        h.update(state_dict[name].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _cached_export(cache_dir: Path, name: str, export: Callable[[Path], object]) -> Path:
    """``cache_dir / name``, written by ``export(path)`` only when no such file is there yet."""
    path = cache_dir / name
    if path.is_file():
        return path
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only home (containers): a private folder for this process
        cache_dir = Path(tempfile.mkdtemp(prefix="semcorr-onnx-"))
        path = cache_dir / name
    with atomic_path(path) as tmp:  # a concurrent reader sees the old state or the whole file
        export(tmp)
    return path


def _cached_onnx(bundle, cache_dir: Path) -> Path:
    """The bundle's ONNX export in ``cache_dir``, exported (from a CPU build of the network) only
    when no file for these weights is there yet."""
    from semcorr_core.models.export import export_onnx

    key = _weights_key({"model": bundle.model_name, "kwargs": bundle.model_kwargs}, bundle.state_dict)
    return _cached_export(cache_dir, f"{bundle.category}_{bundle.model_name}_{key}.onnx",
                          lambda tmp: export_onnx(bundle.build_model("cpu"), tmp))


def _onnxruntime_session(cached: Callable[[], Path], providers: list[str], threads: int, reason: str,
                         what: str) -> "OnnxRuntimeBackend":
    """ONNX Runtime on the cached export ``cached()``; a file it cannot load (damaged) is exported
    again, once, before a :class:`BackendError` naming ``what``."""
    path = cached()
    try:
        return OnnxRuntimeBackend(path, providers, threads, reason)
    except Exception:  # onnxruntime raises its own types for a damaged file: export again, once
        path.unlink(missing_ok=True)
        path = cached()
        try:
            return OnnxRuntimeBackend(path, providers, threads, reason)
        except Exception as e:
            raise BackendError(f"onnxruntime cannot load the exported {what} {path}: {e}; use backend 'torch'") from None


def _ort_providers(device: torch.device) -> Optional[list[str]]:
    """Execution providers for ``device``, or None when onnxruntime cannot serve it."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    available = ort.get_available_providers()
    if device.type == "cuda":
        return ["CUDAExecutionProvider", "CPUExecutionProvider"] if "CUDAExecutionProvider" in available else None
    return ["CPUExecutionProvider"] if device.type == "cpu" else None


def make_backend(bundle, backend: str = "auto", device: str | torch.device = "cpu",
                 cache_dir: Optional[Path] = None, threads: int = 0, precision: str = "fp32") -> EmbeddingBackend:
    """The embedding backend ``backend`` (one of :data:`BACKENDS`) for ``bundle`` on ``device``.

    ``auto``: on CUDA TensorRT when installed, else onnxruntime where it serves the device, else
    torch; :attr:`EmbeddingBackend.reason` says which and why. ``precision`` (fp32 | fp16): the
    TensorRT engine's or the torch module's (``auto`` with fp16 takes torch where TensorRT is
    missing: the exported ONNX graph is fp32)."""
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    check_precision(precision)
    device = torch.device(device)
    cache = cache_dir or onnx_cache_dir()
    trt_missing = ""
    if backend == "tensorrt" or (backend == "auto" and device.type == "cuda"):
        from semcorr_core.models.tensorrt_engine import TensorRTBackend, tensorrt_module

        try:
            tensorrt_module()
            if device.type != "cuda":
                raise BackendError(f"the tensorrt backend runs on a CUDA device (device cuda), not {device}")
            reason = "asked for" if backend == "tensorrt" else "auto: TensorRT serves cuda"
            return TensorRTBackend(_cached_onnx(bundle, cache), device, int(bundle.model_kwargs.get("in_features", 3)),
                                   precision=precision, cache_dir=None if cache_dir is None else cache_dir / "tensorrt",
                                   reason=reason)
        except BackendError as e:
            if backend == "tensorrt":
                raise
            trt_missing = f"TensorRT not used ({e}); "
    providers = _ort_providers(device)
    if backend == "onnxruntime" and providers is None:
        raise BackendError(f"onnxruntime cannot run on {device} here (not installed, or no CUDA execution provider "
                           "in this onnxruntime build: install onnxruntime-gpu); use backend 'torch'")
    if precision == "fp16" and backend == "onnxruntime":
        raise BackendError("onnxruntime runs the fp32 graph; fp16 runs on backend 'torch' or 'tensorrt'")
    if backend == "torch" or providers is None or precision == "fp16":
        reason = ("asked for" if backend == "torch" else
                  f"auto: {trt_missing}fp16 asked for, which the fp32 ONNX graph does not run" if precision == "fp16"
                  else f"auto: {trt_missing}onnxruntime cannot serve {device} here")
        return TorchBackend(bundle.build_model(device), reason, precision)
    reason = ("asked for" if backend == "onnxruntime"
              else f"auto: {trt_missing}onnxruntime serves {device} ({providers[0]})")
    return _onnxruntime_session(lambda: _cached_onnx(bundle, cache), providers, threads, reason, "model")


def make_dense2d_backend(dense2d, backend: str, device: str | torch.device = "cpu",
                         cache_dir: Optional[Path] = None, threads: int = 0) -> EmbeddingBackend:
    """The runtime of a 2D descriptor model (:class:`~semcorr_core.models.dense2d_bundle.Dense2DBundle`):
    ``onnxruntime`` (its ONNX export, cached like the embedding network's; 0.5x torch's time for
    the shipped 48 px crops on the 2-core CPU) where it serves ``device``, else ``torch``. The
    embedding network's choice is passed in ``backend`` (tensorrt runs the 2D model on torch)."""
    from semcorr_core.models.export import export_dense2d_onnx

    device = torch.device(device)
    providers = _ort_providers(device)
    if backend != "onnxruntime" or providers is None:
        return TorchBackend(dense2d.build_model(device), f"with the embedding network's {backend}")
    key = _weights_key({"kwargs": dense2d.model_kwargs, "crop": dense2d.crop_size}, dense2d.state_dict)
    cache = cache_dir or onnx_cache_dir()

    def cached() -> Path:
        return _cached_export(cache, f"dense2d_{dense2d.category}_{key}.onnx",
                              lambda tmp: export_dense2d_onnx(dense2d.build_model("cpu"), tmp, dense2d.crop_size))

    return _onnxruntime_session(cached, providers, threads, "with the embedding network's onnxruntime", "2D model")
