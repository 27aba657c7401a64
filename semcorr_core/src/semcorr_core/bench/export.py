"""``semcorr bench export``: torch vs ONNX Runtime per network - parity and latency in one run.

Networks: the embedding network of each shipped bundle (one per category), and DGCNN (the second
architecture of :mod:`semcorr_core.models`, seeded random weights: no bundle ships one, but it
exports the same way and its kNN graph is the part that can disagree). Each is exported with a
dynamic point axis (:func:`~semcorr_core.models.export.export_onnx`) and fed the same normalised
random clouds (seeded) at each of ``points``.

Figures per network: ``max_abs_error`` over all sizes (target < 1e-4 fp32) and per size; median
latency of ``repeats`` runs at ``latency_points`` for torch and for onnxruntime (both on CPU,
batch 1, after one warm-up), and ``ort_over_torch`` = onnxruntime median / torch median (< 1:
onnxruntime faster).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from semcorr_core.bench.report import new_report
from semcorr_core.data.categories import CATEGORY_NAMES
from semcorr_core.errors import InputError
from semcorr_core.models import build_embedding_model
from semcorr_core.models.backends import OnnxRuntimeBackend, TorchBackend
from semcorr_core.models.bundle import default_bundle_path, load_bundle
from semcorr_core.models.export import export_onnx
from semcorr_core.training.embed3d import normalise_clouds

__all__ = ["run_export_bench", "PARITY_TOLERANCE"]

PARITY_TOLERANCE = 1e-4


def _median_ms(fn, x: torch.Tensor, repeats: int) -> float:
    fn(x)  # warm-up: first-call allocations, onnxruntime's graph preparation
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(x)
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times))


def _networks(dgcnn: bool) -> list[tuple[str, torch.nn.Module]]:
    nets = []
    for c in CATEGORY_NAMES:
        b = load_bundle(default_bundle_path(c), category=c)
        nets.append((f"{b.model_name} ({c} bundle)", b.build_model("cpu").eval()))
    if dgcnn:
        torch.manual_seed(0)
        nets.append(("dgcnn (seeded random weights)", build_embedding_model("dgcnn").eval()))
    return nets


def run_export_bench(points: Sequence[int] = (256, 1024, 4096), latency_points: int = 1024, repeats: int = 20,
                     seed: int = 0, dgcnn: bool = True) -> dict:
    """Parity and latency figures for every network (module docstring)."""
    sizes = [int(n) for n in points]
    if not sizes or min(sizes) < 32:
        raise InputError(f"points must list sizes >= 32, got {list(points)}")
    if repeats < 1:
        raise InputError(f"repeats must be >= 1, got {repeats}")
    gen = torch.Generator().manual_seed(seed)
    clouds = {n: normalise_clouds(torch.rand(1, n, 3, generator=gen) * torch.tensor([0.1, 0.1, 0.12])) for n in sizes}
    timing_cloud = normalise_clouds(torch.rand(1, latency_points, 3, generator=gen))
    rows = {}
    with tempfile.TemporaryDirectory(prefix="semcorr-bench-export-") as tmp:
        for i, (name, model) in enumerate(_networks(dgcnn)):
            path = Path(tmp) / f"net{i}.onnx"
            result = export_onnx(model, path)
            ort = OnnxRuntimeBackend(path, ["CPUExecutionProvider"])
            ref = TorchBackend(model)
            errors = {str(n): float((ref(x) - ort(x)).abs().max()) for n, x in clouds.items()}
            t_torch = _median_ms(ref, timing_cloud, repeats)
            t_ort = _median_ms(ort, timing_cloud, repeats)
            rows[name] = {
                "dynamic_points": bool(result.dynamic_points),
                "max_abs_error": max(errors.values()),
                "max_abs_error_per_points": errors,
                "parity_ok": max(errors.values()) < PARITY_TOLERANCE,
                "torch_ms_median": t_torch,
                "onnxruntime_ms_median": t_ort,
                "ort_over_torch": t_ort / t_torch,
            }
    return new_report("export", points=sizes, latency_points=latency_points, repeats=repeats, seed=seed,
                      device="cpu", torch_threads=torch.get_num_threads(), parity_tolerance=PARITY_TOLERANCE,
                      networks=rows)
