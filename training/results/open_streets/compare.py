"""PLAN.md's table: train-dr3 (open streets) against train-dr2 (urban canyons only), three seeds each, plus the
per-camera AbsRel of the images where the scene opens up or a vehicle is close.

python results/open_streets/compare.py   (from training/; reads results/{real_world_detail,open_streets}/<run>/)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "real_world_detail"))
from compare import table  # noqa: E402

BASE = HERE.parent / "real_world_detail"
RUNS = {"R2": ("train-dr2", 0, BASE), "R3": ("train-dr2", 1, BASE), "R5": ("train-dr2", 2, BASE),
        "O1": ("train-dr3", 0, HERE), "O2": ("train-dr3", 1, HERE), "O3": ("train-dr3", 2, HERE)}
CAMERAS = (("nuscenes", "CAM_FRONT"), ("nuscenes", "CAM_BACK"), ("nuscenes", "CAM_BACK_RIGHT"),
           ("ddad", "CAMERA_01"), ("ddad", "CAMERA_05"), ("ddad", "CAMERA_06"))


def per_camera(folder: Path) -> dict | None:
    f = folder / "real" / "metrics.json"
    if not f.exists():
        return None
    rows = json.loads(f.read_text())["per_view"]
    return {c: float(np.mean([r["model"]["scale_aware"]["abs_rel"] for r in rows if (r["dataset"], r["camera"]) == c]))
            for c in CAMERAS}


def main() -> None:
    table(RUNS, ("train-dr2", "train-dr3"))
    print("\n| world | " + " | ".join(f"{d} {c}" for d, c in CAMERAS) + " |")
    print("|---|" + "---:|" * len(CAMERAS))
    for world in ("train-dr2", "train-dr3"):
        cams = [per_camera(here / k) for k, (w, _, here) in RUNS.items() if w == world]
        cams = [c for c in cams if c is not None]
        if cams:
            print(f"| {world} ({len(cams)} seeds) | " + " | ".join(f"{np.mean([c[k] for c in cams]):.3f}"
                                                              for k in CAMERAS) + " |")


if __name__ == "__main__":
    main()
