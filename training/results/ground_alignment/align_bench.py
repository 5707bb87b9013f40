"""Per-view ground alignment, tried after the fact (issue 11 probe; synthetic val world only, nothing trained, no
real frame aligned). On the road a model's log depth should follow log g, g the flat-ground depth the camera-aware
channel carries: log p = a + b log g. The prototype estimates b from vertical derivatives (on the road
d log p / dv = b d log g / dv, on an upright surface ~0; the mode of their ratio by IRLS median then mean shift),
a as the median of log p - b log g over the same pixels, and maps every pixel p -> exp(-a/b) p^(1/b). Bench: the
shipped model on the val world with an artificial power-law squeeze around 8 m (exponent s: 0.6 reproduces the real
frames' band ratios), aligned or not. From training/: python results/ground_alignment/align_bench.py"""
import numpy as np
import torch

from fsmde_train.data import SurroundDataset
from fsmde_train.eval.cli import model_predictor
from fsmde_train.geometry import GROUND_SCALE


def align(p, c, g_min=3.0, g_max=30.0, step=6, gate=(0.25, 2.0), iters=8, eps=0.02, beta=(0.8, 2.0),
          min_frac=0.015, min_peak=0.3, max_depth=100.0):
    """p, c [N, 1, H, W]: depth (canonical m, NaN = none) and the ground_inverse_depth channel -> aligned, 1/b."""
    g = GROUND_SCALE / c.clamp(min=1e-6)
    lp, lg = torch.log(p.clamp(min=1e-3)), torch.log(g.clamp(1e-3, 1e3))
    dp, dg = lp[:, :, step:] - lp[:, :, :-step], lg[:, :, step:] - lg[:, :, :-step]
    ok = (torch.isfinite(p[:, :, step:]) & torch.isfinite(p[:, :, :-step]) & (g[:, :, :-step] < g_max)
          & (g[:, :, step:] > g_min) & (c[:, :, :-step] > 0) & (dg < -0.05))
    R = torch.where(ok, dp / dg.clamp(max=-0.05), torch.zeros_like(dp))
    sel = ok & (R > gate[0]) & (R < gate[1])
    w0, dims = sel.float() * dg.abs(), (1, 2, 3)

    def wmean(w, v):
        return (w * v).sum(dims, keepdim=True) / w.sum(dims, keepdim=True).clamp(min=1e-9)

    b = torch.ones(p.shape[0], 1, 1, 1)
    for _ in range(iters):
        b = wmean(w0 / ((R - b).abs() + eps), R)
    for _ in range(iters):  # from the median to the road's mode: surface boundaries spread R below it
        b = wmean(w0 * torch.exp(-0.5 * ((R - b) / 0.08) ** 2), R)
    r0 = torch.where(sel, lp[:, :, :-step] - b * lg[:, :, :-step], torch.zeros_like(dp))
    a = wmean(w0, r0)
    for _ in range(iters):
        a = wmean(w0 / ((r0 - a).abs() + eps), r0)
    peak = wmean(w0, ((R - b).abs() < 0.15).float())
    good = ((sel.float().sum(dims, keepdim=True) >= min_frac * p.shape[-1] * p.shape[-2]) & (peak >= min_peak)
            & (1 / b > beta[0]) & (1 / b < beta[1]))
    out = torch.exp(-a / b + lp / b).clamp(0.5, max_depth)
    return torch.where(good & torch.isfinite(p), out, p), torch.where(good, 1 / b, torch.ones_like(b)).flatten()


net, man = model_predictor("../models/fsmde_student", "onnxruntime")
hw, f = (man["input"]["height"], man["input"]["width"]), man["canonical_focal_px"]
geom = tuple(man["input"]["geometry"]["channels"])
k = 3 + geom.index("ground_inverse_depth")
ds = SurroundDataset("../data/weights/val", "v1.0-synth", None, hw, f, sweeps=False, gt="dense", progress=False,
                     geometry_inputs=geom)
bands = [0.5, 5, 10, 20, 40, 80]
sets = [ds[i] for i in range(len(ds))]
raw = [net(b["image"]) for b in sets]
road = {lo: [] for lo in bands[:-1]}
for b, p in zip(sets, raw):  # the val world's own road, as road_ratio.py splits the real frames
    gt = b["depth_dense"][:, 0].numpy() / b["focal_scale"].numpy()[:, None, None]
    g = GROUND_SCALE / np.maximum(b["image"][:, k].numpy(), 1e-6)
    sel = (gt > 0) & np.isfinite(p[:, 0].numpy()) & (np.abs(g / np.maximum(gt, 1e-6) - 1) < 0.05)
    for lo, hi in zip(bands[:-1], bands[1:]):
        s = sel & (gt >= lo) & (gt < hi)
        road[lo].extend(np.log(p[:, 0].numpy()[s] / gt[s]).tolist())
print("val world road, median pred/GT: " + "  ".join(f"{lo:g} m x{np.exp(np.median(v)):.2f} ({len(v)})"
                                                     for lo, v in road.items() if len(v) >= 20))
print("| squeeze s | aligned | AbsRel (0.5–80 m) | 1/b median [p10, p90] | views aligned |")
print("|---:|---|---:|---|---:|")
for s in (1.0, 0.8, 0.6):
    for aligned in (False, True):
        err, n, betas = 0.0, 0, []
        for b, p in zip(sets, raw):
            q = 8 * (p / 8) ** s
            if aligned:
                q, bb = align(q, b["image"][:, k:k + 1])
                betas += bb.tolist()
            gt = b["depth_dense"][:, 0].numpy()
            q = q[:, 0].numpy() * b["focal_scale"].numpy()[:, None, None]
            m = (gt > 0.5) & (gt < 80) & np.isfinite(q)
            err, n = err + float(np.sum(np.abs(q[m] - gt[m]) / gt[m])), n + int(m.sum())
        bt = np.array(betas)
        print(f"| {s} | {'yes' if aligned else 'no'} | {err / n:.3f} | " + (
            f"{np.median(bt):.2f} [{np.percentile(bt, 10):.2f}, {np.percentile(bt, 90):.2f}] | {np.mean(bt != 1):.0%} |"
            if aligned else "– | – |"))
