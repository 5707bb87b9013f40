"""Shared by the road-fit probe's scripts (results/road_fit/PLAN.md): the shipped student from its training run, the
road head on its frozen decoder features, and the per-set fit of log p = a + b log g on the road."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from fsmde_train.eval.cli import load_run
from fsmde_train.geometry import GROUND_SCALE

RUN = "runs/shipped"  # make weights' run: its last checkpoint is models/fsmde_student


class RoadHead(nn.Module):
    """[decoder features (stride s), input avg-pooled to stride s] -> road logit [N, 1, H, W]."""

    def __init__(self, dec_ch: int, in_ch: int, stride: int, width: int = 16):
        super().__init__()
        self.stride = stride
        self.body = nn.Sequential(nn.Conv2d(dec_ch + in_ch, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU(inplace=True), nn.Conv2d(width, 1, 1))

    def forward(self, features, image):
        x = torch.cat([features, F.avg_pool2d(image, self.stride)], 1)
        return F.interpolate(self.body(x), size=image.shape[-2:], mode="bilinear", align_corners=False)


def load_student():
    net, cfg = load_run(RUN)
    for p in net.parameters():
        p.requires_grad_(False)
    return net, cfg


def make_head(net) -> RoadHead:
    c = net.cfg
    return RoadHead(c.decoder_width, c.in_channels, c.output_stride)


def fit_set(p, c, road, g_range=(3.0, 40.0), n_bins=8, scale=0.1, iters=10, min_pixels=300, min_bins=4,
            min_bin_pixels=20, b_range=(0.4, 1.25)):
    """One camera set. p [N, H, W] depth (canonical m, NaN = none), c [N, H, W] ground_inverse_depth channel,
    road [N, H, W] bool. Returns (a, b, info) with b = None where a gate fails."""
    g = GROUND_SCALE / np.maximum(c, 1e-6)
    m = road & (c > 0) & np.isfinite(p) & (p > 0) & (g >= g_range[0]) & (g <= g_range[1])
    info = {"pixels": int(m.sum())}
    if m.sum() < min_pixels:
        return 0.0, None, {**info, "why": "road pixels"}
    lg, lp = np.log(g[m]), np.log(p[m])
    edges = np.linspace(math.log(g_range[0]), math.log(g_range[1]), n_bins + 1)
    idx = np.clip(np.digitize(lg, edges) - 1, 0, n_bins - 1)
    counts = np.bincount(idx, minlength=n_bins).astype(np.float64)
    info["bins"] = int((counts >= min_bin_pixels).sum())  # the road must span distances for a slope
    if info["bins"] < min_bins:
        return 0.0, None, {**info, "why": "bins"}
    w0 = 1.0 / counts[idx]  # each occupied log-g bin weighs the same
    A = np.stack([np.ones_like(lg), lg], 1)
    w = w0.copy()
    for _ in range(iters):
        sw = np.sqrt(w)
        (a, b), *_ = np.linalg.lstsq(A * sw[:, None], lp * sw, rcond=None)
        r = lp - a - b * lg
        w = w0 / (1 + (r / scale) ** 2)
    info.update(a=float(a), b=float(b))
    if not b_range[0] <= b <= b_range[1]:
        return float(a), None, {**info, "why": "slope"}
    return float(a), float(b), info


def apply_fit(p, a, b, min_depth=0.5, max_depth=100.0):
    if b is None:
        return p
    return np.clip(np.exp((np.log(np.maximum(p, 1e-6)) - a) / b), min_depth, max_depth).astype(np.float32)
