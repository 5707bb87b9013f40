"""The PLAN.md table from the runs' metrics: per run and per world (mean over its seeds), real frames and val world.

python results/real_world_detail/compare.py   (from training/; reads results/real_world_detail/<run>/{real,val})
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
RUNS = {"S0": ("train-dr", 0), "R1": ("train-dr", 1), "R4": ("train-dr", 2),
        "R2": ("train-dr2", 0), "R3": ("train-dr2", 1), "R5": ("train-dr2", 2)}
DATASETS = ("nuscenes", "ddad", "kitti")


def load(run: str):
    real, val = HERE / run / "real" / "metrics.json", HERE / run / "val" / "metrics.json"
    if not (real.exists() and val.exists()):
        return None
    r = json.loads(real.read_text())["per_dataset"]
    v = next(iter(json.loads(val.read_text()).values()))  # {model name: {...}}
    row = {ds: r[ds]["model"]["scale_aware"] for ds in DATASETS}
    return {"abs_rel": [row[ds]["abs_rel"] for ds in DATASETS], "d1": [row[ds]["d1"] for ds in DATASETS],
            "coverage": [r[ds]["model"].get("coverage", np.nan) for ds in DATASETS],
            "val": v["nuscenes"]["scale_aware"]["mean"]["abs_rel"], "sky": v["invalid"]["sky_nan"],
            "surface": v["invalid"]["surface_nan"]}


def main() -> None:
    res = {k: load(k) for k in RUNS}
    print("| run | world | seed | AbsRel nuScenes / DDAD / KITTI | mean | δ1 nuScenes / DDAD / KITTI | LiDAR predicted | val AbsRel | val sky NaN / surface NaN |")
    print("|---|---|---:|---|---:|---|---|---:|---|")
    for k, (world, seed) in RUNS.items():
        m = res[k]
        if m is None:
            print(f"| {k} | {world} | {seed} | (not run) | | | | |")
            continue
        print(f"| {k} | {world} | {seed} | {' / '.join(f'{x:.3f}' for x in m['abs_rel'])} | {np.mean(m['abs_rel']):.3f} | "
              f"{' / '.join(f'{x:.3f}' for x in m['d1'])} | {' / '.join(f'{100 * x:.0f} %' for x in m['coverage'])} | "
              f"{m['val']:.3f} | {100 * m['sky']:.1f} % / {100 * m['surface']:.2f} % |")
    for n_seeds in (2, 3):
        for world in ("train-dr", "train-dr2"):
            runs = [k for k, (w, s) in RUNS.items() if w == world and s < n_seeds and res[k] is not None]
            if len(runs) < n_seeds:
                continue
            a = np.mean([res[k]["abs_rel"] for k in runs], 0)
            d = np.mean([res[k]["d1"] for k in runs], 0)
            v = np.mean([res[k]["val"] for k in runs])
            print(f"| {n_seeds}-seed mean | {world} | {', '.join(runs)} | {' / '.join(f'{x:.3f}' for x in a)} | "
                  f"{a.mean():.3f} | {' / '.join(f'{x:.3f}' for x in d)} | | {v:.3f} | |")


if __name__ == "__main__":
    main()
