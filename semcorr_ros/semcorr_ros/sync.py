"""Approximate-time synchronisation of a few message streams (colour, depth, optional mask).

``message_filters`` is not available from the PyPI ROS wheels, and the node needs only a small,
predictable policy, so it lives here, free of ROS (stamps are integer nanoseconds, items are
opaque), and is unit-tested on hand-made stamps.

Policy. The first stream is the pivot (colour). A pivot message is matched with, from every other
stream, the queued message whose stamp is closest to its own; the set is emitted as soon as every
such partner lies within ``slop`` of the pivot stamp (no waiting for a possibly closer one: with a
tight slop every partner in the window is the same camera frame). A pivot message is dropped as
*unmatched* once some stream has moved past its window (a message newer than pivot + slop and none
inside the window): assuming each stream arrives in stamp order, no partner can come any more.
After a match, everything at or before the matched stamps is dropped; a message older than the
last match (minus slop, for partners) is dropped on arrival as *stale*. Queues are bounded
(``queue_size`` per stream, oldest dropped as *overflow*).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

__all__ = ["ApproximateTimeSync", "Match", "SyncStats"]


@dataclass
class Match:
    stamp_ns: int  # the pivot's stamp
    items: dict[str, Any]  # stream name -> item
    stamps_ns: dict[str, int]


@dataclass
class SyncStats:
    matched: int = 0
    unmatched: dict[str, int] = field(default_factory=dict)  # pivot messages no partner could match
    stale: dict[str, int] = field(default_factory=dict)  # arrived older than the last match
    overflow: dict[str, int] = field(default_factory=dict)  # pushed out of a full queue
    last_closest_ns: Optional[int] = None  # |dt| of the worst partner of the last unmatched pivot


class ApproximateTimeSync:
    """See the module docstring. Not thread-safe: call :meth:`add` from one thread (or under a lock)."""

    def __init__(self, streams: Sequence[str], slop_ns: int, queue_size: int = 10) -> None:
        if len(streams) < 2 or len(set(streams)) != len(streams):
            raise ValueError(f"need at least two distinct stream names, got {list(streams)}")
        if slop_ns < 0:
            raise ValueError(f"slop must be >= 0 ns, got {slop_ns}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.streams = tuple(streams)
        self.pivot = self.streams[0]
        self.slop_ns = int(slop_ns)
        self.queue_size = int(queue_size)
        self._stamps: dict[str, list[int]] = {s: [] for s in self.streams}
        self._items: dict[str, list[Any]] = {s: [] for s in self.streams}
        self._last_match_ns: Optional[int] = None
        self.stats = SyncStats(unmatched={s: 0 for s in self.streams}, stale={s: 0 for s in self.streams},
                               overflow={s: 0 for s in self.streams})

    def queued(self, stream: str) -> int:
        return len(self._stamps[stream])

    def add(self, stream: str, stamp_ns: int, item: Any) -> list[Match]:
        """Queue one message; return the sets this completes (usually zero or one)."""
        if stream not in self._stamps:
            raise KeyError(f"unknown stream {stream!r}; streams: {self.streams}")
        stamp_ns = int(stamp_ns)
        if self._last_match_ns is not None:
            if stream == self.pivot:
                stale = stamp_ns <= self._last_match_ns  # a pivot at or before the last match
            else:
                stale = stamp_ns < self._last_match_ns - self.slop_ns  # too old for any later pivot
            if stale:
                self.stats.stale[stream] += 1
                return []
        stamps, items = self._stamps[stream], self._items[stream]
        i = bisect.bisect_right(stamps, stamp_ns)
        stamps.insert(i, stamp_ns)
        items.insert(i, item)
        if len(stamps) > self.queue_size:
            del stamps[0], items[0]
            self.stats.overflow[stream] += 1
        return self._match()

    # -----------------------------------------------------------------------------------------
    def _closest(self, stream: str, t: int) -> Optional[int]:
        """Index of the queued message of ``stream`` closest in time to ``t`` (ties: the older)."""
        stamps = self._stamps[stream]
        if not stamps:
            return None
        i = bisect.bisect_left(stamps, t)
        cands = [j for j in (i - 1, i) if 0 <= j < len(stamps)]
        return min(cands, key=lambda j: (abs(stamps[j] - t), j))

    def _match(self) -> list[Match]:
        out: list[Match] = []
        pst, pit = self._stamps[self.pivot], self._items[self.pivot]
        while pst:
            t = pst[0]
            partners: dict[str, int] = {}
            decided_unmatched, waiting, worst = False, False, 0
            for s in self.streams[1:]:
                j = self._closest(s, t)
                if j is not None and abs(self._stamps[s][j] - t) <= self.slop_ns:
                    partners[s] = j
                    continue
                if j is not None:
                    worst = max(worst, abs(self._stamps[s][j] - t))
                if self._stamps[s] and self._stamps[s][-1] > t + self.slop_ns:
                    decided_unmatched = True  # this stream has moved past the window
                else:
                    waiting = True  # a partner may still come
            if decided_unmatched:
                del pst[0], pit[0]
                self.stats.unmatched[self.pivot] += 1
                self.stats.last_closest_ns = worst
                continue
            if waiting:
                break
            items = {self.pivot: pit[0]}
            stamps = {self.pivot: t}
            for s, j in partners.items():
                items[s], stamps[s] = self._items[s][j], self._stamps[s][j]
                del self._stamps[s][: j + 1], self._items[s][: j + 1]
            del pst[0], pit[0]
            self._last_match_ns = t
            self._drop_partners_before(t - self.slop_ns)
            self.stats.matched += 1
            out.append(Match(t, items, stamps))
        if pst:
            # partners too old for the oldest waiting pivot can never match any pivot
            self._drop_partners_before(pst[0] - self.slop_ns)
        return out

    def _drop_partners_before(self, t: int) -> None:
        for s in self.streams[1:]:
            k = bisect.bisect_left(self._stamps[s], t)
            if k:
                del self._stamps[s][:k], self._items[s][:k]
                self.stats.stale[s] += k
