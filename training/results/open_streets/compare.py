"""PLAN.md's tables: train-dr3 (open streets) against train-dr2, three seeds each, and the per-camera AbsRel
of the images where a vehicle is close. python results/open_streets/compare.py (from training/)."""
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "real_world_detail"))
from compare import against_train_dr2  # noqa: E402

if __name__ == "__main__":
    against_train_dr2(HERE, "O", "train-dr3")
