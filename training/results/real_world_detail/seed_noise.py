"""How far apart can two three-seed means of the real-frame AbsRel be by seeds alone? Pools the spread between seeds
of every three-seed experiment in results/ (each config's own seeds 0-2), and prints the standard deviation of one
run, of a three-seed mean, and of the difference of two three-seed means, the quantity the world rule compares to
0.03. python results/real_world_detail/seed_noise.py (from training/)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from compare import DATASETS, load

RESULTS = Path(__file__).parent.parent
# real_world_detail holds two configs (train-dr: S0, R1, R4; train-dr2: R2, R3, R5); every other folder one
GROUPS = {"real_world_detail/train-dr": ["S0", "R1", "R4"], "real_world_detail/train-dr2": ["R2", "R3", "R5"]}


def groups() -> dict:
    out = {}
    for d in sorted(p for p in RESULTS.iterdir() if p.is_dir() and p.name not in ("real_world_detail", "repin")):
        runs = sorted(p.parent.parent.name for p in d.glob("*/real/metrics.json"))
        if len(runs) == 3:
            out[d.name] = [load(r, d) for r in runs]
    for name, runs in GROUPS.items():
        out[name] = [load(r, RESULTS / "real_world_detail") for r in runs]
    return {k: v for k, v in out.items() if all(m is not None for m in v)}


if __name__ == "__main__":
    g = groups()
    cols = [*DATASETS, "mean"]
    print(f"{len(g)} configs with three seeds each: {', '.join(g)}")
    print("| config | " + " | ".join(f"{c} seeds (std)" for c in cols) + " |")
    print("|---|" + "---|" * len(cols))
    dev = []  # per config: [3 seeds, 4 columns] minus the config's mean
    for name, runs in g.items():
        a = np.array([[*m["abs_rel"], np.mean(m["abs_rel"])] for m in runs])
        dev.append(a - a.mean(0))
        print(f"| {name} | " + " | ".join(f"{' '.join(f'{x:.3f}' for x in a[:, j])} ({a[:, j].std(ddof=1):.3f})"
                                          for j in range(len(cols))) + " |")
    dev = np.concatenate(dev)
    sd = np.sqrt((dev ** 2).sum(0) / (len(dev) - len(g)))  # pooled within-config std, ddof per config
    print("\npooled over configs | " + " | ".join(cols))
    print("one run            | " + " | ".join(f"{x:.3f}" for x in sd))
    print("three-seed mean    | " + " | ".join(f"{x:.3f}" for x in sd / np.sqrt(3)))
    print("difference of two  | " + " | ".join(f"{x:.3f}" for x in sd * np.sqrt(2 / 3)))
