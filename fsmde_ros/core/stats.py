"""Rates and latency statistics for diagnostics and periodic logs (bounded memory)."""
from __future__ import annotations

import collections
import threading
import time

import numpy as np

STAGES = ("decode", "motion", "preprocess", "infer", "postprocess", "cloud", "publish", "total")


class RateMeter:
    """Events per second over a sliding window."""

    def __init__(self, window_s: float = 5.0, clock=time.monotonic):
        self.window, self.clock = window_s, clock
        self.times: collections.deque[float] = collections.deque(maxlen=10_000)
        self.count = 0
        self.last: float | None = None  # kept apart from the window: an input silent for long is not "never heard"

    def tick(self) -> None:
        self.last = self.clock()
        self.times.append(self.last)
        self.count += 1

    def rate(self) -> float:
        now = self.clock()
        while self.times and now - self.times[0] > self.window:
            self.times.popleft()
        if len(self.times) < 2:
            return 0.0
        return (len(self.times) - 1) / max(self.times[-1] - self.times[0], 1e-9)

    def last_age(self) -> float | None:
        return None if self.last is None else self.clock() - self.last


class NodeStats:
    def __init__(self, topics, clock=time.monotonic):
        self.lock = threading.Lock()
        self.inputs = {t: RateMeter(clock=clock) for t in topics}
        self.sets_in = RateMeter(clock=clock)
        self.sets_out = RateMeter(clock=clock)
        self.latency = {s: collections.deque(maxlen=200) for s in STAGES}
        self.drops = 0  # complete sets replaced before the worker took them (never queued behind the model)
        self.bad_views = 0
        self.errors = 0
        self.queue_max = 0  # high-water mark of the synchronizer's per-input queues
        self.partial_sets = 0  # sets served without the silent cameras
        self.future_sets = 0  # sets stamped too far ahead of the node clock (dropped)
        self.future_ahead: float | None = None  # how far ahead the last such set was (s)
        self.busy = False  # the worker is processing a set

    def add_latency(self, timings: dict[str, float]) -> None:
        with self.lock:
            for k, v in timings.items():
                if k in self.latency:
                    self.latency[k].append(v)

    def latency_summary(self) -> dict[str, tuple[float, float]]:
        """stage -> (p50, p95) in milliseconds."""
        with self.lock:
            out = {}
            for k, d in self.latency.items():
                if d:
                    a = np.asarray(d) * 1000.0
                    out[k] = (float(np.percentile(a, 50)), float(np.percentile(a, 95)))
            return out
