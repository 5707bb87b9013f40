"""PLAN.md's tables: train-dr8 with the semantic head (SH1-SH3) against train-dr5 with the same config otherwise
(VB1-VB3, the shipped config), three seeds each, plus the real frames by LiDAR distance (AbsRel / median pred/GT).
python results/semantic_head/compare.py (from training/)."""
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "real_world_detail"))
from compare import DATASETS, against_train_dr2  # noqa: E402

BANDS = ("0.5-5 m", "5-10 m", "10-20 m", "20-40 m", "40-80 m")


def by_distance(folder: Path, prefix: str):
    """Mean over seeds of AbsRel and median pred/GT per dataset and band (None if a run is missing)."""
    rows = []
    for s in range(1, 4):
        f = folder / f"{prefix}{s}" / "real" / "metrics.json"
        if not f.exists():
            return None
        rows.append(json.loads(f.read_text())["by_distance"])
    return {(ds, i): (np.mean([r[ds]["abs_rel"][i] for r in rows]), np.mean([r[ds]["median_ratio"][i] for r in rows]))
            for ds in DATASETS for i in range(len(BANDS))}


if __name__ == "__main__":
    ref = (HERE.parent / "validity_partial", "VB", "train-dr5 (VB1-VB3, shipped config)")
    against_train_dr2(HERE, "SH", "train-dr8 + semantic head", also=(ref,))
    print("\n| three-seed mean, AbsRel / median pred/GT | " + " | ".join(BANDS) + " |")
    print("|---|" + "---:|" * len(BANDS))
    for folder, prefix, name in (ref, (HERE, "SH", "semantic head (SH1-SH3)")):
        bd = by_distance(folder, prefix)
        if bd is None:
            continue
        for d in DATASETS:
            print(f"| {d} {prefix} | " + " | ".join(f"{bd[(d, i)][0]:.2f} / ×{bd[(d, i)][1]:.2f}"
                                                   for i in range(len(BANDS))) + " |")
