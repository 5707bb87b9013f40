"""How much of each training world's key-frame dense depth lies 20-40 m and beyond 40 m, per camera: what the
cross streets change in what the network is shown (no real data read).
python results/cross_streets/far_share.py ../data/weights/train-dr5 ../data/weights/train-dr7 (from training/)"""
import sys
from pathlib import Path

import numpy as np

CAMERAS = ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_FRONT_LEFT")


def shares(root: Path) -> dict:
    out = {}
    for cam in CAMERAS:
        n = mid = far = 0
        for f in sorted((root / "depth" / "samples" / cam).glob("*.npz")):
            with np.load(f) as z:
                d = z[z.files[0]]
            valid = d > 0  # 0 is sky
            n += valid.sum()
            mid += ((d > 20) & (d <= 40)).sum()
            far += (d > 40).sum()
        out[cam] = (mid / max(n, 1), far / max(n, 1))
    return out


if __name__ == "__main__":
    roots = [Path(a) for a in sys.argv[1:]]
    print("| world | " + " | ".join(CAMERAS) + " |")
    print("|---|" + "---:|" * len(CAMERAS))
    for r in roots:
        s = shares(r)
        print(f"| {r.name} (20-40 m / > 40 m) | " + " | ".join(f"{100 * s[c][0]:.1f} / {100 * s[c][1]:.1f} %"
                                                            for c in CAMERAS) + " |")
