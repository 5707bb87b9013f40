"""Photometric reconstruction for self-supervised depth (issue 14; Monodepth2 / SurroundDepth / Semi-SMD style).

A target view is re-synthesised from a source view (another time, or the neighbouring camera) through the
target's depth and the relative pose; where depth and pose are right, the re-synthesised image matches.

Shapes: images [B, 3, H, W] in [0, 1] (or normalised: the error is per channel, any affine colour map works
the same on both sides); depth [B, 1, H, W] metric z-depth of the *target* at its real focal length;
K [B, 3, 3] at H x W; T_src_tgt [B, 4, 4] maps points of the target camera frame into the source camera frame.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def warp(src: torch.Tensor, depth_tgt: torch.Tensor, K_tgt: torch.Tensor, K_src: torch.Tensor,
         T_src_tgt: torch.Tensor, min_depth: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Source image re-sampled at the target's pixels: (warped [B, C, H, W], valid [B, 1, H, W]).

    Each target pixel is lifted with its depth, moved into the source camera, projected with K_src and
    bilinearly sampled; ``valid`` is False where it lands behind the source camera or outside its image.
    """
    B, _, H, W = depth_tgt.shape
    dev, dt = depth_tgt.device, depth_tgt.dtype
    ys, xs = torch.meshgrid(torch.arange(H, device=dev, dtype=dt), torch.arange(W, device=dev, dtype=dt),
                            indexing="ij")
    pix = torch.stack([xs, ys, torch.ones_like(xs)], 0).view(1, 3, -1)  # [1, 3, HW]
    cam = torch.linalg.inv(K_tgt.to(dt)) @ pix * depth_tgt.view(B, 1, -1)  # [B, 3, HW]
    T = T_src_tgt.to(dt)
    p = T[:, :3, :3] @ cam + T[:, :3, 3:]
    z = p[:, 2:3]
    uv = (K_src.to(dt) @ p)[:, :2] / z.clamp_min(1e-6)
    gx = (uv[:, 0] + 0.5) / W * 2 - 1
    gy = (uv[:, 1] + 0.5) / H * 2 - 1
    grid = torch.stack([gx, gy], -1).view(B, H, W, 2)
    warped = F.grid_sample(src, grid.to(src.dtype), mode="bilinear", padding_mode="border", align_corners=False)
    valid = ((z[:, 0] > min_depth) & (gx.abs() <= 1) & (gy.abs() <= 1)).view(B, 1, H, W)
    valid &= depth_tgt > 0
    return warped, valid


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-pixel structural dissimilarity term (1 - SSIM) / 2 over 3x3 windows (Monodepth2), [B, C, H, W]."""
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    pad = lambda t: F.pad(t, (1, 1, 1, 1), mode="reflect")  # noqa: E731
    mu_x, mu_y = F.avg_pool2d(pad(x), 3, 1), F.avg_pool2d(pad(y), 3, 1)
    sx = F.avg_pool2d(pad(x * x), 3, 1) - mu_x ** 2
    sy = F.avg_pool2d(pad(y * y), 3, 1) - mu_y ** 2
    sxy = F.avg_pool2d(pad(x * y), 3, 1) - mu_x * mu_y
    n = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    d = (mu_x ** 2 + mu_y ** 2 + c1) * (sx + sy + c2)
    return ((1 - n / d) / 2).clamp(0, 1)


def photometric_error(pred: torch.Tensor, target: torch.Tensor, alpha: float = 0.85) -> torch.Tensor:
    """alpha * SSIM term + (1 - alpha) * L1, mean over channels: [B, C, H, W] -> [B, 1, H, W]."""
    return (alpha * ssim(pred, target) + (1 - alpha) * (pred - target).abs()).mean(1, keepdim=True)


def reprojection_loss(target: torch.Tensor, warped: list[torch.Tensor], valid: list[torch.Tensor],
                      sources: list[torch.Tensor] | None = None) -> torch.Tensor:
    """Per-pixel minimum over the sources' reprojection errors (occlusions: some source sees the pixel), with
    Monodepth2's auto-masking when ``sources`` (the un-warped source images) are given: pixels where a raw
    source already matches better than every warp (static camera, objects moving with the ego) are left out.
    Invalid warps count as +inf; pixels no source sees are left out. Returns a scalar."""
    big = torch.full_like(target[:, :1], 1e4)
    errs = torch.cat([torch.where(v, photometric_error(w, target), big) for w, v in zip(warped, valid)], 1)
    best = errs.min(1, keepdim=True).values
    mask = best < big
    if sources:
        ident = torch.cat([photometric_error(s, target) for s in sources], 1).min(1, keepdim=True).values
        mask &= best < ident  # ties count as static (deterministic, unlike Monodepth2's random tie-break)
    return best[mask].mean() if bool(mask.any()) else errs.sum() * 0.0


def smoothness_loss(depth: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Edge-aware smoothness of mean-normalised inverse depth (Monodepth2): gradients of 1/d, down-weighted
    where the image has edges. depth [B, 1, H, W], image [B, C, H, W]."""
    inv = 1.0 / depth.clamp_min(1e-3)
    inv = inv / inv.mean((2, 3), keepdim=True).clamp_min(1e-6)
    dx, dy = (inv[..., :, 1:] - inv[..., :, :-1]).abs(), (inv[..., 1:, :] - inv[..., :-1, :]).abs()
    ix = (image[..., :, 1:] - image[..., :, :-1]).abs().mean(1, keepdim=True)
    iy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean(1, keepdim=True)
    return (dx * torch.exp(-ix)).mean() + (dy * torch.exp(-iy)).mean()


