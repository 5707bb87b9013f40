"""PLAN.md's tables: train-dr5 (half the vehicles of any paint, glossy) against train-dr2 and train-dr4 (all of them),
three seeds each, and the per-camera AbsRel of the images where a vehicle is close.
python results/vehicle_looks_half/compare.py (from training/)."""
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "real_world_detail"))
from compare import against_train_dr2  # noqa: E402

if __name__ == "__main__":
    against_train_dr2(HERE, "H", "train-dr5", also=((HERE.parent / "vehicle_looks", "V", "train-dr4"),))
