#!/usr/bin/env python3
"""All CPU benchmarks in one go, printing each table (BENCHMARKS.md holds the full runs and their commands).

    python bench/run_all.py --quick      # make bench: well under 10 minutes on 2 CPU cores
    python bench/run_all.py              # the full runs

GPU figures come from the same scripts with --device cuda on a GPU machine (BENCHMARKS.md says which).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(HERE.parent / "out" / "bench"))
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    q = ["--quick"] if a.quick else []
    jobs = [
        ("model", ["model_bench.py", *q, "--json", str(out / "model_cpu.json")]),
        ("pipeline", ["pipeline_bench.py", "--scaling", *q, "--json", str(out / "pipeline_cpu.json")]),
        ("jpeg", ["jpeg_bench.py", *(["--iters", "10"] if a.quick else [])]),
        ("node", ["node_bench.py", *q, "--json", str(out / "node_cpu.json")]),
        ("sync", ["sync_bench.py", *q, "--json", str(out / "sync_cpu.json")]),
    ]
    if not a.quick:
        jobs.insert(1, ("model 448x896", ["model_bench.py", "--hw", "448", "896", "--iters", "5",
                                          "--json", str(out / "model_cpu_448x896.json")]))
    failed = []
    t0 = time.time()
    for name, args in jobs:
        t = time.time()
        r = subprocess.run([sys.executable, str(HERE / args[0]), *args[1:]])
        print(f"[{name}: {time.time() - t:.0f} s, exit {r.returncode}]", flush=True)
        if r.returncode != 0:
            failed.append(name)
    print(f"\nall benchmarks: {time.time() - t0:.0f} s; figures in {out}" + (f"; FAILED: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
