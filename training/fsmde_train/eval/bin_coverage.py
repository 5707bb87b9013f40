"""Diagnostic: how well a run's bin centres cover the depths of its images (RESULTS.md, "what the evidence says").

python -m fsmde_train.eval.bin_coverage --runs runs/ablation/sparse_only runs/ablation/ci_vr_kd \
    --data-root ../data/weights/train --scenes scene-0006
prints, per run, the fraction of dense-GT pixels more than 10 % (log depth) from every centre of their image.
"""
from __future__ import annotations

import argparse
import numpy as np
import torch

from ..data import SurroundDataset
from .cli import load_run


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="fsmde-bin-coverage", description=__doc__)
    ap.add_argument("--runs", nargs="+", required=True)
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--scenes", nargs="*")
    ap.add_argument("--version", default="v1.0-synth")
    a = ap.parse_args(argv)
    for run in a.runs:
        net, cfg = load_run(run)
        d = cfg["data"]
        ds = SurroundDataset(a.data_root, a.version, a.scenes, tuple(d["input_hw"]), d["canonical_focal_px"],
                             sweeps=False, gt="dense", progress=False,
                             geometry_inputs=net.cfg.geometry_inputs)
        far = []
        with torch.no_grad():
            for i in range(len(ds)):
                b = ds[i]
                c = net(b["image"])["centers"]
                g = b["depth_dense"] / b["focal_scale"][:, None, None, None]
                for v in range(g.shape[0]):
                    x = g[v][(g[v] > 0.5) & (g[v] < 80)]
                    gap = (torch.log(x)[:, None] - torch.log(c[v])[None]).abs().min(1).values
                    far.append((gap > 0.1).float().mean().item())
        print(f"{run}: {np.mean(far):.3f} of dense-GT pixels are > 10 % from every bin centre")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
