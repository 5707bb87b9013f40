"""View-relational KD: the structure *between* adjacent cameras, taught by the teacher.

Two ways to choose the locations that are related (``LossConfig.vr_overlap``):

- ``"geometric"`` (default): the cells that really overlap. Each cell of view i (at the feature grid) is
  lifted with a depth map (the teacher's GT-aligned depth in training), moved into view j = i + 1 through
  K and the set's camera poses (``T_ref_cam``: extrinsics and the ego motion between exposures), and kept
  where it lands inside view j in front of it and is not occluded there (j's own depth agrees within 10 %).
  Up to ``P`` such cells per pair are spread evenly over the overlap; location a of view i and its
  correspondent a' of view j are one physical point, so R[a, b] = cos(f_i(a), f_j(b')) relates the two views
  at points they both see (``overlap_correspondences``; a test checks they agree within a pixel or two on the
  synthetic world's exact depth). Pairs with fewer than ``min_points`` overlapping cells are left out.
- ``"strip"`` (the first version, kept as a baseline): fixed border strips, blind to the rig:

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


def overlap_correspondences(depth: torch.Tensor, K: torch.Tensor, T_ref_cam: torch.Tensor, n_cam: int,
                            grid_hw, max_points: int = 32, occlusion_tol: float = 0.1, max_depth: float = 80.0,
                            view_ok: torch.Tensor | None = None):
    """Corresponding cells of adjacent views.

    depth [B * N, 1, H, W] metric z-depth (at the cameras' real focal lengths); K [B, N, 3, 3] at H x W;
    T_ref_cam [B, N, 4, 4] camera -> the set's common frame; ``grid_hw`` the cell grid (h, w) sampled in view i.
    Returns (src, dst, valid): src/dst [B, N_pairs, P, 2] pixel coordinates (x, y) at H x W of a cell of view i
    and where it lands in view j; valid [B, N_pairs, P]. ``view_ok`` [B * N] drops views whose depth is unusable.
    """
    BN, _, H, W = depth.shape
    B = BN // n_cam
    h, w = grid_hw
    dev = depth.device
    d = depth.view(B, n_cam, H, W).double()
    cell_d = 1.0 / F.adaptive_avg_pool2d(1.0 / d.clamp_min(1e-3), (h, w))  # [B, N, h, w], inverse-depth mean
    ys, xs = torch.meshgrid((torch.arange(h, device=dev, dtype=torch.float64) + 0.5) * H / h - 0.5,
                            (torch.arange(w, device=dev, dtype=torch.float64) + 0.5) * W / w - 0.5, indexing="ij")
    pix = torch.stack([xs.flatten(), ys.flatten(), torch.ones_like(xs.flatten())], 0)  # [3, h*w]
    Kd, Td = K.double(), T_ref_cam.double()
    ok_view = torch.ones(B, n_cam, dtype=torch.bool, device=dev) if view_ok is None else view_ok.view(B, n_cam)
    srcs, dsts, valids = [], [], []
    for i, j in ring_pairs(n_cam):
        z = cell_d[:, i].flatten(1)  # [B, h*w]
        rays = torch.linalg.inv(Kd[:, i]) @ pix  # [B, 3, h*w]
        X = rays * z[:, None]
        T_ji = torch.linalg.inv(Td[:, j]) @ Td[:, i]
        Xj = T_ji[:, :3, :3] @ X + T_ji[:, :3, 3:]
        zj = Xj[:, 2]
        uvj = (Kd[:, j] @ Xj)[:, :2] / zj.clamp_min(1e-6)[:, None]
        inside = (zj > 0.5) & (uvj[:, 0] >= 0) & (uvj[:, 0] <= W - 1) & (uvj[:, 1] >= 0) & (uvj[:, 1] <= H - 1)
        inside &= (z > 0.5) & (z < max_depth)
        # occlusion: view j's own depth at the landing pixel must be the same surface
        gx = (uvj[:, 0] + 0.5) / W * 2 - 1
        gy = (uvj[:, 1] + 0.5) / H * 2 - 1
        grid = torch.stack([gx, gy], -1)[:, None].to(d.dtype)  # [B, 1, h*w, 2]
        dj = F.grid_sample(d[:, j:j + 1], grid, mode="nearest", align_corners=False)[:, 0, 0]
        inside &= ((dj - zj).abs() <= occlusion_tol * zj) & ok_view[:, i:i + 1] & ok_view[:, j:j + 1]
        src = torch.zeros(B, max_points, 2, dtype=torch.float64, device=dev)
        dst = torch.zeros_like(src)
        val = torch.zeros(B, max_points, dtype=torch.bool, device=dev)
        for b in range(B):
            idx = inside[b].nonzero()[:, 0]
            if idx.numel() == 0:
                continue
            pick = idx[torch.linspace(0, idx.numel() - 1, min(max_points, idx.numel()), device=dev).round().long()]
            pick = pick.unique()
            k = pick.numel()
            src[b, :k] = pix[:2, pick].T
            dst[b, :k] = uvj[b, :, pick].T
            val[b, :k] = True
        srcs.append(src), dsts.append(dst), valids.append(val)
    return torch.stack(srcs, 1), torch.stack(dsts, 1), torch.stack(valids, 1)


def _sample(feats: torch.Tensor, xy: torch.Tensor, hw) -> torch.Tensor:
    """feats [V, C, h, w] at pixel coordinates xy [V, P, 2] of an H x W image -> unit vectors [V, P, C]."""
    H, W = hw
    g = torch.stack([(xy[..., 0] + 0.5) / W * 2 - 1, (xy[..., 1] + 0.5) / H * 2 - 1], -1)[:, None].to(feats.dtype)
    v = F.grid_sample(feats.float(), g.float(), mode="bilinear", align_corners=False)[:, :, 0]  # [V, C, P]
    return F.normalize(v.transpose(1, 2), dim=-1, eps=1e-6)


def overlap_relations(feats: torch.Tensor, src, dst, n_cam: int, image_hw) -> torch.Tensor:
    """R[b, pair, a, c] = cos(f_i(src_a), f_j(dst_c)) for each ring pair: [B, N_pairs, P, P]."""
    V, C = feats.shape[:2]
    B = V // n_cam
    f = feats.view(B, n_cam, C, *feats.shape[-2:])
    mats = []
    for k, (i, j) in enumerate(ring_pairs(n_cam)):
        a = _sample(f[:, i], src[:, k], image_hw)
        c = _sample(f[:, j], dst[:, k], image_hw)
        mats.append(a @ c.transpose(1, 2))
    return torch.stack(mats, 1)


def vr_kd_overlap_loss(student_feats: torch.Tensor, teacher_feats: torch.Tensor, src, dst, valid, n_cam: int,
                       image_hw, tau: float = 0.1, min_points: int = 4) -> torch.Tensor:
    """Row-softmax KL between the teacher's and the student's relations over the overlapping cells (masked:
    rows and columns of invalid cells never count; pairs with < ``min_points`` cells are dropped)."""
    rs = overlap_relations(student_feats, src, dst, n_cam, image_hw)
    rt = overlap_relations(teacher_feats.detach(), src, dst, n_cam, image_hw)
    col = valid[..., None, :]
    neg = torch.finfo(rs.dtype).min / 4
    ls = torch.log_softmax(torch.where(col, rs / tau, torch.full_like(rs, neg)), -1)
    lt = torch.log_softmax(torch.where(col, rt / tau, torch.full_like(rt, neg)), -1)
    kl = torch.where(col, lt.exp() * (lt - ls), torch.zeros_like(rs)).sum(-1)  # [B, pairs, P]
    rows = valid & (valid.sum(-1, keepdim=True) >= min_points)
    if not bool(rows.any()):
        return student_feats.sum() * 0.0
    return kl[rows].mean()


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
