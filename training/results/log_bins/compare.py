"""PLAN.md's tables: the shipped config with log-spaced, floored bins (L1-L3, train-dr2) against the linear bins of
the shipped weights (R2, R3, R5), three seeds each, and the per-camera AbsRel of the images with a close vehicle.
python results/log_bins/compare.py (from training/)."""
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "real_world_detail"))
from compare import against_train_dr2  # noqa: E402

if __name__ == "__main__":
    against_train_dr2(HERE, "L", "train-dr2 log bins")
