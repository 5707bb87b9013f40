"""PLAN.md's table: five LiDAR sweeps with the moving vehicles carried by their boxes (F1-F3) against the shipped
config (one sweep: L1-L3) and five sweeps under the static-world assumption (M1-M3), three seeds each.
python results/lidar_follow/compare.py (from training/)."""
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "real_world_detail"))
from compare import against_train_dr2  # noqa: E402

if __name__ == "__main__":
    against_train_dr2(HERE, "F", "train-dr2 log bins, 5 sweeps, follow",
                      also=((HERE.parent / "log_bins", "L", "train-dr2 log bins"),
                            (HERE.parent / "lidar_sweeps", "M", "train-dr2 log bins, 5 sweeps, static")))
