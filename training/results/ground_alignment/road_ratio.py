"""Is the road itself read at scale? (issue 11 probe, evaluation only.) Median pred/GT of a model on the real frames'
LiDAR points, split into road points (GT within 5 % of the flat-ground depth: the ray meets the road plane where the
LiDAR does) and the rest, by GT distance. ``--gray`` feeds mid-grey RGB (only the camera-aware channels carry
information), which asks whether the network falls back on its ground channel. From training/:
python results/ground_alignment/road_ratio.py MODEL [MODEL...] [--gray] [--blur SIGMA] [--real ../../shared/real]
(several models: each one's medians, then their mean per cell, as the three-seed tables)"""
import argparse

import numpy as np
import torch
import torch.nn.functional as F

from fsmde_train.data.real import load_real
from fsmde_train.data.surround import scale_K
from fsmde_train.eval.cli import model_predictor
from fsmde_train.eval.real import evaluate_real, ground_prior

ap = argparse.ArgumentParser()
ap.add_argument("model", nargs="+")
ap.add_argument("--real", default="../../shared/real")
ap.add_argument("--gray", action="store_true")
ap.add_argument("--grey-above-horizon", action="store_true", help="mid-grey RGB where the ray does not meet the road "
                "(ground channel <= 0): is the road placed by what stands above it?")
ap.add_argument("--blur", type=float, default=0.0, help="Gaussian sigma (network pixels) on the RGB: does the real "
                "frames' fine detail read as near?")
a = ap.parse_args()
views = [v for vs in load_real(a.real).values() for v in vs]
bands = [0.5, 5, 10, 20, 40, 80]


def gaussian_blur(x, s: float):
    r = int(3 * s) + 1
    t = torch.arange(-r, r + 1).float()
    k = torch.exp(-0.5 * (t / s) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def ratios(model: str) -> dict:
    """(dataset, road|other, band start) -> (median pred/GT, points)."""
    net, man = model_predictor(model, "torch")

    def predict(x):
        if a.gray:
            x = x.clone()
            x[:, :3] = 0.0  # normalised mid-grey
        if a.grey_above_horizon:
            k = 3 + man["input"]["geometry"]["channels"].index("ground_inverse_depth")
            x = x.clone()
            x[:, :3] = torch.where(x[:, k:k + 1] <= 0, torch.zeros_like(x[:, :3]), x[:, :3])
        if a.blur:
            mean = torch.tensor(man["input"]["mean"]).view(1, 3, 1, 1)
            std = torch.tensor(man["input"]["std"]).view(1, 3, 1, 1)
            x = x.clone()
            x[:, :3] = (gaussian_blur(x[:, :3] * std + mean, a.blur) - mean) / std
        return net(x)

    res = evaluate_real(predict, man, views, progress=False)
    hw = (man["input"]["height"], man["input"]["width"])
    logs = {}
    for v, arr in zip(views, res["arrays"]):
        g = ground_prior(scale_K(v.K, v.size, (hw[1], hw[0])), v.T_vehicle_cam, hw, np.nan, 200.0)
        gt, p = arr["gt"], arr["pred"]
        m = (gt > 0) & np.isfinite(p)
        road = m & np.isfinite(g) & (np.abs(g / np.maximum(gt, 1e-6) - 1) < 0.05)
        for kind, sel in (("road", road), ("other", m & ~road)):
            for lo, hi in zip(bands[:-1], bands[1:]):
                s = sel & (gt >= lo) & (gt < hi)
                logs.setdefault((v.dataset, kind, lo), []).extend(np.log(p[s] / gt[s]).tolist())
    return {k: (float(np.exp(np.median(x))), len(x)) for k, x in logs.items() if len(x) >= 20}


def show(cells: dict, title: str) -> None:
    print(f"\n{title}\n\n| data | points | " + " | ".join(f"{lo:g}–{hi:g} m" for lo, hi in zip(bands[:-1], bands[1:]))
          + " |\n|---|---|" + "---:|" * (len(bands) - 1))
    for ds in dict.fromkeys(v.dataset for v in views):
        for kind in ("road", "other"):
            row = [(f"×{cells[(ds, kind, lo)][0]:.2f} ({cells[(ds, kind, lo)][1]})" if (ds, kind, lo) in cells else "–")
                   for lo in bands[:-1]]
            print(f"| {ds} | {kind} | " + " | ".join(row) + " |")


per_model = [ratios(m) for m in a.model]
for m, cells in zip(a.model, per_model):
    show(cells, f"{m}: median pred/GT (points)")
if len(per_model) > 1:
    keys = set.intersection(*(set(c) for c in per_model))
    show({k: (float(np.mean([c[k][0] for c in per_model])), per_model[0][k][1]) for k in keys},
         f"mean of the {len(per_model)} models' medians")
