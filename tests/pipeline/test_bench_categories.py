"""``semcorr bench categories``: the report's counts add up; bad arguments are refused."""

from __future__ import annotations

import pytest

from semcorr_core.bench.categories import run_category_bench
from semcorr_core.errors import InputError, UnknownCategoryError


def test_report_counts_add_up():
    r = run_category_bench(["bottle", "bowl"], frames=2, objects=(2, 2), distractors=(0, 0))
    assert r["categories"] == ["bottle", "bowl"]
    rows = r["confusion"]
    assert set(rows) == {"bottle", "bowl"} and all(set(v) == {"missed", "bottle", "bowl"} for v in rows.values())
    assert r["objects"] == sum(sum(v.values()) for v in rows.values()) > 0
    assert r["found"] == r["objects"] - sum(v["missed"] for v in rows.values())
    right = rows["bottle"]["bottle"] + rows["bowl"]["bowl"]
    assert r["recall"] == pytest.approx(right / r["objects"])
    assert r["accuracy"] == pytest.approx(right / r["found"])
    assert r["per_category"]["bowl"]["objects"] == sum(rows["bowl"].values())
    assert r["latency_ms"]["total"] > 0 and "choose" in r["latency_ms"]


def test_bad_arguments():
    with pytest.raises(InputError, match="at least two"):
        run_category_bench(["mug"], frames=1)
    with pytest.raises(InputError, match="frames"):
        run_category_bench(["mug", "can"], frames=0)
    with pytest.raises(UnknownCategoryError):
        run_category_bench(["mug", "teapot"], frames=1)
