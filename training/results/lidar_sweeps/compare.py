"""PLAN.md's table: the shipped config with 5 LiDAR sweeps aggregated per camera set (M1-M3) against the shipped
config as it is (one sweep, log-spaced bins: L1-L3), three seeds each, beside train-dr2's linear-bin runs.
python results/lidar_sweeps/compare.py (from training/)."""
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "real_world_detail"))
from compare import against_train_dr2  # noqa: E402

if __name__ == "__main__":
    against_train_dr2(HERE, "M", "train-dr2 log bins, 5 sweeps",
                      also=((HERE.parent / "log_bins", "L", "train-dr2 log bins"),))
