"""PLAN.md's rule on the three-seed means: AJ1-AJ3 (the shipped config, results/aspect_jitter) against MR1-MR3
(+ data.mirror=0.5, here).

python results/mirror/decide.py   (from training/). Prints the per-run rows, the means, each clause with its numbers,
and the verdict; exits 1 while a run is missing. The distance table after the verdict is not part of the rule.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "real_world_detail"))
from compare import DATASETS, load, runs_distance_table, table  # noqa: E402

RESULTS = Path(__file__).parents[1]
HERE = Path(__file__).parent
RUNS = {**{f"AJ{s + 1}": ("AJ", s, RESULTS / "aspect_jitter") for s in range(3)},
        **{f"MR{s + 1}": ("MR", s, HERE) for s in range(3)}}


def means(res: dict, series: str) -> dict:
    rows = [m for k, m in res.items() if k.startswith(series)]
    return {key: np.mean([m[key] for m in rows], 0) for key in ("abs_rel", "d1", "coverage", "val", "near", "sky",
                                                               "surface")}


def clauses(ref: dict, new: dict) -> list:
    """(clause, holds, numbers) in PLAN.md's order."""
    d = new["abs_rel"] - ref["abs_rel"]
    cov = new["coverage"] - ref["coverage"]
    return [
        ("real-frame mean falls by >= 0.03", new["abs_rel"].mean() - ref["abs_rel"].mean() <= -0.03,
         f"{ref['abs_rel'].mean():.4f} -> {new['abs_rel'].mean():.4f} "
         f"({new['abs_rel'].mean() - ref['abs_rel'].mean():+.4f})"),
        *[(f"{ds} no worse by > 0.03", d[i] <= 0.03,
           f"{ref['abs_rel'][i]:.4f} -> {new['abs_rel'][i]:.4f} ({d[i]:+.4f})") for i, ds in enumerate(DATASETS)],
        ("val <= AJ + 0.01", new["val"] <= ref["val"] + 0.01, f"{ref['val']:.4f} -> {new['val']:.4f}"),
        ("val sky NaN >= 95 %", new["sky"] >= 0.95, f"{100 * new['sky']:.1f} %"),
        ("val surface NaN <= 1.0 %", new["surface"] <= 0.01, f"{100 * new['surface']:.2f} %"),
        ("LiDAR predicted down <= 2 points on every dataset", bool(np.all(cov >= -0.02)),
         " / ".join(f"{ds} {100 * c:+.1f}" for ds, c in zip(DATASETS, cov))),
    ]


def main() -> int:
    table(RUNS, ("AJ", "MR"))
    res = {k: load(k, here) for k, (_, _, here) in RUNS.items()}
    missing = [k for k, m in res.items() if m is None]
    if missing:
        print(f"\nnot decided: {', '.join(missing)} not run")
        return 1
    ref, new = means(res, "AJ"), means(res, "MR")
    print("\n| clause | holds | numbers |\n|---|---|---|")
    rows = clauses(ref, new)
    for name, ok, nums in rows:
        print(f"| {name} | {'yes' if ok else 'NO'} | {nums} |")
    print(f"\nverdict: {'KEEP' if all(ok for _, ok, _ in rows) else 'NOT KEPT'}")
    runs_distance_table(RUNS, ("AJ", "MR"), "three-seed mean")  # read after the verdict, not part of the rule
    return 0


if __name__ == "__main__":
    sys.exit(main())
