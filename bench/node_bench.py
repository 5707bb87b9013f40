#!/usr/bin/env python3
"""Node over real DDS at 12 Hz: per-stage latency, overhead ratio, sustained rate and drops, and transport
latency (publish -> fused cloud received in another process) for Fast DDS default vs LARGE_DATA, raw vs
compressed input. Each configuration runs bench/drive.py in a fresh process (Fast DDS reads its transport
variables once per process).

    python bench/node_bench.py [--quick] [--json out/bench/node.json]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frames import ROOT, ensure_world  # noqa: E402

CONFIGS = [("large_data", "compressed"), ("default", "compressed"), ("large_data", "raw"), ("default", "raw")]
STAGES = ("decode", "preprocess", "infer", "postprocess", "cloud", "publish")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=40.0, help="seconds per configuration")
    ap.add_argument("--quick", action="store_true", help="15 s per configuration")
    ap.add_argument("--width", type=int, default=1600)
    ap.add_argument("--height", type=int, default=900)
    ap.add_argument("--model", default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    duration = 15.0 if a.quick else a.duration
    world = ensure_world(ROOT / "out" / "bench" / f"world_{a.width}x{a.height}", a.width, a.height, 0.5)
    figs = {}
    for dds, transport in CONFIGS:
        with tempfile.TemporaryDirectory() as d:
            cmd = [sys.executable, str(Path(__file__).parent / "drive.py"), "--duration", str(duration),
                   "--warmup", "5", "--dds", dds, "--transport", transport, "--world", str(world),
                   "--out", d, "--json", f"{d}/fig.json"]
            if a.model:
                cmd += ["--model", a.model]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 180)
            if r.returncode != 0:
                print(f"{dds}/{transport} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
                continue
            figs[f"{dds}/{transport}"] = json.loads(Path(f"{d}/fig.json").read_text())
    any_fig = next(iter(figs.values()))
    print(f"\n==== node bench: six {a.width}x{a.height} cameras at 12 Hz over DDS, {duration:.0f} s per row — "
          f"{any_fig['backend']} ====")
    print(f"{'DDS transport/input':26s} {'in Hz':>6s} {'out Hz':>6s} {'sets in/out/drop':>17s} "
          f"{'e2e p50/p95 ms':>15s} {'pub ms':>7s}   node stage p50 ms: " + " ".join(f"{s[:6]:>6s}" for s in STAGES)
          + "  overhead/infer")
    for k, f in figs.items():
        st = f["node_stages_ms"]
        over = sum(st[s][0] for s in STAGES if s != "infer" and s in st) / st["infer"][0] if "infer" in st else float("nan")
        f["overhead_ratio"] = over
        print(f"{k:26s} {f['input_rate_hz']:6.1f} {f['output_rate_hz']:6.1f} "
              f"{f['sets_published']:>5d}/{f['sets_out']:>4d}/{f['dropped_sets']:>4d} "
              f"{f['latency_ms_p50']:7.0f}/{f['latency_ms_p95']:<7.0f} {f['publish_ms_p50']:7.1f}   "
              + " ".join(f"{st.get(s, (float('nan'),))[0]:6.1f}" for s in STAGES) + f"  {over:14.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps(figs, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
