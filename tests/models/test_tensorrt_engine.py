"""TensorRT engine cache and gate. TensorRT cannot be installed on these machines (MISSION §8), so
the builder and the runtime are stand-ins here: what is tested is the cache (key, atomic write,
reuse, rebuild of a file that does not load) and the clear refusal without TensorRT."""

from __future__ import annotations

import hashlib
import importlib.util

import pytest
import torch

from semcorr_core.errors import BackendError
from semcorr_core.models.backends import make_backend
from semcorr_core.models.bundle import default_bundle_path, load_bundle
from semcorr_core.models.tensorrt_engine import (
    EngineKey, EngineProfile, TensorRTBackend, engine_key, load_or_build_engine, tensorrt_module,
)

HAVE_TENSORRT = importlib.util.find_spec("tensorrt") is not None


def test_profile_checks_and_shapes():
    p = EngineProfile(min_points=128, opt_points=1024, max_points=2048, min_batch=1, opt_batch=2, max_batch=4)
    assert p.shapes(3) == ((1, 128, 3), (2, 1024, 3), (4, 2048, 3))
    assert p.tag() == "b1-2-4_n128-1024-2048"
    for bad in (dict(min_points=0), dict(min_points=2048, opt_points=1024), dict(max_batch=0), dict(opt_points=1.5)):
        with pytest.raises(BackendError, match="min <= opt <= max"):
            EngineProfile(**bad)


def test_key_names_everything_the_engine_depends_on(tmp_path):
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"graph bytes")
    key = engine_key(onnx, "fp16", EngineProfile(), tensorrt_version="10.3.0", gpu_name="NVIDIA H200")
    assert key.onnx_sha256 == hashlib.sha256(b"graph bytes").hexdigest()
    assert key.filename() == f"{key.onnx_sha256[:16]}_trt10.3.0_NVIDIA-H200_fp16_b1-1-8_n256-1024-4096.engine"
    variants = [EngineKey("f" * 64, key.tensorrt_version, key.gpu_name, key.precision, key.profile),
                EngineKey(key.onnx_sha256, "10.4.0", key.gpu_name, key.precision, key.profile),
                EngineKey(key.onnx_sha256, key.tensorrt_version, "NVIDIA H100", key.precision, key.profile),
                EngineKey(key.onnx_sha256, key.tensorrt_version, key.gpu_name, "fp32", key.profile),
                EngineKey(key.onnx_sha256, key.tensorrt_version, key.gpu_name, key.precision, EngineProfile(max_points=8192))]
    assert len({key.filename()} | {v.filename() for v in variants}) == 6
    with pytest.raises(BackendError, match="precision"):
        engine_key(onnx, "int8", EngineProfile(), tensorrt_version="10", gpu_name="x")


class _Runtime:
    """Stands in for tensorrt.Runtime: an 'engine' is the bytes that start with ENGINE."""

    def __init__(self) -> None:
        self.loaded = 0

    def deserialize(self, data: bytes):
        self.loaded += 1
        return ("engine", data) if data.startswith(b"ENGINE") else None


def test_build_once_reuse_and_rebuild_a_damaged_file(tmp_path):
    key = EngineKey("a" * 64, "10.3.0", "GPU", "fp32", EngineProfile())
    builds = []

    def build():
        builds.append(1)
        return b"ENGINE#%d" % len(builds)

    rt = _Runtime()
    engine, path, built = load_or_build_engine(key, build, rt.deserialize, tmp_path)
    assert built and engine == ("engine", b"ENGINE#1") and path.read_bytes() == b"ENGINE#1"
    assert path.name == key.filename() and [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left
    engine, _, built = load_or_build_engine(key, build, rt.deserialize, tmp_path)
    assert not built and engine == ("engine", b"ENGINE#1") and len(builds) == 1
    path.write_bytes(b"truncated")  # another tool, a full disk, an older TensorRT the key missed
    engine, _, built = load_or_build_engine(key, build, rt.deserialize, tmp_path)
    assert built and engine == ("engine", b"ENGINE#2") and path.read_bytes() == b"ENGINE#2"

    def raising(data):
        raise RuntimeError("deserialisation failed")

    path.write_bytes(b"ENGINE but raises")
    _, _, built = load_or_build_engine(key, build, lambda d: raising(d) if b"raises" in d else rt.deserialize(d),
                                       tmp_path)
    assert built and len(builds) == 3


def test_an_engine_that_does_not_load_back_is_an_error(tmp_path):
    key = EngineKey("b" * 64, "10.3.0", "GPU", "fp32", EngineProfile())
    with pytest.raises(BackendError, match="cannot load back"):
        load_or_build_engine(key, lambda: b"garbage", _Runtime().deserialize, tmp_path)


@pytest.mark.skipif(HAVE_TENSORRT, reason="TensorRT is installed: the refusal does not apply")
def test_without_tensorrt_every_entry_point_says_what_to_do(tmp_path):
    with pytest.raises(BackendError, match="TensorRT is not installed.*onnxruntime"):
        tensorrt_module()
    with pytest.raises(BackendError, match="TensorRT is not installed"):
        TensorRTBackend(tmp_path / "m.onnx", torch.device("cuda"), 3)
    bundle = load_bundle(default_bundle_path("can"), category="can")
    with pytest.raises(BackendError, match="TensorRT is not installed"):
        make_backend(bundle, "tensorrt", device="cuda", cache_dir=tmp_path)
    if not torch.cuda.is_available():
        return
    auto = make_backend(bundle, "auto", device="cuda", cache_dir=tmp_path)  # a GPU host without TensorRT
    assert auto.name == "onnxruntime" or auto.name == "torch"
    assert "TensorRT not used" in auto.reason
