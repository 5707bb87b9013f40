"""PLAN.md's table: train-dr3 (open streets) against train-dr2 (urban canyons only), three seeds each, plus the
per-camera AbsRel of the images where a vehicle is close.

python results/open_streets/compare.py   (from training/; reads results/{real_world_detail,open_streets}/<run>/)
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "real_world_detail"))
from compare import camera_table, table  # noqa: E402

BASE = HERE.parent / "real_world_detail"
RUNS = {"R2": ("train-dr2", 0, BASE), "R3": ("train-dr2", 1, BASE), "R5": ("train-dr2", 2, BASE),
        "O1": ("train-dr3", 0, HERE), "O2": ("train-dr3", 1, HERE), "O3": ("train-dr3", 2, HERE)}

if __name__ == "__main__":
    table(RUNS, ("train-dr2", "train-dr3"))
    camera_table(RUNS, ("train-dr2", "train-dr3"))
