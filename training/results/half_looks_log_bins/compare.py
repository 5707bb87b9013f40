"""The two kept changes together: train-dr5 (half the vehicles of any paint) with log-spaced, floored bins (HL1-HL3)
against train-dr2 with linear bins (R2, R3, R5, the rule's reference) and each change alone (L1-L3, H1-H3).
python results/half_looks_log_bins/compare.py (from training/); the rule: results/log_bins/PLAN.md."""
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "real_world_detail"))
from compare import against_train_dr2  # noqa: E402

if __name__ == "__main__":
    against_train_dr2(HERE, "HL", "train-dr5 log bins",
                      also=((HERE.parent / "log_bins", "L", "train-dr2 log bins"),
                            (HERE.parent / "vehicle_looks_half", "H", "train-dr5")))
