"""PLAN.md's table: train-dr4 (vehicles of any paint, glossy) against train-dr2, three seeds each, plus the
per-camera AbsRel of the images where a vehicle is close.

python results/vehicle_looks/compare.py   (from training/; reads results/{real_world_detail,vehicle_looks}/<run>/)
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "real_world_detail"))
from compare import camera_table, table  # noqa: E402

BASE = HERE.parent / "real_world_detail"
RUNS = {"R2": ("train-dr2", 0, BASE), "R3": ("train-dr2", 1, BASE), "R5": ("train-dr2", 2, BASE),
        "V1": ("train-dr4", 0, HERE), "V2": ("train-dr4", 1, HERE), "V3": ("train-dr4", 2, HERE)}

if __name__ == "__main__":
    table(RUNS, ("train-dr2", "train-dr4"))
    camera_table(RUNS, ("train-dr2", "train-dr4"))
