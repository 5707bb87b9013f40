"""PLAN.md's table: a 1.5x wider student (W1-W3) against the shipped config (L1-L3),
three seeds each. python results/capacity/compare.py (from training/)."""
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "real_world_detail"))
from compare import against_train_dr2  # noqa: E402

if __name__ == "__main__":
    against_train_dr2(HERE, "W", "train-dr2 log bins, width 24/48",
                      also=((HERE.parent / "log_bins", "L", "train-dr2 log bins"),))
