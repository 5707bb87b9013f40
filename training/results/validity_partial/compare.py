"""PLAN.md's table: the validity loss half class-balanced (beta 0.5, VB1-VB3) against the shipped config (L1-L3) and
both ends on the same config (AL1-AL3 balanced, VP1-VP3 plain), three seeds each.
python results/validity_partial/compare.py (from training/)."""
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "real_world_detail"))
from compare import against_train_dr2  # noqa: E402

if __name__ == "__main__":
    against_train_dr2(HERE, "VB", "AL config, validity balance 0.5",
                      also=((HERE.parent / "log_bins", "L", "train-dr2 log bins"),
                            (HERE.parent / "appearance_long", "AL", "AL config, balanced validity (1.0)"),
                            (HERE.parent / "validity_plain", "VP", "AL config, plain validity BCE (0.0)")))
