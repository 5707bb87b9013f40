"""PLAN.md's tables: train-dr7 (cross streets, XS1-XS3) against train-dr5 with the same config (VB1-VB3, the shipped
config), three seeds each, plus the real far range: median pred/GT and AbsRel at 20-40 and 40-80 m per dataset.
python results/cross_streets/compare.py (from training/)."""
import sys
from pathlib import Path


HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "real_world_detail"))
from compare import DATASETS, against_train_dr2, by_distance  # noqa: E402

BANDS = ((3, "20-40 m"), (4, "40-80 m"))


def far_range(folder: Path, prefix: str):
    """Mean over seeds of the per-dataset median pred/GT and AbsRel in the far bands (None if a run is missing)."""
    bd = by_distance(folder, prefix)
    return None if bd is None else {k: (ratio, absrel) for k, (absrel, ratio) in bd.items()}


if __name__ == "__main__":
    against_train_dr2(HERE, "XS", "train-dr7 (cross streets)",
                      also=((HERE.parent / "validity_partial", "VB", "train-dr5 (shipped config)"),))
    print("\n| three-seed mean, median pred/GT / AbsRel | " + " | ".join(f"{d} {b}" for d in DATASETS for _, b in BANDS) + " |")
    print("|---|" + "---:|" * (len(DATASETS) * len(BANDS)))
    for folder, prefix, name in ((HERE.parent / "validity_partial", "VB", "train-dr5 (VB1-VB3)"),
                                 (HERE, "XS", "train-dr7 (XS1-XS3)")):
        fr = far_range(folder, prefix)
        if fr is not None:
            print(f"| {name} | " + " | ".join(f"×{fr[(d, i)][0]:.2f} / {fr[(d, i)][1]:.2f}" for d in DATASETS
                                              for i, _ in BANDS) + " |")
