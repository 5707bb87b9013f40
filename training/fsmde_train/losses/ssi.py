"""Scale-and-shift-invariant loss in inverse depth (MiDaS / Depth Anything): what a relative-depth teacher learns.

pred [B, 1, H, W] the network's relative inverse depth; gt [B, 1, H, W] metric depth (0 = sky or no surface,
whose inverse depth is 0, DA-V2's sky convention). Each map is normalised per image by its median and its mean
absolute deviation over the valid pixels, so any a * x + b (a > 0) of the prediction scores the same; the loss is
the mean absolute difference of the normalised maps plus a multi-scale gradient-matching term (sharp edges).
"""
from __future__ import annotations

import torch


def _normalise(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per image: (x - median) / mean|x - median| over ``mask``; [B, 1, H, W] -> same shape."""
    out = torch.zeros_like(x)
    for b in range(x.shape[0]):
        v = x[b][mask[b]]
        if v.numel() < 2:
            continue
        t = v.median()
        s = (v - t).abs().mean().clamp_min(1e-6)
        out[b] = (x[b] - t) / s
    return out


def _gradient_loss(diff: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    gx = (diff[..., 1:] - diff[..., :-1]).abs() * (mask[..., 1:] & mask[..., :-1])
    gy = (diff[..., 1:, :] - diff[..., :-1, :]).abs() * (mask[..., 1:, :] & mask[..., :-1, :])
    return (gx.sum() + gy.sum()) / mask.sum().clamp_min(1)


def _ssi(pred_inv: torch.Tensor, target_inv: torch.Tensor, grad_weight: float, scales: int) -> torch.Tensor:
    mask = torch.ones_like(target_inv, dtype=torch.bool)
    diff = _normalise(pred_inv, mask) - _normalise(target_inv, mask)
    loss = diff.abs().mean()
    if grad_weight:
        for k in range(scales):
            step = 2 ** k
            loss = loss + grad_weight / scales * _gradient_loss(diff[..., ::step, ::step], mask[..., ::step, ::step])
    return loss


def ssi_loss(pred: torch.Tensor, gt: torch.Tensor, grad_weight: float = 0.5, scales: int = 4,
             max_depth: float = 1000.0) -> torch.Tensor:
    """Scalar loss; ``gt`` pixels beyond ``max_depth`` count as inverse depth 0 like the sky."""
    inv_gt = torch.where(gt > 0, 1.0 / gt.clamp_min(1e-3), torch.zeros_like(gt))
    inv_gt = torch.where(gt > max_depth, torch.zeros_like(gt), inv_gt)
    return _ssi(pred, inv_gt, grad_weight, scales)


def teacher_ssi_loss(student_depth: torch.Tensor, teacher_rel: torch.Tensor, grad_weight: float = 0.5,
                     scales: int = 4) -> torch.Tensor:
    """The student's inverse depth against the teacher's relative inverse depth, both normalised per image
    (issue 14's teacher guidance for self-supervised runs). Inverse depth weighs near pixels most, so this is
    the teacher's near structure (the textureless surfaces a photometric warp cannot place); the normalisation
    removes its scale and shift, so the metric scale stays the photometric terms' (from the rig).
    student_depth [B, 1, H, W] metres; teacher_rel [B, 1, H, W] (DA-V2 convention: larger = nearer)."""
    return _ssi(1.0 / student_depth.clamp_min(1e-3), teacher_rel.detach().float(), grad_weight, scales)
