"""Supervised depth losses on (possibly sparse) ground truth."""
from __future__ import annotations

import torch
import torch.nn.functional as F


BALANCE_EDGES = (5.0, 10.0, 20.0, 40.0, 80.0)  # m: the distance bands of the real-frame profile (eval/real.py)


def band_weights(gt: torch.Tensor, mask: torch.Tensor, balance: float, edges=BALANCE_EDGES) -> torch.Tensor:
    """Per-pixel weights [B, 1, H, W] that give each distance band of the batch's GT (cut at ``edges``) a total
    weight ∝ count^(1 - balance): 0 = every GT pixel alike (the plain mean), 1 = every populated band alike. Counted
    over the whole batch, so a band one image barely sees is not blown up; the weights' mean over GT pixels is 1."""
    band = torch.bucketize(gt, torch.tensor(edges, device=gt.device, dtype=gt.dtype))
    counts = torch.bincount(band[mask], minlength=len(edges) + 1).to(gt.dtype)
    per_band = torch.where(counts > 0, counts.clamp_min(1) ** -balance, torch.zeros_like(counts))
    w = per_band[band] * mask
    return w * (mask.sum() / w.sum().clamp_min(1e-12))


def silog_loss(pred: torch.Tensor, gt: torch.Tensor, lam: float = 0.85, min_depth: float = 0.5,
               max_depth: float = 100.0, balance: float = 0.0) -> torch.Tensor:
    """Scale-invariant log loss (Eigen et al.) over pixels with GT in (min_depth, max_depth), per image mean.

    pred, gt: [B, 1, H, W] metres (gt 0 = no measurement). ``balance`` > 0 weighs the pixels by their distance band
    (``band_weights``): LiDAR puts most points within 20 m, so the plain mean is mostly about the near range.
    Returns a scalar; 0 if no pixel has GT.
    """
    mask = (gt > min_depth) & (gt < max_depth)
    g = torch.log(pred.clamp_min(1e-3)) - torch.log(gt.clamp_min(1e-3))
    w = band_weights(gt, mask, balance) if balance else mask.to(g.dtype)
    g = torch.where(mask, g, torch.zeros_like(g))
    n = w.flatten(1).sum(1).clamp_min(1e-6)
    mean = (w * g).flatten(1).sum(1) / n
    mean_sq = (w * g * g).flatten(1).sum(1) / n
    per_image = torch.sqrt((mean_sq - lam * mean * mean).clamp_min(1e-8)) * 10.0
    valid = mask.flatten(1).any(1)
    return per_image[valid].mean() if valid.any() else pred.sum() * 0.0


def bin_centre_loss(centers: torch.Tensor, gt: torch.Tensor, min_depth: float = 0.5, max_depth: float = 100.0,
                    max_points: int = 2048) -> torch.Tensor:
    """Chamfer distance in log depth between each image's bin centres and its GT depths (AdaBins' bin loss).

    centers: [B, K] metres; gt: [B, 1, H, W] metres (0 = none). Both directions: every GT depth near some centre
    (centres cover the scene) and every centre near some GT depth (no wasted bins). Log space keeps near and far
    errors comparable. At most ``max_points`` GT pixels per image (strided, deterministic). Returns a scalar.
    """
    losses = []
    for b in range(centers.shape[0]):
        g = gt[b].flatten()
        g = g[(g > min_depth) & (g < max_depth)]
        if g.numel() == 0:
            continue
        if g.numel() > max_points:
            g = g[:: (g.numel() + max_points - 1) // max_points]
        d = (torch.log(centers[b])[:, None] - torch.log(g)[None, :]) ** 2  # [K, P]
        losses.append(d.min(0).values.mean() + d.min(1).values.mean())
    return torch.stack(losses).mean() if losses else centers.sum() * 0.0


def validity_loss(valid_logit: torch.Tensor, dense_gt: torch.Tensor, balance: float = 1.0) -> torch.Tensor:
    """Binary cross-entropy of the validity logit [B, 1, H, W] against dense GT [B, 1, H, W] (> 0: a surface,
    0: sky). Only images that carry dense GT count (sparse LiDAR cannot tell sky from a missing return).
    ``balance`` (beta in [0, 1]) weighs each class of an image by (0.5 / its share)^beta, renormalised to mean 1:
    1 gives both classes equal total weight per image, so a thin sky band is not ignored (it also moves the decision
    of an unsure pixel toward sky by log(surface share / sky share)); 0 is plain per-pixel BCE; in between the
    shift is beta times that. 0 when no image has dense GT."""
    if not 0.0 <= balance <= 1.0:
        raise ValueError(f"loss.validity_balance must be in [0, 1], got {balance}")
    has = dense_gt.flatten(1).gt(0).any(1)
    if not has.any():
        return valid_logit.sum() * 0.0
    logit, target = valid_logit[has], dense_gt[has].gt(0).float()
    if balance == 0.0:
        return F.binary_cross_entropy_with_logits(logit, target)
    pos = target.flatten(1).mean(1).clamp(1e-3, 1 - 1e-3)[:, None, None, None]
    w_pos, w_neg = (0.5 / pos) ** balance, (0.5 / (1 - pos)) ** balance
    norm = pos * w_pos + (1 - pos) * w_neg  # mean weight over the image; 1 at both ends
    weight = torch.where(target > 0, w_pos, w_neg) / norm
    return F.binary_cross_entropy_with_logits(logit, target, weight=weight)


def semantic_loss(logits: torch.Tensor, labels: torch.Tensor, ignore: int = 255) -> torch.Tensor:
    """Cross-entropy of per-pixel class logits [B, S, H, W] against labels [B, H, W] (int; ``ignore`` = no label:
    real data, worlds without material maps); 0 when no pixel of the batch is labelled."""
    if labels.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(f"semantic labels are {tuple(labels.shape)}, expected "
                         f"{(logits.shape[0], *logits.shape[2:])} (the logits {tuple(logits.shape)})")
    labelled = labels != ignore
    if not labelled.any():
        return logits.sum() * 0.0
    bad = labelled & ((labels < 0) | (labels >= logits.shape[1]))
    if bad.any():
        raise ValueError(f"semantic labels outside [0, {logits.shape[1]}) (model.semantic_classes): "
                         f"{sorted(set(labels[bad].tolist()))[:5]}")
    return F.cross_entropy(logits, labels.long(), ignore_index=ignore)


@torch.no_grad()
def bin_stats(centers: torch.Tensor, gt: torch.Tensor, min_depth: float = 0.5, max_depth: float = 100.0,
              distinct_gap: float = 0.01, near: float = 0.1) -> dict:
    """Diagnostics of the bin-centre head (logged to TensorBoard as bins/*): ``distinct`` = centres more than
    ``distinct_gap`` (log) from their lower neighbour, +1, mean over images; ``coverage`` = fraction of GT pixels
    within ``near`` (log, ~10 %) of some centre of their image; ``lowest``/``highest`` centre (mean)."""
    logc = torch.log(centers.float())
    distinct = 1 + (logc[:, 1:] - logc[:, :-1] > distinct_gap).sum(1).float()
    cov = []
    for b in range(centers.shape[0]):
        g = gt[b].flatten()
        g = g[(g > min_depth) & (g < max_depth)]
        if g.numel():
            g = g[:: max(1, g.numel() // 4096)]
            cov.append(((torch.log(g)[:, None] - logc[b][None]).abs().min(1).values <= near).float().mean())
    return {"distinct": distinct.mean(), "coverage": torch.stack(cov).mean() if cov else torch.tensor(float("nan")),
            "lowest": centers[:, 0].mean(), "highest": centers[:, -1].mean()}
