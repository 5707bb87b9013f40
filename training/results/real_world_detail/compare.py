"""The PLAN.md table from the runs' metrics: per run and per world (mean over its seeds), real frames and val world.

python results/real_world_detail/compare.py   (from training/; reads results/real_world_detail/<run>/{real,val})
python results/real_world_detail/compare.py EXPERIMENT PREFIX LABEL   (results/EXPERIMENT/<PREFIX>1-3 against VB1-VB3)
python results/real_world_detail/compare.py --decide REF_EXPERIMENT:PREFIX NEW_EXPERIMENT:PREFIX   (the world rule on
    <PREFIX>1-3 of each, seeds 0-2: what each experiment's decide.py stub did, without a new stub)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
RUNS = {"S0": ("train-dr", 0), "R1": ("train-dr", 1), "R4": ("train-dr", 2),
        "R2": ("train-dr2", 0), "R3": ("train-dr2", 1), "R5": ("train-dr2", 2)}
DATASETS = ("nuscenes", "ddad", "kitti")


def load(run: str, here: Path = HERE):
    real, val = here / run / "real" / "metrics.json", here / run / "val" / "metrics.json"
    if not (real.exists() and val.exists()):
        return None
    r = json.loads(real.read_text())["per_dataset"]
    v = next(iter(json.loads(val.read_text()).values()))  # {model name: {...}}
    row = {ds: r[ds]["model"]["scale_aware"] for ds in DATASETS}
    return {"abs_rel": [row[ds]["abs_rel"] for ds in DATASETS], "d1": [row[ds]["d1"] for ds in DATASETS],
            "coverage": [r[ds]["model"].get("coverage", np.nan) for ds in DATASETS],
            "val": v["nuscenes"]["scale_aware"]["mean"]["abs_rel"], "sky": v["invalid"]["sky_nan"],
            "near": v["abs_rel_by_distance"]["abs_rel"][0],  # val pixels nearer than 5 m
            "surface": v["invalid"]["surface_nan"]}


def table(runs: dict, world_order: tuple) -> None:
    """Print the per-run rows and the 2- and 3-seed means per world; ``runs``: {name: (world, seed, folder)}."""
    res = {k: load(k, here) for k, (_, _, here) in runs.items()}
    print("| run | world | seed | AbsRel nuScenes / DDAD / KITTI | mean | δ1 nuScenes / DDAD / KITTI | LiDAR predicted | val AbsRel | val < 5 m | val sky NaN / surface NaN |")
    print("|---|---|---:|---|---:|---|---|---:|---:|---|")
    for k, (world, seed, _) in runs.items():
        m = res[k]
        if m is None:
            print(f"| {k} | {world} | {seed} | (not run) | | | | | |")
            continue
        print(f"| {k} | {world} | {seed} | {' / '.join(f'{x:.3f}' for x in m['abs_rel'])} | {np.mean(m['abs_rel']):.3f} | "
              f"{' / '.join(f'{x:.3f}' for x in m['d1'])} | {' / '.join(f'{100 * x:.0f} %' for x in m['coverage'])} | "
              f"{m['val']:.3f} | {m['near']:.3f} | {100 * m['sky']:.1f} % / {100 * m['surface']:.2f} % |")
    for n_seeds in (2, 3):
        for world in world_order:
            names = [k for k, (w, s, _) in runs.items() if w == world and s < n_seeds and res[k] is not None]
            if len(names) < n_seeds:
                continue
            a = np.mean([res[k]["abs_rel"] for k in names], 0)
            d = np.mean([res[k]["d1"] for k in names], 0)
            v = np.mean([res[k]["val"] for k in names])
            near = np.mean([res[k]["near"] for k in names])
            print(f"| {n_seeds}-seed mean | {world} | {', '.join(names)} | {' / '.join(f'{x:.3f}' for x in a)} | "
                  f"{a.mean():.3f} | {' / '.join(f'{x:.3f}' for x in d)} | | {v:.3f} | {near:.3f} | |")


CAMERAS = (("nuscenes", "CAM_FRONT"), ("nuscenes", "CAM_BACK"), ("nuscenes", "CAM_BACK_RIGHT"),
           ("ddad", "CAMERA_01"), ("ddad", "CAMERA_05"), ("ddad", "CAMERA_06"))


def per_camera(folder: Path) -> dict | None:
    f = folder / "real" / "metrics.json"
    if not f.exists():
        return None
    rows = json.loads(f.read_text())["per_view"]
    return {c: float(np.mean([r["model"]["scale_aware"]["abs_rel"] for r in rows if (r["dataset"], r["camera"]) == c]))
            for c in CAMERAS}


def camera_table(runs: dict, world_order: tuple) -> None:
    """Per-camera image AbsRel (mean over a world's seeds) of the cameras whose images show near vehicles."""
    print("\n| world | " + " | ".join(f"{d} {c}" for d, c in CAMERAS) + " |")
    print("|---|" + "---:|" * len(CAMERAS))
    for world in world_order:
        cams = [per_camera(here / k) for k, (w, _, here) in runs.items() if w == world]
        cams = [c for c in cams if c is not None]
        if cams:
            print(f"| {world} ({len(cams)} seeds) | " + " | ".join(f"{np.mean([c[k] for c in cams]):.3f}"
                                                              for k in CAMERAS) + " |")


def against_train_dr2(here: Path, prefix: str, world: str, also: tuple = ()) -> None:
    """Both tables for an experiment whose runs <prefix>1..3 (seeds 0..2 on ``world``) live in ``here``, beside
    train-dr2's R2, R3, R5 and any earlier experiments ``also``: (folder, prefix, world) each."""
    runs = {"R2": ("train-dr2", 0, HERE), "R3": ("train-dr2", 1, HERE), "R5": ("train-dr2", 2, HERE)}
    for h, p, w in (*also, (here, prefix, world)):
        runs.update({f"{p}{s + 1}": (w, s, h) for s in range(3)})
    worlds = ("train-dr2", *(w for _, _, w in also), world)
    table(runs, worlds)
    camera_table(runs, worlds)


BANDS = ("0.5-5 m", "5-10 m", "10-20 m", "20-40 m", "40-80 m")


def by_distance(folder: Path, prefix: str) -> dict | None:
    """{(dataset, band index): (AbsRel, median pred/GT)}, means over the runs <prefix>1-3 of ``metrics.json``
    ``by_distance`` (None if a run is missing)."""
    rows = []
    for s in range(1, 4):
        f = folder / f"{prefix}{s}" / "real" / "metrics.json"
        if not f.exists():
            return None
        rows.append(json.loads(f.read_text())["by_distance"])
    return {(ds, i): (np.mean([r[ds]["abs_rel"][i] for r in rows]), np.mean([r[ds]["median_ratio"][i] for r in rows]))
            for ds in DATASETS for i in range(len(BANDS))}


def distance_table(series: tuple) -> None:
    """Print the three-seed AbsRel / median pred/GT per dataset and band; ``series``: ((folder, prefix, name), ...)."""
    print("\n| three-seed mean, AbsRel / median pred/GT | " + " | ".join(BANDS) + " |")
    print("|---|" + "---:|" * len(BANDS))
    for folder, prefix, _ in series:
        bd = by_distance(folder, prefix)
        if bd is None:
            continue
        for d in DATASETS:
            print(f"| {d} {prefix} | " + " | ".join(f"{bd[(d, i)][0]:.2f} / ×{bd[(d, i)][1]:.2f}"
                                                   for i in range(len(BANDS))) + " |")


BANDS6 = BANDS + ("80-200 m",)


def runs_distance_table(runs: dict, series_order: tuple, label: str) -> None:
    """Print the mean over each series' runs of AbsRel / median pred/GT per dataset and LiDAR band (``metrics.json``
    ``by_distance``); ``runs``: {name: (series, seed, folder)}, ``label``: the first header cell."""
    print(f"\n| {label}, AbsRel / median pred/GT | " + " | ".join(BANDS6) + " |\n|---|" + "---:|" * len(BANDS6))
    for ds in DATASETS:
        for series in series_order:
            rows = [json.loads((here / k / "real" / "metrics.json").read_text())["by_distance"][ds]
                    for k, (s, _, here) in runs.items() if s == series]
            cells = ["–" if rows[0]["abs_rel"][i] is None else
                     f"{np.mean([r['abs_rel'][i] for r in rows]):.2f} / ×{np.mean([r['median_ratio'][i] for r in rows]):.2f}"
                     for i in range(len(BANDS6))]
            print(f"| {ds} {series} | " + " | ".join(cells) + " |")


def means(res: dict, series: str) -> dict:
    rows = [m for k, m in res.items() if k.startswith(series)]
    return {key: np.mean([m[key] for m in rows], 0) for key in ("abs_rel", "d1", "coverage", "val", "near", "sky",
                                                               "surface")}


def clauses(ref: dict, new: dict) -> list:
    """The world rule (results/mirror/PLAN.md and later plans): (clause, holds, numbers) in its order."""
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


def decide(runs: dict, series: tuple) -> int:
    """The world rule on the three-seed means of series[0] (reference) and series[1] (the change): per-run rows,
    means, each clause with its numbers, the verdict; 1 while a run is missing. The distance table after the
    verdict is not part of the rule."""
    table(runs, series)
    res = {k: load(k, here) for k, (_, _, here) in runs.items()}
    missing = [k for k, m in res.items() if m is None]
    if missing:
        print(f"\nnot decided: {', '.join(missing)} not run")
        return 1
    ref, new = means(res, series[0]), means(res, series[1])
    print("\n| clause | holds | numbers |\n|---|---|---|")
    rows = clauses(ref, new)
    for name, ok, nums in rows:
        print(f"| {name} | {'yes' if ok else 'NO'} | {nums} |")
    print(f"\nverdict: {'KEEP' if all(ok for _, ok, _ in rows) else 'NOT KEPT'}")
    runs_distance_table(runs, series, "three-seed mean")
    return 0


def main(argv=None) -> None:
    """Without arguments this folder's table; with EXPERIMENT PREFIX LABEL, that experiment's <PREFIX>1-3 against
    VB1-VB3 (the shipped config), with the real frames by distance."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--decide"]:
        if len(args) != 3 or any(":" not in a for a in args[1:]):
            sys.exit("usage: compare.py --decide REF_EXPERIMENT:PREFIX NEW_EXPERIMENT:PREFIX")
        series = [a.split(":", 1) for a in args[1:]]
        runs = {f"{p}{s + 1}": (p, s, HERE.parent / e) for e, p in series for s in range(3)}
        sys.exit(decide(runs, tuple(p for _, p in series)))
    if not args:
        table({k: (w, s, HERE) for k, (w, s) in RUNS.items()}, ("train-dr", "train-dr2"))
        return
    exp, prefix, label = args
    ref = (HERE.parent / "validity_partial", "VB", "train-dr5 (VB1-VB3, shipped config)")
    against_train_dr2(HERE.parent / exp, prefix, label, also=(ref,))
    distance_table((ref, (HERE.parent / exp, prefix, label)))


if __name__ == "__main__":
    main()
