"""How much of each view the photometric terms can reconstruct on a bag's rig: before training on your own car.

    python -m fsmde_train.eval.rig_overlap ../data/bags/train-dr [BAG ...]

For each bag (or folder of bags), on its middle (t-1, t, t+1) triple and with every pixel put at a constant depth,
the fraction of the target pixels that land inside a source view: spatial (ring neighbours at t, through the
extrinsics: what gives metric scale) at 5, 10, 20 and 40 m, and spatio-temporal (neighbours at t±1) at 10 m.
A rig whose spatial column is 0 at every depth gets no metric scale from the spatial term; with odometry the
temporal term still has it, without odometry nothing does (RESULTS.md, pose_net_no_spatial).
"""
from __future__ import annotations

import argparse
import sys

import torch

DEPTHS = (5.0, 10.0, 20.0, 40.0)


def coverage(sample: dict, mean, std, depths=DEPTHS) -> dict:
    """{"spatial": {depth: fraction}, "spatio_temporal_10m": fraction} for one SurroundSequence sample."""
    from ..losses.photometric import surround_warps

    seq = sample["image"][None, :, :, :3]
    rgb = seq * torch.tensor(std).view(1, 1, 1, 3, 1, 1) + torch.tensor(mean).view(1, 1, 1, 3, 1, 1)
    B, _, N, _, H, W = rgb.shape
    K, T = sample["K"].view(1, N, 3, 3), sample["T_ref_cam"][None]

    def frac(d, key):
        w = surround_warps(rgb, torch.full((B, N, 1, H, W), d), K, T, spatio_temporal=True)
        valid = torch.stack([v for _, v in w[key]]).any(0)  # any source sees the pixel
        return float(valid.float().mean())

    return {"spatial": {d: frac(d, "spatial") for d in depths}, "spatio_temporal_10m": frac(10.0, "spatio_temporal")}


def main(argv=None) -> int:
    from ..data.bag import BagError, BagSurround, expand_bags
    from ..data.sequence import SurroundSequence

    ap = argparse.ArgumentParser(prog="fsmde-rig-overlap", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bags", nargs="+", help="rosbag2 folders, or folders of them")
    ap.add_argument("--input-hw", type=int, nargs=2, default=(128, 224))
    a = ap.parse_args(argv)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    print(f"{'bag':40s} " + " ".join(f"{'spatial ' + str(int(d)) + ' m':>13s}" for d in DEPTHS)
          + f" {'spatio-temp 10 m':>17s}")
    try:
        bags = expand_bags(a.bags)
    except (BagError, ValueError, OSError) as e:
        print(f"fsmde-rig-overlap: error: {e}", file=sys.stderr)
        return 2
    bad = 0
    with torch.no_grad():
        for b in bags:
            try:
                seq = SurroundSequence(BagSurround(b, input_hw=tuple(a.input_hw), mean=mean, std=std))
                c = coverage(seq[len(seq) // 2], mean, std)
            except (BagError, ValueError, OSError) as e:
                print(f"{str(b):40s} skipped: {e}")
                bad += 1
                continue
            print(f"{str(b)[-40:]:40s} " + " ".join(f"{100 * c['spatial'][d]:12.1f}%" for d in DEPTHS)
                  + f" {100 * c['spatio_temporal_10m']:16.1f}%")
    return 1 if bad == len(bags) else 0


if __name__ == "__main__":
    raise SystemExit(main())
