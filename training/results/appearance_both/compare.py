"""PLAN.md's table: half the vehicles in any paint plus random convolutions (A1-A3) against the shipped config (L1-L3)
and each lever alone, three seeds each. python results/appearance_both/compare.py (from training/)."""
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "real_world_detail"))
from compare import against_train_dr2  # noqa: E402

if __name__ == "__main__":
    against_train_dr2(HERE, "A", "train-dr5 log bins, randconv 0.5, validity on rendered",
                      also=((HERE.parent / "log_bins", "L", "train-dr2 log bins"),
                            (HERE.parent / "half_looks_log_bins", "HL", "train-dr5 log bins"),
                            (HERE.parent / "randconv", "C", "train-dr2 log bins, randconv 0.5")))
