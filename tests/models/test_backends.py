"""Embedding backends: torch and onnxruntime agree, auto picks and says why, the cache is sound."""

from __future__ import annotations

import pytest
import torch

from semcorr_core.errors import BackendError
from semcorr_core.models.backends import OnnxRuntimeBackend, TorchBackend, make_backend
from semcorr_core.models.bundle import default_bundle_path, load_bundle
from semcorr_core.training.embed3d import normalise_clouds


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(default_bundle_path("can"), category="can")


def test_onnxruntime_matches_torch_and_auto_picks_it_on_cpu(bundle, tmp_path):
    pts = normalise_clouds(torch.rand(1, 700, 3, generator=torch.Generator().manual_seed(0)))
    ref = make_backend(bundle, "torch", cache_dir=tmp_path)
    ort = make_backend(bundle, "onnxruntime", cache_dir=tmp_path)
    auto = make_backend(bundle, "auto", cache_dir=tmp_path)
    assert isinstance(ref, TorchBackend) and isinstance(ort, OnnxRuntimeBackend)
    assert auto.name == "onnxruntime" and "auto" in auto.reason and auto.providers == ["CPUExecutionProvider"]
    a, b = ref(pts), ort(pts)
    assert b.shape == a.shape == (1, 700, bundle.prototype.dense_embeddings.shape[1]) and b.dtype == torch.float32
    assert (a - b).abs().max().item() < 1e-4
    assert len(list(tmp_path.glob("*.onnx"))) == 1  # one export, reused by the second session
    # no spinning threads left behind to slow the numpy work after each run (BENCHMARKS.md: 162 -> 123 ms)
    options = ort.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_damaged_cache_file_is_exported_again(bundle, tmp_path):
    first = make_backend(bundle, "onnxruntime", cache_dir=tmp_path)
    (path,) = tmp_path.glob("*.onnx")
    path.write_bytes(b"not an onnx file")
    again = make_backend(bundle, "onnxruntime", cache_dir=tmp_path)
    pts = normalise_clouds(torch.rand(1, 64, 3))
    assert (first(pts) - again(pts)).abs().max().item() == 0.0
    assert path.stat().st_size > 1000


def test_unknown_and_unavailable_backends_say_what_to_do(bundle, tmp_path):
    with pytest.raises(BackendError, match="unknown backend"):
        make_backend(bundle, "tflite", cache_dir=tmp_path)
    with pytest.raises(BackendError, match="TensorRT.*not installed"):
        make_backend(bundle, "tensorrt", cache_dir=tmp_path)
    if not torch.cuda.is_available():
        # no CUDA device here: auto falls back to torch and says why; onnxruntime on CUDA is refused
        with pytest.raises(BackendError, match="onnxruntime cannot run on cuda"):
            make_backend(bundle, "onnxruntime", device="cuda", cache_dir=tmp_path)


def test_fp16_runs_the_torch_module_in_half_precision(bundle, tmp_path):
    pts = normalise_clouds(torch.rand(1, 256, 3, generator=torch.Generator().manual_seed(1)))
    ref = make_backend(bundle, "torch", cache_dir=tmp_path)(pts)
    half = make_backend(bundle, "torch", cache_dir=tmp_path, precision="fp16")
    assert half.precision == "fp16" and next(half.model.parameters()).dtype == torch.float16
    out = half(pts)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    err = (out - ref).abs().max().item()
    assert 0.0 < err < 0.05  # half precision: not identical, close (measured 2.3e-3 at 1024 points)
    assert torch.nn.functional.cosine_similarity(out, ref, dim=-1).min().item() > 0.999
    auto = make_backend(bundle, "auto", cache_dir=tmp_path, precision="fp16")
    assert auto.name == "torch" and "fp16" in auto.reason
    with pytest.raises(BackendError, match="onnxruntime runs the fp32 graph"):
        make_backend(bundle, "onnxruntime", cache_dir=tmp_path, precision="fp16")
    with pytest.raises(BackendError, match="precision"):
        make_backend(bundle, "torch", cache_dir=tmp_path, precision="int8")
