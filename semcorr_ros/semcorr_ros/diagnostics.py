"""Health bookkeeping of the node: active problems, throttled warnings, rates and latencies, and
the ``diagnostic_msgs/DiagnosticStatus`` built from them.

Why its own module: the bad-input policy (MISSION §7) is "never crash, say why, keep running". Every
problem is an *issue* with a key (its cause), a level and a message that names the likely cause.
Frame issues (a frame was rejected) stay until the next frame is processed; stream issues
(stalled topic, QoS mismatch, sync failure) are re-evaluated by the node's timer and cleared when
the cause is gone. The log gets one warning when an issue appears or changes and at most one per
``throttle_s`` while it persists (with a repeat count). The status level is the worst active
issue; its message lists the active issues, worst first. Pure Python apart from
:func:`build_status`.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

__all__ = ["ERROR", "OK", "WARN", "IssueBoard", "RateMeter", "RollingMedian", "build_status"]

OK, WARN, ERROR = 0, 1, 2
_LEVEL_NAMES = {OK: "OK", WARN: "WARN", ERROR: "ERROR"}


@dataclass
class Issue:
    level: int
    message: str
    kind: str  # "frame" (cleared by the next processed frame) or "stream" (cleared by the timer)
    first_s: float
    last_s: float
    count: int = 1
    logged_s: float = 0.0
    suppressed: int = 0


class IssueBoard:
    """Thread-safe set of active issues with throttled logging (see the module docstring)."""

    def __init__(self, log: Callable[[int, str], None], throttle_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log, self.throttle_s, self._clock = log, float(throttle_s), clock
        self._issues: dict[str, Issue] = {}
        self._lock = threading.Lock()
        self.last_error: str = ""  # the latest problem reported (any level), kept after it clears
        self.last_error_s: Optional[float] = None

    def report(self, key: str, level: int, message: str, kind: str = "frame") -> bool:
        """Raise (or refresh) issue ``key``; log it unless throttled. True when it is new or changed."""
        now = self._clock()
        line = None
        with self._lock:
            old = self._issues.get(key)
            changed = old is None or old.message != message or old.level != level
            if changed:
                self._issues[key] = Issue(level, message, kind, now, now, logged_s=now)
                line = message
            else:
                old.last_s, old.count = now, old.count + 1
                if now - old.logged_s >= self.throttle_s:
                    line = message + (f" (repeated {old.suppressed + 1}x in {now - old.logged_s:.0f} s)"
                                      if old.suppressed else "")
                    old.logged_s, old.suppressed = now, 0
                else:
                    old.suppressed += 1
            self.last_error, self.last_error_s = message, now
        if line is not None:
            self._log(level, line)
        return changed

    def clear(self, key: str) -> bool:
        with self._lock:
            return self._issues.pop(key, None) is not None

    def clear_kind(self, kind: str) -> None:
        with self._lock:
            for k in [k for k, i in self._issues.items() if i.kind == kind]:
                del self._issues[k]

    def active(self) -> dict[str, Issue]:
        with self._lock:
            return dict(self._issues)

    def summary(self) -> tuple[int, str]:
        """(worst level, messages of the active issues, worst first); (OK, '') when none."""
        issues = sorted(self.active().values(), key=lambda i: (-i.level, i.first_s))
        if not issues:
            return OK, ""
        return issues[0].level, "; ".join(i.message for i in issues)


class RateMeter:
    """Arrival rate over a sliding window (Hz); 0 once nothing arrived for a window."""

    def __init__(self, window_s: float = 3.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s, self._clock = float(window_s), clock
        self._t: collections.deque[float] = collections.deque()
        self.count = 0
        self.last_s: Optional[float] = None
        self._lock = threading.Lock()

    def tick(self) -> None:
        now = self._clock()
        with self._lock:
            self._t.append(now)
            self.count += 1
            self.last_s = now
            self._trim(now)

    def _trim(self, now: float) -> None:
        while self._t and now - self._t[0] > self.window_s:
            self._t.popleft()

    def rate_hz(self) -> float:
        with self._lock:
            self._trim(self._clock())
            if len(self._t) < 2:
                return 0.0
            span = self._t[-1] - self._t[0]
            return (len(self._t) - 1) / span if span > 0 else 0.0

    def age_s(self) -> Optional[float]:
        """Seconds since the last message, None when none came yet."""
        with self._lock:
            return None if self.last_s is None else self._clock() - self.last_s


class RollingMedian:
    """Median and last value of the latest ``n`` samples (per-stage latencies)."""

    def __init__(self, n: int = 30) -> None:
        self._v: collections.deque[float] = collections.deque(maxlen=n)
        self._lock = threading.Lock()

    def add(self, v: float) -> None:
        with self._lock:
            self._v.append(float(v))

    def median(self) -> Optional[float]:
        with self._lock:
            if not self._v:
                return None
            s = sorted(self._v)
        m = len(s) // 2
        return s[m] if len(s) % 2 else 0.5 * (s[m - 1] + s[m])

    def last(self) -> Optional[float]:
        with self._lock:
            return self._v[-1] if self._v else None


def level_name(level: int) -> str:
    return _LEVEL_NAMES.get(level, str(level))


def build_status(name: str, hardware_id: str, level: int, message: str, values: dict):
    """diagnostic_msgs/DiagnosticStatus; ``values`` become KeyValue strings (floats to 4 significant
    digits, None as '')."""
    from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

    def fmt(v) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    st = DiagnosticStatus(name=name, hardware_id=hardware_id, message=message)
    st.level = bytes([int(level)])
    st.values = [KeyValue(key=str(k), value=fmt(v)) for k, v in values.items()]
    return st
