#!/usr/bin/env python3
"""Cost of approximate time sync per message: upstream message_filters' algorithm vs ours, 6 and 12 inputs.

Upstream's ApproximateTimeSynchronizer.add enumerates the product of every input's stamps within the slop
(``reference_first_set`` in fsmde_ros/core/sync.py is that algorithm, and test/test_sync.py checks ours emits the
same sets); ours walks the same product depth-first and prunes. The node syncs the 6 images only (camera_info
is cached), so 6 inputs is what runs; 12 (images + camera_info) is what a naive node would do.

    python bench/sync_bench.py [--quick] [--json out.json]

Streams: N inputs at R Hz with nuScenes-like capture offsets (0-40 ms), arrival order jittered by +-20 ms,
slop 60 ms, queue 10; healthy, with one camera's clock 70 ms ahead, and (12 inputs) with camera_info stamped
30 ms before its image, as some drivers do: no 12-input combination fits the slop then, and upstream
enumerates the whole product on every message. Printed: per-message cost p50 / p99 / max for both, and the
sets each emitted (the same on every row the upstream run finished).
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fsmde_ros.core.sync import ApproximateSync, ReferenceSync  # noqa: E402

MS = 1_000_000
OFFSETS = [25, 33, 40, 0, 10, 17]


def events(n_inputs, rate, n_sets, skew_ms=0, info_ms=0, seed=0):
    """Arrivals (input, stamp): inputs 0-5 images, 6-11 their camera_info; ``skew_ms``: camera 0 (image and
    camera_info) runs that far ahead; ``info_ms``: every camera_info is stamped that far from its image."""
    cams = 6
    rng = random.Random(seed)
    ev = []
    for k in range(n_sets):
        t = 10**12 + int(k * 1e9 / rate)
        for c in range(n_inputs):
            st = t + (OFFSETS[c % cams] + (skew_ms if c % cams == 0 else 0) + (info_ms if c >= cams else 0)) * MS
            ev.append((st + rng.randint(-20, 20) * MS, c, st))
    return [(c, st) for _, c, st in sorted(ev)]


def run(sync, ev, budget_s):
    costs, t_end = [], time.perf_counter() + budget_s
    for c, st in ev:
        t0 = time.perf_counter()
        sync.add(c, st, st)
        costs.append(time.perf_counter() - t0)
        if time.perf_counter() > t_end:
            break
    return costs


def summary(costs):
    c = sorted(costs)
    return {"messages": len(c), "p50_ms": statistics.median(c) * 1e3, "p99_ms": c[int(0.99 * (len(c) - 1))] * 1e3,
            "max_ms": c[-1] * 1e3}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    n_sets, budget = (60, 20.0) if a.quick else (200, 60.0)
    rows = []
    print(f"{'inputs':>6} {'Hz':>4} {'stream':>14} | {'upstream p50/p99/max ms':>26} {'sets':>5} | "
          f"{'ours p50/p99/max ms':>22} {'sets':>5}")
    scenarios = [(n, "healthy", 0, 0) for n in (6, 12)] + [(6, "CAM0 +70 ms", 70, 0), (12, "info -30 ms", 0, -30)]
    for n, kind, skew, info in scenarios:
        for rate in (12, 20, 30):
            ev = events(n, rate, n_sets, skew, info)
            up, ours = ReferenceSync(n, 10, 60 * MS), ApproximateSync(n, 10, 60 * MS)
            cu = run(up, ev, budget)
            co = run(ours, ev[:len(cu)], budget)
            su, so = summary(cu), summary(co)
            done = "" if len(cu) == len(ev) else f" (stopped after {len(cu)} of {len(ev)} messages: {budget:g} s budget)"
            print(f"{n:>6} {rate:>4} {kind:>14} | {su['p50_ms']:8.3f} /{su['p99_ms']:8.2f} /{su['max_ms']:8.1f} {len(up.out):>5} | "
                  f"{so['p50_ms']:6.3f} /{so['p99_ms']:6.3f} /{so['max_ms']:6.2f} {ours.emitted:>5}{done}")
            rows.append({"inputs": n, "rate_hz": rate, "stream": kind, "upstream": su, "ours": so,
                         "upstream_sets": len(up.out), "our_sets": ours.emitted})
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
