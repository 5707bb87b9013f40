"""PLAN.md's table: the shipped config on train-dr6 (SUVs, pick-ups and vans among the cars: T1-T3) against the
shipped config on train-dr2 (L1-L3), three seeds each. python results/vehicle_types/compare.py (from training/)."""
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "real_world_detail"))
from compare import against_train_dr2  # noqa: E402

if __name__ == "__main__":
    against_train_dr2(HERE, "T", "train-dr6 log bins",
                      also=((HERE.parent / "log_bins", "L", "train-dr2 log bins"),))
