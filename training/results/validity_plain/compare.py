"""PLAN.md's table: the validity loss without class balancing (VP1-VP3) against the shipped config (L1-L3) and the
balanced loss on the same config (AL1-AL3), three seeds each. python results/validity_plain/compare.py (from training/)."""
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "real_world_detail"))
from compare import against_train_dr2  # noqa: E402

if __name__ == "__main__":
    against_train_dr2(HERE, "VP", "AL config, plain validity BCE",
                      also=((HERE.parent / "log_bins", "L", "train-dr2 log bins"),
                            (HERE.parent / "appearance_long", "AL", "train-dr5 log bins, randconv 0.5, validity on "
                             "rendered, 4500 steps")))
