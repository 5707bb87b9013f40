"""Supervised depth losses on (possibly sparse) ground truth."""
from __future__ import annotations

import torch


def silog_loss(pred: torch.Tensor, gt: torch.Tensor, lam: float = 0.85, min_depth: float = 0.5,
               max_depth: float = 100.0) -> torch.Tensor:
    """Scale-invariant log loss (Eigen et al.) over pixels with GT in (min_depth, max_depth), per image mean.

    pred, gt: [B, 1, H, W] metres (gt 0 = no measurement). Returns a scalar; 0 if no pixel has GT.
    """
    mask = (gt > min_depth) & (gt < max_depth)
    g = torch.log(pred.clamp_min(1e-3)) - torch.log(gt.clamp_min(1e-3))
    g = torch.where(mask, g, torch.zeros_like(g))
    n = mask.flatten(1).sum(1).clamp_min(1)
    mean = g.flatten(1).sum(1) / n
    mean_sq = (g * g).flatten(1).sum(1) / n
    per_image = torch.sqrt((mean_sq - lam * mean * mean).clamp_min(1e-8)) * 10.0
    valid = mask.flatten(1).any(1)
    return per_image[valid].mean() if valid.any() else pred.sum() * 0.0