def surround_warps(images: torch.Tensor, depth: torch.Tensor, K: torch.Tensor, T_ref_cam: torch.Tensor,
                   spatio_temporal: bool = False) -> dict:
    """Every view at t re-synthesised from its sources (shapes as ``surround_reconstruction``'s arguments).

    Returns ``target`` [B*N, 3, H, W]; ``temporal``: [(warped, valid, raw source)] from the same camera at t-1
    and t+1; ``spatial``: [(warped, valid)] from the ring neighbours c-1 and c+1 at t; with ``spatio_temporal``
    also ``spatio_temporal``: [(warped, valid)] from the ring neighbours at t-1 and t+1. TensorBoard shows them."""
    B, F_, N = images.shape[:3]
    if F_ != 3:
        raise ValueError(f"images must hold frames (t-1, t, t+1), got {F_} frames")
    d = depth.flatten(0, 1)
    Kf = K.flatten(0, 1)
    T = T_ref_cam.double()

    def rel(f_src, c_src):  # [B*N, 4, 4] target camera (t, c) -> source camera (f_src, c_src(c))
        src = T[:, f_src][:, c_src]  # [B, N, 4, 4]
        return (torch.linalg.inv(src) @ T[:, 1]).flatten(0, 1).float()

    cams = torch.arange(N)
    temporal = []
    for f in (0, 2):
        src = images[:, f].flatten(0, 1)
        temporal.append((*warp(src, d, Kf, Kf, rel(f, cams)), src))
    spatial = []
    for shift in (-1, 1):
        nb = (cams + shift) % N
        spatial.append(warp(images[:, 1][:, nb].flatten(0, 1), d, Kf, K[:, nb].flatten(0, 1), rel(1, nb)))
    out = {"target": images[:, 1].flatten(0, 1), "temporal": temporal, "spatial": spatial}
    if spatio_temporal:
        out["spatio_temporal"] = [warp(images[:, f][:, (cams + shift) % N].flatten(0, 1), d, Kf,
                                       K[:, (cams + shift) % N].flatten(0, 1), rel(f, (cams + shift) % N))
                                  for f in (0, 2) for shift in (-1, 1)]
    return out


