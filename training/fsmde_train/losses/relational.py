"""View-relational KD: the structure *between* adjacent cameras, taught by the teacher.

For each of the six adjacent pairs of the ring (i, i + 1 mod 6; ``fsmde_train.CAMERAS`` runs clockwise, so view
i's right border meets view i + 1's left border), the border strips of both views are pooled into a grid of
``P = rows * cols`` locations; the relation matrix R[a, b] is the cosine affinity between location a of view i
and location b of view i + 1, computed *within* one network's feature space, so teacher and student widths
never need to match. The student's relations are matched to the teacher's by a row-softmax KL (or MSE).

Features: the student's decoder features [B * N, C, h, w]; the teacher's own features when it has them
(DA-V2 patch tokens), else a soft encoding of its GT-aligned depth over fixed log-spaced bins (the stand-in
teacher), whose affinity says "these two locations are at similar depth".
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def ring_pairs(n_cam: int) -> list[tuple[int, int]]:
    return [(i, (i + 1) % n_cam) for i in range(n_cam)]


def border_locations(feats: torch.Tensor, side: str, frac: float = 0.2, grid=(8, 2)) -> torch.Tensor:
    """[V, C, h, w] -> [V, P, C] unit vectors of the left or right border strip pooled to ``grid`` cells."""
    w = feats.shape[-1]
    sw = max(grid[1], round(frac * w))
    strip = feats[..., w - sw:] if side == "right" else feats[..., :sw]
    cells = F.adaptive_avg_pool2d(strip.float(), grid)  # [V, C, rows, cols]
    return F.normalize(cells.flatten(2).transpose(1, 2), dim=-1, eps=1e-6)


def relation_matrices(feats: torch.Tensor, n_cam: int, frac: float = 0.2, grid=(8, 2)) -> torch.Tensor:
    """Cosine relations of all adjacent pairs: feats [B * N, C, h, w] -> [B, N_pairs, P, P]."""
    right = border_locations(feats, "right", frac, grid)
    left = border_locations(feats, "left", frac, grid)
    right = right.view(-1, n_cam, *right.shape[1:])
    left = left.view(-1, n_cam, *left.shape[1:])
    mats = [right[:, i] @ left[:, j].transpose(1, 2) for i, j in ring_pairs(n_cam)]
    return torch.stack(mats, dim=1)


def depth_encoding(depth: torch.Tensor, size, min_depth=0.5, max_depth=100.0, n: int = 16, tau: float = 0.15):
    """Soft one-hot of log depth over ``n`` fixed log-spaced bins at ``size``: [B, 1, H, W] -> [B, n, h, w]."""
    inv = F.adaptive_avg_pool2d(1.0 / depth, size)
    logd = torch.log(1.0 / inv)
    c = torch.linspace(math.log(min_depth), math.log(max_depth), n, device=depth.device, dtype=logd.dtype)
    return torch.softmax(-(logd - c[None, :, None, None]).abs() / tau, dim=1)


def vr_kd_loss(student_feats: torch.Tensor, teacher_feats: torch.Tensor, n_cam: int, frac: float = 0.2,
               grid=(8, 2), tau: float = 0.1, kind: str = "kl") -> torch.Tensor:
    """Match the student's adjacent-view relation matrices to the teacher's; 0 when they are identical.

    student_feats [B * N, C_s, h, w], teacher_feats [B * N, C_t, h', w'] (any widths/resolutions).
    ``kind="kl"``: mean over rows of KL(softmax(R_T / tau) || softmax(R_S / tau)); ``"mse"``: mean squared error.
    """
    rs = relation_matrices(student_feats, n_cam, frac, grid)
    rt = relation_matrices(teacher_feats.detach(), n_cam, frac, grid)
    if kind == "mse":
        return F.mse_loss(rs, rt)
    if kind != "kl":
        raise ValueError(f"kind must be 'kl' or 'mse', got {kind!r}")
    pt = torch.softmax(rt / tau, dim=-1)
    return (pt * (torch.log_softmax(rt / tau, dim=-1) - torch.log_softmax(rs / tau, dim=-1))).sum(-1).mean()
