"""PLAN.md's table: random convolutions with the validity head trained on the rendered sets only (V1-V3) against the shipped config (L1-L3),
three seeds each. python results/randconv_rendered/compare.py (from training/)."""
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "real_world_detail"))
from compare import against_train_dr2  # noqa: E402

if __name__ == "__main__":
    against_train_dr2(HERE, "V", "train-dr2 log bins, randconv 0.5, validity on rendered",
                      also=((HERE.parent / "log_bins", "L", "train-dr2 log bins"),
                            (HERE.parent / "randconv", "C", "train-dr2 log bins, randconv 0.5")))
