"""PLAN.md's rule on the six-seed means: VB1-VB6 (shipped config) against AJ1-AJ6 (data.aspect_jitter=0.5).

python results/aspect_jitter_confirm/decide.py   (from training/; VB1-3 in results/validity_partial, AJ1-3 in
results/aspect_jitter, VB4-6 and AJ4-6 here). Prints the per-run rows, the six-seed means, each clause with its
numbers, and the verdict; exits 1 while a run is missing.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "real_world_detail"))
from compare import DATASETS, load, means, runs_distance_table, table  # noqa: E402

RESULTS = Path(__file__).parents[1]
HERE = Path(__file__).parent
RUNS = {**{f"VB{s + 1}": ("VB", s, RESULTS / "validity_partial") for s in range(3)},
        **{f"VB{s + 1}": ("VB", s, HERE) for s in range(3, 6)},
        **{f"AJ{s + 1}": ("AJ", s, RESULTS / "aspect_jitter") for s in range(3)},
        **{f"AJ{s + 1}": ("AJ", s, HERE) for s in range(3, 6)}}


def clauses(vb: dict, aj: dict) -> list:
    """(clause, holds, numbers) in PLAN.md's order."""
    d = aj["abs_rel"] - vb["abs_rel"]
    cov = aj["coverage"] - vb["coverage"]
    return [
        ("KITTI falls by >= 0.034", d[2] <= -0.034, f"{vb['abs_rel'][2]:.4f} -> {aj['abs_rel'][2]:.4f} ({d[2]:+.4f})"),
        ("nuScenes no worse by > 0.03", d[0] <= 0.03, f"{vb['abs_rel'][0]:.4f} -> {aj['abs_rel'][0]:.4f} ({d[0]:+.4f})"),
        ("DDAD no worse by > 0.03", d[1] <= 0.03, f"{vb['abs_rel'][1]:.4f} -> {aj['abs_rel'][1]:.4f} ({d[1]:+.4f})"),
        ("real-frame mean not worse", aj["abs_rel"].mean() <= vb["abs_rel"].mean(),
         f"{vb['abs_rel'].mean():.4f} -> {aj['abs_rel'].mean():.4f}"),
        ("val <= VB + 0.01", aj["val"] <= vb["val"] + 0.01, f"{vb['val']:.4f} -> {aj['val']:.4f}"),
        ("val sky NaN >= 95 %", aj["sky"] >= 0.95, f"{100 * aj['sky']:.1f} %"),
        ("val surface NaN <= 1.0 %", aj["surface"] <= 0.01, f"{100 * aj['surface']:.2f} %"),
        ("LiDAR predicted down <= 2 points on every dataset", bool(np.all(cov >= -0.02)),
         " / ".join(f"{ds} {100 * c:+.1f}" for ds, c in zip(DATASETS, cov))),
    ]


def main() -> int:
    table(RUNS, ("VB", "AJ"))
    res = {k: load(k, here) for k, (_, _, here) in RUNS.items()}
    missing = [k for k, m in res.items() if m is None]
    if missing:
        print(f"\nnot decided: {', '.join(missing)} not run")
        return 1
    vb, aj = means(res, "VB"), means(res, "AJ")
    print("\n| six-seed mean | AbsRel nuScenes / DDAD / KITTI | mean | δ1 nuScenes / DDAD / KITTI | LiDAR predicted | "
          "val | val < 5 m | val sky / surface NaN |\n|---|---|---:|---|---|---:|---:|---|")
    for name, m in (("VB1-VB6", vb), ("AJ1-AJ6", aj)):
        print(f"| {name} | {' / '.join(f'{x:.3f}' for x in m['abs_rel'])} | {m['abs_rel'].mean():.3f} | "
              f"{' / '.join(f'{x:.3f}' for x in m['d1'])} | {' / '.join(f'{100 * x:.1f} %' for x in m['coverage'])} | "
              f"{m['val']:.3f} | {m['near']:.3f} | {100 * m['sky']:.1f} % / {100 * m['surface']:.2f} % |")
    print("\n| clause | holds | numbers |\n|---|---|---|")
    rows = clauses(vb, aj)
    for name, ok, nums in rows:
        print(f"| {name} | {'yes' if ok else 'NO'} | {nums} |")
    print(f"\nverdict: {'KEEP' if all(ok for _, ok, _ in rows) else 'NOT KEPT'}")
    runs_distance_table(RUNS, ("VB", "AJ"), "six-seed mean")  # read after the verdict, not part of the rule
    return 0


if __name__ == "__main__":
    sys.exit(main())
