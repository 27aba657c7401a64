"""bench tracking: the tracker makes a static object's keypoints steadier without losing accuracy."""

from __future__ import annotations

import pytest

from semcorr_core.bench.tracking import run_tracking_bench
from semcorr_core.errors import InputError


def test_tracker_reduces_jitter_on_a_static_sequence():
    r = run_tracking_bench("mug", sequences=1, frames=10, warmup=4)
    assert r["jitter_m_median_raw"] > 0
    assert r["jitter_m_median_tracked"] < r["jitter_m_median_raw"]
    assert r["jitter_ratio"] == pytest.approx(r["jitter_m_median_tracked"] / r["jitter_m_median_raw"])
    # smoothing a static object's keypoints must not move them away from the truth
    assert r["error_m_median_tracked"] < r["error_m_median_raw"] + 0.005


def test_too_short_sequences_are_refused():
    with pytest.raises(InputError, match="frames"):
        run_tracking_bench("mug", sequences=1, frames=3, warmup=5)
