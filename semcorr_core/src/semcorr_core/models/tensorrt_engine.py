"""TensorRT engines for the embedding network: build from ONNX, cache, load, run.

Written against TensorRT's public Python API (``tensorrt`` 10.x: name-based I/O tensors,
``build_serialized_network``, ``execute_async_v3``). **Not run on the machines this was built on**:
TensorRT cannot be installed there (MISSION §8: PyPI carries only stub packages that download from
NVIDIA). Without it every entry point raises :class:`~semcorr_core.errors.BackendError` with what
to do, never a traceback; the cache logic (:func:`load_or_build_engine`) is tested here with
stand-ins for the builder and the runtime.

Engine cache: one file per :class:`EngineKey` - ONNX file hash, TensorRT version, GPU name,
precision and the optimisation profile's shapes - in ``$SEMCORR_CACHE/tensorrt`` (default
``~/.cache/semcorr/tensorrt``); written atomically (temporary file in the same folder, then
``os.replace``), rebuilt when the cached file does not deserialise (a TensorRT upgrade the key
missed, a truncated write by another tool).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from semcorr_core.atomic_file import atomic_path
from semcorr_core.errors import BackendError
from semcorr_core.models.backends import EmbeddingBackend, check_precision

__all__ = ["EngineProfile", "EngineKey", "tensorrt_module", "engine_cache_dir", "engine_key",
           "build_serialized_engine", "load_or_build_engine", "write_engine_file", "TensorRTBackend"]

INSTALL_HINT = ("TensorRT is not installed here (PyPI carries only stub packages that download from NVIDIA): "
                "install it on the target (NVIDIA's pip index, JetPack, or an NGC TensorRT container), or use "
                "backend 'onnxruntime' (CUDA execution provider) or 'torch'")


@dataclass(frozen=True)
class EngineProfile:
    """Optimisation profile of the ``points`` input ``(B, N, C)``: TensorRT tunes kernels for
    ``opt`` and accepts any shape between ``min`` and ``max`` (per axis)."""

    min_points: int = 256
    opt_points: int = 1024
    max_points: int = 4096
    min_batch: int = 1
    opt_batch: int = 1
    max_batch: int = 8

    def __post_init__(self) -> None:
        for lo, mid, hi, what in ((self.min_points, self.opt_points, self.max_points, "points"),
                                  (self.min_batch, self.opt_batch, self.max_batch, "batch")):
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, mid, hi)) or not 1 <= lo <= mid <= hi:
                raise BackendError(f"engine profile {what}: need integers 1 <= min <= opt <= max, got {lo}, {mid}, {hi}")

    def shapes(self, in_features: int) -> tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]:
        c = int(in_features)
        return ((self.min_batch, self.min_points, c), (self.opt_batch, self.opt_points, c),
                (self.max_batch, self.max_points, c))

    def tag(self) -> str:
        return (f"b{self.min_batch}-{self.opt_batch}-{self.max_batch}"
                f"_n{self.min_points}-{self.opt_points}-{self.max_points}")


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine file depends on; equal keys may share one file."""

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    precision: str
    profile: EngineProfile

    def filename(self) -> str:
        gpu = re.sub(r"[^A-Za-z0-9]+", "-", self.gpu_name).strip("-") or "gpu"
        trt = re.sub(r"[^A-Za-z0-9.]+", "-", self.tensorrt_version)
        return f"{self.onnx_sha256[:16]}_trt{trt}_{gpu}_{self.precision}_{self.profile.tag()}.engine"


def tensorrt_module():
    """The imported ``tensorrt`` package; :class:`BackendError` with what to do when it is missing."""
    try:
        import tensorrt  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise BackendError(f"the tensorrt backend needs TensorRT. {INSTALL_HINT}") from None
    if not hasattr(tensorrt, "Builder"):  # the PyPI stub that failed to fetch the real wheel
        raise BackendError(f"the installed 'tensorrt' package is a stub without the library. {INSTALL_HINT}")
    return tensorrt


