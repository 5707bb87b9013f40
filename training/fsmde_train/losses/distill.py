"""Depth distillation from a relative-depth teacher: per-image metric alignment, plain KD, cross-interaction KD.

Shapes (views flattened): teacher ``rel`` [B, 1, H, W] affine-invariant inverse depth; sparse GT [B, 1, H, W]
metres (0 = none, canonical focal length); student ``centers`` [B, K], ``logits`` [B, K, H/s, W/s].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def align_to_metric(rel: torch.Tensor, gt: torch.Tensor, min_depth: float = 0.5, max_depth: float = 100.0,
                    min_points: int = 20, iters: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit 1/gt ≈ s * rel + t per image on the sparse GT (robust: IRLS towards L1), return (depth, valid).

    depth [B, 1, H, W] metres in [min_depth, max_depth]; valid [B] images with >= ``min_points`` GT pixels and
    a positive fitted scale. The fitted inverse depth is invariant to any affine map a * rel + b (a > 0) of the
    teacher: the least-squares solution absorbs it and the IRLS weights depend only on residuals. ``rel`` is
    standardised per image first (conditioning); the solve runs in float64.
    """
    r = rel.detach().double().flatten(1)
    g = gt.detach().double().flatten(1)
    m = ((g > min_depth) & (g < max_depth)).double()
    n = m.sum(1)
    y = torch.where(m > 0, 1.0 / g.clamp_min(1e-6), torch.zeros_like(g))
    mu = (r * m).sum(1, keepdim=True) / n.clamp_min(1)[:, None]
    sd = (((r - mu) ** 2 * m).sum(1, keepdim=True) / n.clamp_min(1)[:, None]).sqrt().clamp_min(1e-12)
    x = (r - mu) / sd
    w = m.clone()
    for _ in range(iters):
        sxx, sx, sw = (w * x * x).sum(1), (w * x).sum(1), w.sum(1)
        sxy, sy = (w * x * y).sum(1), (w * y).sum(1)
        det = (sxx * sw - sx * sx).clamp_min(1e-12)
        s = (sw * sxy - sx * sy) / det
        t = (sxx * sy - sx * sxy) / det
        res = (s[:, None] * x + t[:, None] - y).abs()
        scale = (res * m).sum(1, keepdim=True) / n.clamp_min(1)[:, None] + 1e-9
        w = m / torch.maximum(res, 0.1 * scale)  # IRLS for L1, floored so exact fits stay finite
    inv = (s[:, None] * x + t[:, None]).clamp_min(1.0 / max_depth)
    depth = (1.0 / inv).clamp(min_depth, max_depth).to(rel.dtype).view_as(rel)
    valid = (n >= min_points) & (s > 0)
    return depth, valid


def plain_kd_loss(pred: torch.Tensor, teacher_depth: torch.Tensor, valid: torch.Tensor,
                  min_depth: float = 0.5, max_depth: float = 100.0) -> torch.Tensor:
    """Baseline depth KD: SILog between the student's depth and the GT-aligned teacher depth (dense)."""
    from .supervised import silog_loss

    if not bool(valid.any()):
        return pred.sum() * 0.0
    return silog_loss(pred[valid], teacher_depth[valid], min_depth=min_depth, max_depth=max_depth + 1e-3)


def bin_probabilities(depth: torch.Tensor, centers: torch.Tensor, tau: float = 0.1, space: str = "log") -> torch.Tensor:
    """Soft assignment of depths [B, 1, h, w] to ordered centres [B, K]: softmax_k(-|f(d) - f(c_k)| / tau).

    ``space="log"`` (default, f = log) makes tau a relative width, the same near and far; ``"linear"`` is the
    XD-RCDepth form in metres. Returns [B, K, h, w].
    """
    if space == "log":
        d, c = torch.log(depth.clamp_min(1e-3)), torch.log(centers.clamp_min(1e-3))
    elif space == "linear":
        d, c = depth, centers
    else:
        raise ValueError(f"space must be 'log' or 'linear', got {space!r}")
    return torch.softmax(-(d - c[:, :, None, None]).abs() / tau, dim=1)


def two_hot(depth: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Expectation-preserving target: the mass of each depth split between its two neighbouring centres so that
    Σ_k p_k c_k = d exactly (clamped to the outer centres outside their range). depth [B, 1, h, w], centers [B, K]
    increasing -> [B, K, h, w]. Unlike the softmax target it never quantises the depth to the nearest centre.
    """
    B, K = centers.shape
    d = depth.flatten(1).contiguous()  # [B, N]
    c = centers.contiguous()
    hi = torch.searchsorted(c, d).clamp(0, K - 1)
    lo = (hi - 1).clamp(0, K - 1)
    c_lo, c_hi = torch.gather(c, 1, lo), torch.gather(c, 1, hi)
    w_hi = torch.where(hi > lo, ((d - c_lo) / (c_hi - c_lo).clamp_min(1e-6)).clamp(0, 1), torch.ones_like(d))
    p = torch.zeros(B, K, d.shape[1], dtype=depth.dtype, device=depth.device)
    p.scatter_add_(1, lo[:, None], (1 - w_hi)[:, None])
    p.scatter_add_(1, hi[:, None], w_hi[:, None])
    return p.view(B, K, *depth.shape[-2:])


def ci_kd_loss(logits: torch.Tensor, centers: torch.Tensor, teacher_depth: torch.Tensor, valid: torch.Tensor,
               tau: float = 0.1, space: str = "log", target: str = "softmax") -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-interaction KD: KL(p_T || p_S) of per-pixel bin probabilities over the *student's* centres.

    The teacher's aligned depth is taken to the logits' resolution (area-averaged in inverse depth); centres are
    detached, so this term trains the probability (classification) head and the shared features while the
    centres (the metric scale) come from GT through the supervised losses. ``target``: ``"softmax"`` (the paper, training/README.md:
    softmax(-|d_T - c_k| / tau)) or ``"two_hot"`` (expectation-preserving, see ``two_hot``; RESULTS.md says why).
    Returns (loss, target p_T).
    """
    h, w = logits.shape[-2:]
    inv = F.adaptive_avg_pool2d(1.0 / teacher_depth, (h, w))
    if target == "softmax":
        p_target = bin_probabilities(1.0 / inv, centers.detach(), tau, space)
    elif target == "two_hot":
        p_target = two_hot(1.0 / inv, centers.detach())
    else:
        raise ValueError(f"target must be 'softmax' or 'two_hot', got {target!r}")
    if not bool(valid.any()):
        return logits.sum() * 0.0, p_target
    logp_s = F.log_softmax(logits[valid].float(), dim=1)
    p_t = p_target[valid].float()
    kl = (p_t * (torch.log(p_t.clamp_min(1e-12)) - logp_s)).sum(1)  # [b, h, w]
    return kl.mean(), p_target
