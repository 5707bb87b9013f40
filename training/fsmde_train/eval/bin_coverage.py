"""Diagnostic: how well a run's bin centres cover the depths of its images, and how far METHOD.md's softmax CI-KD
target's expectation lies from the depth it encodes (RESULTS.md, "what the evidence says").

python -m fsmde_train.eval.bin_coverage --runs runs/ablation/sparse_only/0 runs/ablation/ci_kd/0 \
    --data-root ../data/weights/val --max-sets 8 --tau 0.05 0.5
prints, per run, the number of distinct centres, the fraction of dense-GT pixels more than 10 % (log depth) from
every centre of their image and, per --tau, the median |sum_k p_k c_k - d| / d of the softmax target built from
the exact depth on the run's own centres (0 for an expectation-preserving target such as the two-hot).
"""
from __future__ import annotations

import argparse
import numpy as np
import torch
from tqdm import tqdm

from ..data import SurroundDataset
from ..losses.distill import bin_probabilities
from .cli import load_run


def far_fraction(depth: torch.Tensor, centers: torch.Tensor, gap: float = 0.1) -> float:
    """Fraction of the depths [N] (metres) more than ``gap`` in log depth from every centre [K]."""
    d = (torch.log(depth)[:, None] - torch.log(centers)[None]).abs().min(1).values
    return float((d > gap).float().mean())


def distinct_centres(centers: torch.Tensor, rel: float = 0.02) -> int:
    """Centres [K] (increasing) that are more than ``rel`` (relative) above the previous distinct one."""
    n, last = 0, None
    for c in centers.tolist():
        if last is None or c > last * (1 + rel):
            n, last = n + 1, c
    return n


def softmax_expectation_error(depth: torch.Tensor, centers: torch.Tensor, tau: float) -> torch.Tensor:
    """|sum_k p_k c_k - d| / d per depth [N] for METHOD.md's softmax target p = softmax(-|log d - log c_k| / tau)."""
    p = bin_probabilities(depth[None, None, :, None], centers[None], tau, "log")[0, :, :, 0]  # [K, N]
    return ((p * centers[:, None]).sum(0) - depth).abs() / depth


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="fsmde-bin-coverage", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", nargs="+", required=True)
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--scenes", nargs="*")
    ap.add_argument("--version", default="v1.0-synth")
    ap.add_argument("--max-sets", type=int, default=0, help="evaluate the first N camera sets only (0 = all)")
    ap.add_argument("--tau", type=float, nargs="*", default=[], help="softmax temperatures to measure the target at")
    a = ap.parse_args(argv)
    for run in a.runs:
        net, cfg = load_run(run)
        d = cfg["data"]
        ds = SurroundDataset(a.data_root, a.version, a.scenes, tuple(d["input_hw"]), d["canonical_focal_px"],
                             sweeps=False, gt="dense", progress=False,
                             geometry_inputs=net.cfg.geometry_inputs)
        n = len(ds) if a.max_sets <= 0 else min(a.max_sets, len(ds))
        far, distinct, exp_err = [], [], {t: [] for t in a.tau}
        with torch.no_grad():
            for i in tqdm(range(n), desc=run, leave=False):
                b = ds[i]
                c = net(b["image"])["centers"]
                g = b["depth_dense"] / b["focal_scale"][:, None, None, None]
                for v in range(g.shape[0]):
                    x = g[v][(g[v] > 0.5) & (g[v] < 80)]
                    far.append(far_fraction(x, c[v]))
                    distinct.append(distinct_centres(c[v]))
                    for t in a.tau:
                        exp_err[t].append(softmax_expectation_error(x, c[v], t).median().item())
        line = (f"{run}: {np.mean(distinct):.1f} distinct centres, {np.mean(far):.3f} of dense-GT pixels are "
                f"> 10 % from every bin centre")
        line += "".join(f"; softmax target tau {t}: median expectation error {np.mean(e):.3f}"
                        for t, e in exp_err.items())
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
