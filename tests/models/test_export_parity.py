"""Every network we ship (the five bundles' PointNets) and DGCNN: torch and ONNX Runtime agree to
< 1e-4 at several point counts (``semcorr bench export``, the figures of BENCHMARKS.md)."""

from __future__ import annotations

from semcorr_core.bench.export import PARITY_TOLERANCE, run_export_bench


def test_parity_and_latency_of_every_network():
    r = run_export_bench(points=(64, 1024, 2048), repeats=2)
    nets = r["networks"]
    assert len(nets) == 6 and sum("bundle" in n for n in nets) == 5 and any(n.startswith("dgcnn") for n in nets)
    for name, row in nets.items():
        assert row["dynamic_points"], name
        assert set(row["max_abs_error_per_points"]) == {"64", "1024", "2048"}
        assert row["max_abs_error"] < PARITY_TOLERANCE and row["parity_ok"], (name, row["max_abs_error"])
        assert row["max_abs_error"] > 0.0  # two runtimes, float32: identical bits would mean one ran twice
        assert row["ort_over_torch"] == row["onnxruntime_ms_median"] / row["torch_ms_median"]