def engine_cache_dir() -> Path:
    """``$SEMCORR_CACHE/tensorrt``, default ``~/.cache/semcorr/tensorrt``."""
    root = os.environ.get("SEMCORR_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "semcorr")
    return Path(root) / "tensorrt"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def engine_key(onnx_path: str | os.PathLike, precision: str, profile: EngineProfile, *, tensorrt_version: str,
               gpu_name: str) -> EngineKey:
    check_precision(precision)
    return EngineKey(_sha256(Path(onnx_path)), str(tensorrt_version), str(gpu_name), precision, profile)


def build_serialized_engine(onnx_path: str | os.PathLike, precision: str, profile: EngineProfile, in_features: int,
                            workspace_bytes: int = 1 << 30) -> bytes:
    """Parse ``onnx_path`` and build a serialised engine with TensorRT (on the current GPU)."""
    trt = tensorrt_module()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BackendError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_bytes))
    if precision == "fp16":
        if not builder.platform_has_fast_fp16:
            raise BackendError("precision fp16 asked for, but this GPU has no fast fp16; use fp32")
        config.set_flag(trt.BuilderFlag.FP16)
    opt = builder.create_optimization_profile()
    lo, mid, hi = profile.shapes(in_features)
    opt.set_shape(network.get_input(0).name, lo, mid, hi)
    config.add_optimization_profile(opt)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendError(f"TensorRT failed to build an engine from {onnx_path} (see its log above)")
    return bytes(serialized)


def write_engine_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file beside it, then a rename)."""
    with atomic_path(path) as tmp:  # a concurrent reader sees the old file or the whole new one
        tmp.write_bytes(data)


def load_or_build_engine(key: EngineKey, build: Callable[[], bytes], deserialize: Callable[[bytes], Any],
                         cache_dir: Optional[Path] = None) -> tuple[Any, Path, bool]:
    """``(engine, file, built)``: the cached engine of ``key`` when it deserialises, else
    ``build()`` (serialised bytes), written atomically, then deserialised. ``deserialize`` returns
    None or raises for bytes it cannot use (TensorRT's runtime returns None)."""
    folder = Path(cache_dir) if cache_dir is not None else engine_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / key.filename()
    if path.is_file():
        try:
            engine = deserialize(path.read_bytes())
        except Exception:  # noqa: BLE001 - any failure means: build again
            engine = None
        if engine is not None:
            return engine, path, False
    data = build()
    write_engine_file(path, data)
    engine = deserialize(data)
    if engine is None:
        raise BackendError(f"TensorRT built an engine it cannot load back ({path})")
    return engine, path, True


class TensorRTBackend(EmbeddingBackend):
    """The embedding network as a TensorRT engine on a CUDA device (inputs and outputs are torch
    CUDA tensors; the engine runs on torch's current stream)."""

    name = "tensorrt"

    def __init__(self, onnx_path: str | os.PathLike, device: torch.device, in_features: int, *,
                 precision: str = "fp32", profile: EngineProfile = EngineProfile(),
                 cache_dir: Optional[Path] = None, reason: str = "") -> None:
        trt = tensorrt_module()
        device = torch.device(device)
        if device.type != "cuda" or not torch.cuda.is_available():
            raise BackendError(f"the tensorrt backend runs on a CUDA device, got {device}")
        super().__init__(reason)
        self.device, self.precision = device, precision
        gpu = torch.cuda.get_device_name(device)
        key = engine_key(onnx_path, precision, profile, tensorrt_version=trt.__version__, gpu_name=gpu)
        logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(logger)
        with torch.cuda.device(device):
            self.engine, self.engine_path, self.built = load_or_build_engine(
                key, lambda: build_serialized_engine(onnx_path, precision, profile, in_features),
                self._runtime.deserialize_cuda_engine, cache_dir)
            self.context = self.engine.create_execution_context()
        self.input_name = self.engine.get_tensor_name(0)
        self.output_name = self.engine.get_tensor_name(1)
        self.profile = profile

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        b, n, _ = points.shape
        p = self.profile
        if not (p.min_points <= n <= p.max_points and p.min_batch <= b <= p.max_batch):
            raise BackendError(f"input {tuple(points.shape)} is outside the engine profile (batch "
                               f"{p.min_batch}-{p.max_batch}, points {p.min_points}-{p.max_points}): "
                               "export the engine with a wider profile")
        x = points.to(self.device, torch.float32).contiguous()
        self.context.set_input_shape(self.input_name, tuple(x.shape))
        out = torch.empty(tuple(self.context.get_tensor_shape(self.output_name)), dtype=torch.float32,
                          device=self.device)
        self.context.set_tensor_address(self.input_name, x.data_ptr())
        self.context.set_tensor_address(self.output_name, out.data_ptr())
        stream = torch.cuda.current_stream(self.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise BackendError("TensorRT failed to run the engine")
        stream.synchronize()
        return out.to(points.device)
