"""semcorr_ros.sync: approximate-time matching on hand-made stamps (pure Python, no ROS graph)."""

from __future__ import annotations

import pytest

from .test_node_support import use_source_tree

use_source_tree()

from semcorr_ros.sync import ApproximateTimeSync  # noqa: E402

MS = 1_000_000  # ns


def _sync(slop_ms=10, queue=10, streams=("color", "depth")):
    return ApproximateTimeSync(list(streams), slop_ms * MS, queue)


def test_same_stamp_pairs_match_in_either_arrival_order():
    s = _sync()
    assert s.add("color", 100 * MS, "c0") == []
    [m] = s.add("depth", 100 * MS, "d0")
    assert (m.stamp_ns, m.items) == (100 * MS, {"color": "c0", "depth": "d0"})
    [m] = s.add("depth", 133 * MS, "d1") or s.add("color", 133 * MS, "c1")
    assert m.items == {"color": "c1", "depth": "d1"}
    assert s.stats.matched == 2


def test_within_slop_matches_and_just_outside_does_not():
    s = _sync(slop_ms=10)
    s.add("color", 1000 * MS, "c")
    [m] = s.add("depth", 1010 * MS, "d")  # exactly at the slop: matched
    assert m.stamps_ns == {"color": 1000 * MS, "depth": 1010 * MS}

    s = _sync(slop_ms=10)
    s.add("color", 1000 * MS, "c")
    assert s.add("depth", 1010 * MS + 1, "d") == []  # 1 ns outside
    # the depth stream has moved past the colour's window: that colour can never match
    assert s.stats.unmatched["color"] == 1 and s.queued("color") == 0
    assert s.stats.last_closest_ns == 10 * MS + 1
    [m] = s.add("color", 1012 * MS, "c2")  # the depth pairs with a later colour instead
    assert m.items == {"color": "c2", "depth": "d"}


def test_pivot_waits_for_a_late_partner():
    s = _sync(slop_ms=10)
    assert s.add("color", 0, "c0") == []
    assert s.add("color", 33 * MS, "c1") == []  # depth of c0 still to come (it may be slower)
    assert s.add("depth", 2 * MS, "d0")[0].items == {"color": "c0", "depth": "d0"}
    assert s.add("depth", 33 * MS, "d1")[0].items == {"color": "c1", "depth": "d1"}
    assert s.stats.unmatched["color"] == 0


def test_closest_partner_is_chosen():
    s = _sync(slop_ms=10)
    s.add("depth", 92 * MS, "far")
    s.add("depth", 99 * MS, "near")
    [m] = s.add("color", 100 * MS, "c")
    assert m.items["depth"] == "near"
    assert s.queued("depth") == 0  # the partner and everything older are gone


def test_old_messages_are_dropped():
    s = _sync(slop_ms=10)
    s.add("color", 500 * MS, "c")
    s.add("depth", 500 * MS, "d")
    # arrives after a newer frame was matched: stale, never emitted
    assert s.add("color", 400 * MS, "old") == []
    assert s.add("depth", 480 * MS, "old") == []  # older than last match - slop
    assert s.stats.stale == {"color": 1, "depth": 1}
    assert s.queued("color") == 0 and s.queued("depth") == 0
    # a depth older than the oldest waiting colour's window is dropped too
    s.add("color", 600 * MS, "c2")
    s.add("depth", 520 * MS, "too old for c2")
    assert s.queued("depth") == 0 and s.stats.stale["depth"] == 2
    assert s.add("depth", 601 * MS, "d2")[0].items == {"color": "c2", "depth": "d2"}


def test_unmatched_colour_is_dropped_and_next_frame_still_matches():
    s = _sync(slop_ms=5)
    s.add("color", 0, "c0")  # its depth was lost
    s.add("color", 33 * MS, "c1")
    [m] = s.add("depth", 33 * MS, "d1")
    assert m.items == {"color": "c1", "depth": "d1"}
    assert s.stats.unmatched["color"] == 1


def test_queue_is_bounded():
    s = _sync(queue=3)
    for i in range(5):
        assert s.add("color", i * 33 * MS, f"c{i}") == []  # depth never comes
    assert s.queued("color") == 3 and s.stats.overflow["color"] == 2
    [m] = s.add("depth", 4 * 33 * MS, "d4")  # the oldest queued colours give way as depth moves on
    assert m.items["color"] == "c4"
    assert s.stats.unmatched["color"] == 2


def test_three_streams_need_all_partners():
    s = _sync(streams=("color", "depth", "mask"))
    s.add("color", 100 * MS, "c")
    assert s.add("depth", 101 * MS, "d") == []  # mask missing
    [m] = s.add("mask", 99 * MS, "m")
    assert m.items == {"color": "c", "depth": "d", "mask": "m"}


def test_out_of_order_within_a_stream_is_sorted():
    s = _sync(slop_ms=10)
    s.add("depth", 40 * MS, "d40")
    s.add("depth", 10 * MS, "d10")
    assert s.add("color", 10 * MS, "c10")[0].items["depth"] == "d10"
    assert s.add("color", 40 * MS, "c40")[0].items["depth"] == "d40"


@pytest.mark.parametrize("kw", [dict(streams=["color"], slop_ns=1), dict(streams=["a", "a"], slop_ns=1),
                                dict(streams=["a", "b"], slop_ns=-1),
                                dict(streams=["a", "b"], slop_ns=1, queue_size=0)])
def test_bad_construction(kw):
    with pytest.raises(ValueError):
        ApproximateTimeSync(**kw)


def test_unknown_stream():
    with pytest.raises(KeyError):
        _sync().add("mask", 0, None)
