"""PLAN.md's table: the mean of the weights over the second half of training (S1-S3) against the shipped config (L1-L3),
three seeds each. python results/weight_average/compare.py (from training/)."""
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "real_world_detail"))
from compare import against_train_dr2  # noqa: E402

if __name__ == "__main__":
    against_train_dr2(HERE, "S", "train-dr2 log bins, weights averaged from step 1500",
                      also=((HERE.parent / "log_bins", "L", "train-dr2 log bins"),))
