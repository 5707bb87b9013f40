"""Approximate time synchronisation with message_filters' semantics, on plain integer stamps (ns).

``ApproximateSync`` reproduces ``message_filters.ApproximateTimeSynchronizer.add`` (ROS 2, Python):
each input keeps a dict ``stamp -> msg`` trimmed to ``queue_size`` (oldest dropped first); when a message
arrives on input i, the other inputs' stamps within ``slop`` of it are sorted by distance, and the first
combination in ``itertools.product`` order whose spread (max - min) is *strictly* below ``slop`` is emitted
and removed from the queues. We walk that product depth-first and prune branches whose partial spread
already reaches ``slop`` (the spread can only grow), which finds the same first combination without
enumerating up to queue_size ** (N - 1) tuples for twelve inputs.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Sequence


def _by_delta(pair):
    return pair[0]  # stable: ties keep arrival order, as message_filters' sort by delta does


class ApproximateSync:
    def __init__(self, n_inputs: int, queue_size: int, slop_ns: int, callback: Callable[..., Any] | None = None):
        if n_inputs < 1:
            raise ValueError(f"need at least one input, got {n_inputs}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if slop_ns < 0:
            raise ValueError(f"slop must be >= 0, got {slop_ns} ns")
        self.queues: list[dict[int, Any]] = [{} for _ in range(n_inputs)]
        self.queue_size = queue_size
        self.slop_ns = int(slop_ns)
        self.callbacks: list[Callable[..., Any]] = [callback] if callback else []
        self.lock = threading.Lock()
        self.emitted = 0
        self.evicted = 0  # messages dropped from a full queue without being part of a set

    def add(self, index: int, stamp_ns: int, msg: Any) -> tuple | None:
        """Queue ``msg`` on input ``index``; returns (and signals) the emitted set, if any."""
        with self.lock:
            q = self.queues[index]
            q[stamp_ns] = msg
            while len(q) > self.queue_size:
                del q[min(q)]
                self.evicted += 1
            if stamp_ns not in q:  # older than everything in a full queue: trimmed at once
                return None
            cands = []
            for j, other in enumerate(self.queues):
                if j == index:
                    continue
                near = sorted(((abs(s - stamp_ns), s) for s in other if abs(s - stamp_ns) <= self.slop_ns), key=_by_delta)
                if not near:
                    return None
                cands.append((j, [s for _, s in near]))
            chosen = self._first_within_slop(cands, stamp_ns)
            if chosen is None:
                return None
            chosen[index] = stamp_ns
            stamps = [chosen[i] for i in range(len(self.queues))]
            msgs = tuple(self.queues[i].pop(s) for i, s in enumerate(stamps))
            self.emitted += 1
        for cb in self.callbacks:
            cb(*msgs)
        return msgs

    def _first_within_slop(self, cands, stamp_ns):
        chosen: dict[int, int] = {}

        def walk(k: int, lo: int, hi: int) -> bool:
            if k == len(cands):
                return True
            j, stamps = cands[k]
            for s in stamps:
                nlo, nhi = min(lo, s), max(hi, s)
                if nhi - nlo < self.slop_ns:
                    chosen[j] = s
                    if walk(k + 1, nlo, nhi):
                        return True
            return False

        return chosen if walk(0, stamp_ns, stamp_ns) else None

    def pending(self) -> list[int]:
        """Queue depths per input (for diagnostics)."""
        with self.lock:
            return [len(q) for q in self.queues]

    def clear(self) -> None:
        with self.lock:
            for q in self.queues:
                q.clear()


def reference_first_set(queues: Sequence[dict[int, Any]], index: int, stamp_ns: int, slop_ns: int):
    """message_filters' own search (itertools.product), for tests of ApproximateSync against it."""
    import itertools

    if stamp_ns not in queues[index]:
        return None
    lists = []
    for j, q in enumerate(queues):
        if j == index:
            continue
        near = sorted(((abs(s - stamp_ns), s) for s in q if abs(s - stamp_ns) <= slop_ns), key=_by_delta)
        if not near:
            return None
        lists.append([s for _, s in near])
    for vv in itertools.product(*lists):
        vv = list(vv)
        vv.insert(index, stamp_ns)
        if max(vv) - min(vv) < slop_ns:
            return vv
    return None


class ReferenceSync:
    """message_filters' ``add`` line by line on integer stamps (queue, trim oldest, enumerate the product, emit
    the first combination within slop): the yardstick for ``ApproximateSync`` in tests and bench/sync_bench.py."""

    def __init__(self, n_inputs: int, queue_size: int, slop_ns: int):
        self.queues: list[dict[int, Any]] = [{} for _ in range(n_inputs)]
        self.queue_size, self.slop_ns = queue_size, slop_ns
        self.out: list[tuple] = []

    def add(self, index: int, stamp_ns: int, msg: Any) -> tuple | None:
        q = self.queues[index]
        q[stamp_ns] = msg
        while len(q) > self.queue_size:
            del q[min(q)]
        vv = reference_first_set(self.queues, index, stamp_ns, self.slop_ns)
        if vv is None:
            return None
        self.out.append(tuple(self.queues[j].pop(s) for j, s in enumerate(vv)))
        return self.out[-1]
