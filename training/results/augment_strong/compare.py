"""PLAN.md's table: the shipped config with photometric augmentation at strength 1.5 (A1-A3) against the shipped
config as it is (strength 1.0: L1-L3), three seeds each. python results/augment_strong/compare.py (from training/)."""
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "real_world_detail"))
from compare import against_train_dr2  # noqa: E402

if __name__ == "__main__":
    against_train_dr2(HERE, "A", "train-dr2 log bins, augment 1.5",
                      also=((HERE.parent / "log_bins", "L", "train-dr2 log bins"),))