def downsample(images: torch.Tensor, depth: torch.Tensor, K: torch.Tensor, factor: int
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images, depth and intrinsics ``factor`` x coarser (area averaging; shapes as ``surround_reconstruction``'s
    arguments). A coarse pixel j covers fine pixels [f*j, f*j + f - 1], so its centre is fine pixel
    f*j + (f - 1) / 2: u' = (u - (f - 1) / 2) / f. Rows/columns past a multiple of ``factor`` are dropped (bottom
    and right: K is unchanged by that)."""
    if factor == 1:
        return images, depth, K
    pool = lambda t: F.avg_pool2d(t.flatten(0, -4), factor).unflatten(0, t.shape[:-3])  # noqa: E731
    Ks = K.clone()
    Ks[..., :2, :2] = K[..., :2, :2] / factor
    Ks[..., :2, 2] = (K[..., :2, 2] - (factor - 1) / 2) / factor
    return pool(images), pool(depth), Ks


def coarse_depth(depth: torch.Tensor, factor: int) -> torch.Tensor:
    """Depth [..., H, W] area-averaged ``factor`` x coarser and bilinearly upsampled back to H x W (Monodepth2's
    multi-scale: a coarse depth warps the full-resolution images)."""
    if factor == 1:
        return depth
    d = depth.flatten(0, -3)[:, None]
    c = F.interpolate(F.avg_pool2d(d, factor, ceil_mode=True), size=d.shape[-2:], mode="bilinear", align_corners=False)
    return c[:, 0].unflatten(0, depth.shape[:-2])


def surround_reconstruction(images: torch.Tensor, depth: torch.Tensor, K: torch.Tensor, T_ref_cam: torch.Tensor,
                            automask: bool = True, spatio_temporal: bool = False, scales: tuple[int, ...] = (1,),
                            scale_mode: str = "upsample") -> dict[str, torch.Tensor]:
    """The temporal and the spatial reconstruction terms of a surround sequence batch.

    images [B, 3 (t-1, t, t+1), N, 3, H, W] in [0, 1]; depth [B, N, 1, H, W] metric depth of frame t (the
    network's, at the cameras' real focal lengths); K [B, N, 3, 3]; T_ref_cam [B, 3, N, 4, 4] camera at each
    frame -> one common frame (data/sequence.py: from odometry / TF, or composed from a pose network).

    - ``temporal``: each view at t re-synthesised from the same camera at t-1 and t+1 (per-pixel minimum,
      auto-masking of pixels the raw neighbours already explain). With metric ego motion (odometry, /tf) it
      sees the scale; with a pose network's motion it does not: depth x s with the translation x s explains
      the frames as well.
    - ``spatial``: each view at t re-synthesised from its two ring neighbours at t through the extrinsics,
      whose baseline is metric: this is what fixes the scale without LiDAR or odometry (Semi-SMD,
      SurroundDepth).
    - ``spatio_temporal`` (when asked): each view at t re-synthesised from its ring neighbours at t-1 and t+1
      (per-pixel minimum over the four). Where neighbours barely overlap at one instant (narrow lenses, wide
      mounting angles), the vehicle's motion brings a neighbour's view of the same surface: the side cameras'
      scene passes from the front-side to the back-side camera. Metric only as far as the motion is.

    ``scales``: each term is the mean over these downsampling factors of the depth (1 = full resolution). A
    warp's gradient reaches a pixel's depth only through the image gradient where it lands, so inside a uniform
    surface (an untextured car side) the full-resolution terms say nothing and only its rim is constrained; a
    depth area-averaged 4 x or 8 x coarser lets the rim's gradient reach the pixels inside. ``scale_mode``:
    "upsample" warps the full-resolution images with the coarse depth upsampled back (``coarse_depth``,
    Monodepth2's choice: the images keep their detail); "pyramid" warps images and depth both downsampled
    (``downsample``, SfMLearner / Monodepth; coarse images alias fine texture, so its optimum is biased more).
    """
    if tuple(scales) != (1,):
        if scale_mode == "upsample":
            views = [(images, coarse_depth(depth, s), K) for s in scales]
        elif scale_mode == "pyramid":
            views = [downsample(images, depth, K, s) for s in scales]
        else:
            raise ValueError(f"scale_mode must be 'upsample' or 'pyramid', got {scale_mode!r}")
        per = [surround_reconstruction(*v, T_ref_cam, automask, spatio_temporal) for v in views]
        return {k: sum(p[k] for p in per) / len(per) for k in per[0]}
    w = surround_warps(images, depth, K, T_ref_cam, spatio_temporal)
    tgt, tw, sw = w["target"], w["temporal"], w["spatial"]
    out = {"temporal": reprojection_loss(tgt, [x[0] for x in tw], [x[1] for x in tw],
                                         [x[2] for x in tw] if automask else None),
           "spatial": reprojection_loss(tgt, [x[0] for x in sw], [x[1] for x in sw])}
    if spatio_temporal:
        stw = w["spatio_temporal"]
        out["spatio_temporal"] = reprojection_loss(tgt, [x[0] for x in stw], [x[1] for x in stw])
    return out
