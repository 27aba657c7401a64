"""bench pipeline: figures for the detector and its ablations on the same rendered frames."""

from __future__ import annotations

import math

import pytest

from semcorr_core.bench.pipeline import run_pipeline_bench
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


def test_descriptor_and_refinement_ablations_run_on_the_same_frames():
    r = run_pipeline_bench("mug", frames=1, n_instances=1, gt_mask=True,
                           ablations=("descriptors_3d", "descriptors_2d", "no_refinement", "no_segment_join",
                                      "no_part_side", "no_deformation", "no_floor_contacts", "no_corners", "no_mirror"))
    assert r["descriptors"] == "fused" and r["dense2d"]["validation"]["pixels"] > 0  # the shipped 2D model
    assert "embed2d" in r["latency_ms_median"] and "embed2d" in r["ablations"]["descriptors_2d"]["latency_ms_median"]
    assert "embed2d" not in r["ablations"]["descriptors_3d"]["latency_ms_median"]
    assert set(r["ablations"]) == {"descriptors_3d", "descriptors_2d", "no_refinement", "no_segment_join",
                                   "no_part_side", "no_deformation", "no_floor_contacts", "no_corners", "no_mirror"}
