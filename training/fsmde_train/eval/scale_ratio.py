"""Median pred/GT of a run on a world with dense GT: is the metric scale right? (RESULTS.md, self-supervised rows)

python -m fsmde_train.eval.scale_ratio --run runs/selfsup/spatial --data-root ../data/weights/val
prints the median over images of each image's median(pred / GT) at 0.5-80 m (key frames, all cameras).
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import torch


def scale_ratios(net, ds) -> list[float]:
    out = []
    with torch.no_grad():
        for i in range(len(ds)):
            b = ds[i]
            pred = net(b["image"])["depth"] * b["focal_scale"][:, None, None, None]
            gt = b["depth_dense"]
            for v in range(gt.shape[0]):
                m = (gt[v] > 0.5) & (gt[v] < 80)
                if bool(m.any()):
                    out.append(float(torch.median(pred[v][m] / gt[v][m])))
    return out


def main(argv=None) -> int:
    from ..data import SurroundDataset
    from .cli import load_run

    ap = argparse.ArgumentParser(prog="fsmde-scale-ratio", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", nargs="+", required=True)
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--version", default="v1.0-synth")
    a = ap.parse_args(argv)
    try:
        for run in a.run:
            net, cfg = load_run(run)
            d = cfg["data"]
            ds = SurroundDataset(a.data_root, a.version, None, tuple(d["input_hw"]), d["canonical_focal_px"],
                                 sweeps=False, gt="dense", progress=False, geometry_inputs=net.cfg.geometry_inputs)
            r = scale_ratios(net, ds)
            print(f"{run}: median pred/GT {np.median(r):.3f} (mean {np.mean(r):.3f}) over {len(r)} images")
    except (ValueError, OSError) as e:
        print(f"fsmde-scale-ratio: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
