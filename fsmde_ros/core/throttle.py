"""Rate limiting for log lines keyed by (what, where), so one bad topic cannot flood the log or hide another."""
from __future__ import annotations

import time


class Throttle:
    def __init__(self, period_s: float = 5.0, clock=time.monotonic):
        self.period, self.clock = period_s, clock
        self._last: dict[object, float] = {}
        self.suppressed: dict[object, int] = {}

    def __call__(self, key, period: float | None = None) -> int | None:
        """None while ``key`` is throttled; else the number of lines suppressed since its last one."""
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < (self.period if period is None else period):
            self.suppressed[key] = self.suppressed.get(key, 0) + 1
            return None
        self._last[key] = now
        return self.suppressed.pop(key, 0)
