"""bench pipeline: figures for the detector and its ablations on the same rendered frames."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semcorr_core.bench.pipeline import PipelineScores, run_pipeline_bench
from semcorr_core.errors import InputError


def test_report_has_every_figure_and_the_ablation():
    r = run_pipeline_bench("mug", frames=2, n_instances=2, gt_mask=True, ablations=("prior_only",))
    assert r["frames"] == 2 and r["masks"] == "ground truth"
    for figures in (r, r["ablations"]["prior_only"]):
        assert 0.0 <= figures["detection_rate"] <= 1.0
        groups = [figures[g] for g in ("visible", "occluded") if figures[g] is not None]
        assert sum(g["n"] for g in groups) == 2 * 6  # every keypoint of both frames counted once
        for g in groups:
            assert 0.0 <= g["pck3d_1cm"] <= g["pck3d_2cm"] <= 1.0 and g["median_m"] >= 0
        assert set(figures["latency_ms_median"]) >= {"segment", "embed", "align", "keypoints", "total"}
        # modulo the view's symmetry never exceeds modulo the category's alone
        if figures["rotation_error_deg_median"] is not None:
            assert figures["rotation_error_deg_median"] <= figures["rotation_error_deg_median_strict"] + 1e-9
            assert math.isfinite(figures["translation_error_m_median"])
        # the mug's flip: handle on the wrong side, only in views that show the handle
        assert figures["flip_rate"] is None or 0.0 <= figures["flip_rate"] <= 1.0
    assert "ablations" not in r["ablations"]["prior_only"]
    # the same keypoints again, by the camera's range to the object (mugs are framed 0.5-1.3 m away)
    assert sum(b["frames"] for b in r["by_range"]) == 2
    assert sum(b[g]["n"] for b in r["by_range"] for g in ("visible", "occluded") if b[g]) == 2 * 6
    # and by how each detected keypoint was found
    assert set(r["by_source"]) <= {"measured", "mirrored", "fit"}
    assert r["uncertainty"] is None  # the mug has no shape prior: no sigma
    assert sum(v["n"] for v in r["by_source"].values()) == 6 * round(2 * r["detection_rate"])


def test_figures_by_source_hand_computed():
    scores = PipelineScores(frames=2, K=2)
    gt = np.zeros((2, 2, 3))
    scores.pred[0] = [[0.005, 0, 0], [0.03, 0, 0]]
    scores.sources[0] = ("measured", "fit")
    scores.pred[1] = [[0.015, 0, 0], [0, 0.01, 0]]
    scores.sources[1] = ("measured", "mirrored")
    by = scores.by_source(gt)
    assert set(by) == {"measured", "mirrored", "fit"}
    assert by["measured"] == {"n": 2, "median_m": pytest.approx(0.01), "pck3d_1cm": 0.5, "pck3d_2cm": 1.0}
    assert by["fit"]["n"] == 1 and by["fit"]["pck3d_2cm"] == 0.0 and by["fit"]["median_m"] == pytest.approx(0.03)
    assert by["mirrored"]["pck3d_1cm"] == 1.0
    assert PipelineScores(frames=1, K=2).by_source(gt[:1]) == {}  # nothing detected, nothing said


def test_uncertainty_figures_hand_computed():
    scores = PipelineScores(frames=2, K=2)
    gt = np.zeros((2, 2, 3))
    scores.pred[0] = [[0.01, 0, 0], [0.03, 0, 0]]
    scores.sigmas[0] = [0.01, 0.01]  # errors of 1 and 3 sigmas
    scores.pred[1] = [[0, 0.02, 0], [0, 0, 0.05]]
    scores.sigmas[1] = [0.01, np.nan]  # 2 sigmas; the second keypoint reports none
    u = scores.uncertainty(gt)
    assert u["n"] == 3 and u["median_sigma_m"] == pytest.approx(0.01)
    assert u["median_error_over_sigma"] == pytest.approx(2.0) and u["within_2p5_sigma"] == pytest.approx(2 / 3)
    assert PipelineScores(frames=1, K=2).uncertainty(gt[:1]) is None  # no sigma reported


def test_figures_by_range_hand_computed():
    scores = PipelineScores(frames=3, K=2)
    gt = np.zeros((3, 2, 3))
    scores.pred[0] = [[0.005, 0, 0], [0.03, 0, 0]]  # 0.5 m away: errors 0.5 cm (visible), 3 cm (occluded)
    scores.pred[1] = [[0.015, 0, 0], [0, 0.01, 0]]  # 1.5 m: 1.5 cm (visible), 1 cm (visible)
    scores.add_error(2, ValueError("no depth"))  # 1.7 m: refused, a miss
    vis = np.array([[True, False], [True, True], [True, True]])
    bins = scores.by_range(gt, vis, np.array([0.5, 1.5, 1.7]), edges=(0.0, 1.0, 2.0, 3.0))
    assert [b["range_m"] for b in bins] == [[0.0, 1.0], [1.0, 2.0]]  # no frame at 2-3 m: no bin
    near, far = bins
    assert (near["frames"], near["detected"], far["frames"], far["detected"]) == (1, 1, 2, 1)
    assert near["visible"] == {"n": 1, "median_m": pytest.approx(0.005), "pck3d_1cm": 1.0, "pck3d_2cm": 1.0}
    assert near["occluded"]["pck3d_2cm"] == 0.0 and near["occluded"]["median_m"] == pytest.approx(0.03)
    # 1.5 m: errors 1.5, 1.0, inf, inf cm -> median between 1.5 cm and inf, PCK@1cm 1/4, @2cm 2/4
    assert far["visible"]["n"] == 4 and far["occluded"] is None
    assert far["visible"]["pck3d_1cm"] == 0.25 and far["visible"]["pck3d_2cm"] == 0.5


def test_unknown_ablation_and_bad_frames_are_input_errors():
    with pytest.raises(InputError, match="unknown ablation"):
        run_pipeline_bench("mug", frames=1, ablations=("no_network",))
    with pytest.raises(InputError, match="frames"):
        run_pipeline_bench("mug", frames=0)


def test_a_refused_frame_counts_as_missed():
    from semcorr_core.bench.pipeline import PipelineScores

    with pytest.raises(InputError, match="distractors"):
        run_pipeline_bench("mug", frames=1, distractors=(2, 1))
    s = PipelineScores(frames=2, K=2)
    s.add_error(1, InputError("no plane"))
    assert s.errors == ["frame 1: no plane"] and (s.pred[1] == float("inf")).all()


def test_a_frame_without_depth_is_a_refusal_not_the_end_of_the_bench():
    # frame 13 frames a lone chair from 5 m, beyond the simulated sensor's 4 m: no valid depth
    r = run_pipeline_bench("chair", frames=14, distractors=(0, 0), ablations=("no_corners",))
    assert r["frames_refused"] == 1 and "frame 13: depth has no valid reading" in r["refusals"][0]
    assert r["ablations"]["no_corners"]["frames_refused"] == 1
    assert r["detection_rate"] <= 13 / 14
    # the chair's keypoints by source: what its shape prior inferred is reported apart
    assert {"measured", "prior"} <= set(r["by_source"]) and "fit" not in r["by_source"]
    # and its reported uncertainties against the errors (a calibrated Gaussian: 1.54 sigmas median)
    assert r["uncertainty"]["n"] == sum(v["n"] for v in r["by_source"].values())
    assert 0.8 < r["uncertainty"]["median_error_over_sigma"] < 2.5


def test_descriptor_and_refinement_ablations_run_on_the_same_frames():
    r = run_pipeline_bench("mug", frames=1, n_instances=1, gt_mask=True,
                           ablations=("descriptors_3d", "descriptors_2d", "no_refinement", "no_segment_join",
                                      "no_part_side", "no_deformation", "no_floor_contacts", "no_corners", "no_mirror",
                                      "no_shape_prior"))
    assert r["descriptors"] == "fused" and r["dense2d"]["validation"]["pixels"] > 0  # the shipped 2D model
    assert "embed2d" in r["latency_ms_median"] and "embed2d" in r["ablations"]["descriptors_2d"]["latency_ms_median"]
    assert "embed2d" not in r["ablations"]["descriptors_3d"]["latency_ms_median"]
    assert set(r["ablations"]) == {"descriptors_3d", "descriptors_2d", "no_refinement", "no_segment_join",
                                   "no_part_side", "no_deformation", "no_floor_contacts", "no_corners", "no_mirror",
                                   "no_shape_prior"}


def test_bench_frames_only_renders_the_frames_asked_for_the_same_as_in_sequence():
    from semcorr_core.bench.embed3d import TEST_SEED_OFFSET
    from semcorr_core.bench.pipeline import bench_frames
    from semcorr_core.data.shapes import generate_shapes

    shapes = generate_shapes("can", 3, TEST_SEED_OFFSET + 1000)
    every = {f: fr for f, _, fr in bench_frames(shapes, 4, 0)}
    some = list(bench_frames(shapes, 4, 0, only=(1, 3)))
    assert [f for f, _, _ in some] == [1, 3]
    for f, shape, fr in some:
        assert shape is shapes[f % 3]
        np.testing.assert_array_equal(fr.depth, every[f].depth)
        np.testing.assert_array_equal(fr.color, every[f].color)
