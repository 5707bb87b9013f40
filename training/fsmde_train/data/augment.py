"""Photometric augmentation of normalised RGB on the device, per view (DataConfig.augment).

What a real camera does that a renderer does not: exposure and gamma of another ISP, white balance, saturation,
sensor noise, defocus/motion blur. Geometry channels after RGB (``image[:, 3:]``) are left alone, and so is the
geometry of the image (depth labels stay exact). Draws come from a generator seeded per step, so a resumed run
sees the same augmentation as an uninterrupted one.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def photometric(image: torch.Tensor, mean, std, gen: torch.Generator, strength: float = 1.0) -> torch.Tensor:
    """image [B, C >= 3, H, W] normalised -> same shape, RGB re-exposed, re-coloured, noised and blurred."""
    b, dev = image.shape[0], image.device
    m = torch.tensor(mean, device=dev).view(1, 3, 1, 1)
    s = torch.tensor(std, device=dev).view(1, 3, 1, 1)
    rgb = (image[:, :3] * s + m).clamp(0, 1)

    def u(lo, hi, *shape):
        return lo + (hi - lo) * torch.rand((b, *shape), generator=gen).to(dev)

    k = strength
    rgb = rgb.clamp_min(1e-4) ** torch.exp(u(-0.35 * k, 0.35 * k, 1, 1, 1))  # gamma 0.7-1.4
    rgb = rgb * torch.exp(u(-0.4 * k, 0.4 * k, 1, 1, 1))  # exposure x0.67-1.5
    rgb = rgb * torch.exp(u(-0.1 * k, 0.1 * k, 3, 1, 1))  # white balance
    grey = rgb.mean(1, keepdim=True)
    rgb = grey + (rgb - grey) * u(1 - 0.6 * k, 1 + 0.4 * k, 1, 1, 1)  # saturation 0.4-1.4
    mid = rgb.mean((1, 2, 3), keepdim=True)
    rgb = mid + (rgb - mid) * u(1 - 0.3 * k, 1 + 0.3 * k, 1, 1, 1)  # contrast
    sigma = u(0, 1.2 * k, 1, 1, 1)  # blur in pixels, per view (a 5-tap separable Gaussian)
    x = torch.arange(-2, 3, device=dev, dtype=rgb.dtype).view(1, 5)
    w = torch.exp(-x ** 2 / (2 * sigma.view(b, 1).clamp_min(0.05) ** 2))
    w = (w / w.sum(1, keepdim=True)).repeat_interleave(3, 0)  # [3B, 5]
    flat = rgb.reshape(1, 3 * b, *rgb.shape[-2:])
    flat = F.conv2d(F.pad(flat, (2, 2, 0, 0), mode="replicate"), w.view(3 * b, 1, 1, 5), groups=3 * b)
    flat = F.conv2d(F.pad(flat, (0, 0, 2, 2), mode="replicate"), w.view(3 * b, 1, 5, 1), groups=3 * b)
    rgb = flat.view_as(rgb)
    noise = torch.randn(rgb.shape, generator=gen).to(dev) * u(0, 0.03 * k, 1, 1, 1)
    rgb = (rgb + noise).clamp(0, 1)
    return torch.cat([(rgb - m) / s, image[:, 3:]], 1)


RANDCONV_KERNELS = (1, 3, 5, 7)


def random_convolution(image: torch.Tensor, mean, std, gen: torch.Generator, p: float,
                       views: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random convolutions (RandConv, Xu et al., ICLR 2021): with probability ``p`` per camera set, the set's RGB
    goes through one random 3 -> 3 convolution (kernel size from {1, 3, 5, 7}, Kaiming-normal weights) and is
    mixed with itself, ``a * rgb + (1 - a) * conv(rgb)``, ``a ~ U(0, 1)``. Local texture and colour change, the
    shapes and edges stay, so the network is pushed to read depth from shape rather than from the renderer's
    textures. One kernel per camera set, so a set's views keep one look (the cross-view terms compare them).

    image [B * views, C >= 3, H, W] normalised -> (same shape, [B * views] bool: the view was convolved). Unlike the paper, the convolved image is matched to
    each view's per-channel mean and std before the mix and clamped to [0, 1]: exposure stays the photometric
    augmentation's job and the values stay those of an 8-bit image. Geometry channels (``image[:, 3:]``) and the
    depth labels are untouched.
    """
    n, dev = image.shape[0], image.device
    if n % views:
        raise ValueError(f"random_convolution: {n} images are not whole camera sets of {views} views")
    sets = n // views
    m = torch.tensor(mean, device=dev).view(1, 3, 1, 1)
    s = torch.tensor(std, device=dev).view(1, 3, 1, 1)
    rgb = (image[:, :3] * s + m).clamp(0, 1)
    apply = torch.rand(sets, generator=gen) < p
    sizes = torch.randint(len(RANDCONV_KERNELS), (sets,), generator=gen)
    alpha = torch.rand(sets, generator=gen)
    out = rgb.clone()
    for i in torch.nonzero(apply).flatten().tolist():
        k = RANDCONV_KERNELS[int(sizes[i])]
        w = (torch.randn((3, 3, k, k), generator=gen) / (3 * k * k) ** 0.5).to(dev, rgb.dtype)
        x = rgb[i * views:(i + 1) * views]
        y = F.conv2d(F.pad(x, (k // 2,) * 4, mode="reflect"), w)
        mu_x, sd_x = x.mean((2, 3), keepdim=True), x.std((2, 3), keepdim=True)
        y = (y - y.mean((2, 3), keepdim=True)) / y.std((2, 3), keepdim=True).clamp_min(1e-4) * sd_x + mu_x
        a = float(alpha[i])
        out[i * views:(i + 1) * views] = (a * x + (1 - a) * y).clamp(0, 1)
    return torch.cat([(out - m) / s, image[:, 3:]], 1), apply.repeat_interleave(views).to(dev)


ROAD_CLASS = 1  # data/surround.py SEMANTIC_CLASSES.index("road")
ROAD_NOISE_CELLS = (1, 2, 4, 8, 16)  # pixels per noise cell of the new surface


def road_retexture(image: torch.Tensor, semantic: torch.Tensor, mean, std, gen: torch.Generator,
                   p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A new road surface in a random ``p`` of the views: the road pixels (``semantic`` == road) become
    ``a * rgb + (1 - a) * surface``, ``a ~ U(0, 0.5)``, the surface a tinted grey (level U(0.15, 0.65), tint
    +-0.05 per channel) with smooth noise of amplitude U(0, 0.15) on cells of 1-16 pixels, drawn in image space.

    Real roads read too near beyond 10 m though the ground channel says where the road is
    (results/ground_alignment): the network reads the road's depth from how the synthetic road looks. A surface
    that looks different in every view and whose pattern does not shrink with distance leaves the road's
    geometry, its shape and the camera-aware channels as the cues (results/road_retexture/PLAN.md).

    image [V, C >= 3, H, W] normalised, semantic [V, H, W] class ids -> (same image shape, [V] bool: retextured).
    Other pixels, geometry channels (``image[:, 3:]``) and labels are untouched; views without a road (or without
    material maps: all ignored) stay as they are."""
    v, _, h, w = image.shape
    dev = image.device
    apply = torch.rand(v, generator=gen) < p
    level = 0.15 + 0.5 * torch.rand(v, 1, 1, 1, generator=gen)
    tint = 0.1 * torch.rand(v, 3, 1, 1, generator=gen) - 0.05
    amp = 0.15 * torch.rand(v, 1, 1, 1, generator=gen)
    alpha = 0.5 * torch.rand(v, 1, 1, 1, generator=gen)
    cells = torch.randint(len(ROAD_NOISE_CELLS), (v,), generator=gen)
    noise = torch.zeros(v, 1, h, w)
    for i in torch.nonzero(apply).flatten().tolist():
        c = ROAD_NOISE_CELLS[int(cells[i])]
        grid = torch.randn(1, 1, -(-h // c) + 1, -(-w // c) + 1, generator=gen)
        noise[i] = F.interpolate(grid, scale_factor=c, mode="bilinear", align_corners=False)[0, :, :h, :w]
    surface = (level + tint + amp * noise).clamp(0, 1).to(dev, image.dtype)
    m = torch.tensor(mean, device=dev, dtype=image.dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, device=dev, dtype=image.dtype).view(1, 3, 1, 1)
    rgb = (image[:, :3] * s + m).clamp(0, 1)
    a = alpha.to(dev, image.dtype)
    road = ((semantic == ROAD_CLASS) & apply.to(dev).view(v, 1, 1)).unsqueeze(1)
    new = torch.where(road, a * rgb + (1 - a) * surface, rgb)
    out = torch.where(road, (new - m) / s, image[:, :3])  # untouched pixels keep their exact values
    return torch.cat([out, image[:, 3:]], 1), apply.to(dev) & road.flatten(1).any(1)


def aspect_jitter(b: dict, gen: torch.Generator, p: float, ratio_range: tuple[float, float], canonical_focal_px: float,
                  geometry_inputs=()) -> tuple[dict, torch.Tensor]:
    """Another pixel aspect per view: with probability ``p`` a view's fy/fx is multiplied by r, log-uniform in
    ``ratio_range``, by cropping rows (r > 1: hc = H / r rows at a random offset) or columns (r < 1: W * r columns)
    and resizing the crop back to H x W. A real camera squeezed into the model input does this: KITTI's 1242x375
    at 224x128 has fy/fx 1.89, DDAD's 1936x1216 0.91; the training world's cameras all have fy = fx.

    ``b`` is a flattened batch (keys image [V, C, H, W] with the geometry channels after RGB, depth, depth_canon,
    depth_dense [V, 1, H, W], semantic [V, H, W] when present, K [V, 3, 3], focal_scale [V], T_ego_cam [V, 4, 4]).
    RGB is resampled bilinearly, depth maps and labels by nearest neighbour at the pixel centres (every value stays
    an exact measurement), K follows (pixel-centre convention), and focal_scale, depth_canon and the geometry
    channels are recomputed from the new K. Returns (new batch, [V] bool: the view was changed)."""
    import math

    import numpy as np

    from ..geometry import camera_channels

    lo, hi = ratio_range
    if not 0 < lo <= hi:
        raise ValueError(f"data.aspect_range must be 0 < lo <= hi, got {ratio_range}")
    img = b["image"]
    V, _, H, W = img.shape
    dev = img.device
    apply = torch.rand(V, generator=gen) < p
    ratio = torch.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * torch.rand(V, generator=gen))
    offset = torch.rand(V, generator=gen)
    out = {k: v.clone() for k, v in b.items()
           if k in ("image", "depth", "depth_canon", "depth_dense", "semantic", "K", "focal_scale")}
    for i in torch.nonzero(apply).flatten().tolist():
        r = float(ratio[i])
        K = out["K"][i].double().clone()
        if r >= 1:
            n = max(8, round(H / r))
            o = int(float(offset[i]) * (H - n + 1))
            src = torch.arange(H, device=dev)
            src = o + torch.clamp(((src + 0.5) * n / H).long(), max=n - 1)
            rgb = F.interpolate(img[i:i + 1, :3, o:o + n], size=(H, W), mode="bilinear", align_corners=False)
            s = H / n
            K[1, 1] *= s
            K[1, 2] = (K[1, 2] - o + 0.5) * s - 0.5
            pick = lambda t: t[..., src, :]  # noqa: E731
        else:
            n = max(8, round(W * r))
            o = int(float(offset[i]) * (W - n + 1))
            src = torch.arange(W, device=dev)
            src = o + torch.clamp(((src + 0.5) * n / W).long(), max=n - 1)
            rgb = F.interpolate(img[i:i + 1, :3, :, o:o + n], size=(H, W), mode="bilinear", align_corners=False)
            s = W / n
            K[0, 0] *= s
            K[0, 2] = (K[0, 2] - o + 0.5) * s - 0.5
            pick = lambda t: t[..., src]  # noqa: E731
        out["image"][i, :3] = rgb[0]
        for k in ("depth", "depth_dense", "semantic"):
            if k in out:
                out[k][i] = pick(b[k][i])
        out["K"][i] = K.to(out["K"].dtype)
        fs = float((K[0, 0] + K[1, 1]) / 2 / canonical_focal_px)
        out["focal_scale"][i] = fs
        out["depth_canon"][i] = out["depth"][i] / fs
        if geometry_inputs:
            g = camera_channels(K.cpu().numpy(), b["T_ego_cam"][i].double().cpu().numpy(), (H, W),
                                canonical_focal_px, geometry_inputs)
            out["image"][i, 3:] = torch.from_numpy(np.ascontiguousarray(g)).to(img.dtype).to(dev)
    return {**b, **out}, apply


MIRROR_KEYS = ("image", "depth", "depth_canon", "depth_dense", "semantic", "validity_gt")


def mirror_sets(b: dict, gen: torch.Generator, p: float) -> tuple[dict, torch.Tensor]:
    """The mirror world: with probability ``p`` per camera set, every view left-right mirrored and the ring read the
    other way round. Every training street is right-hand traffic with the ego in the rightmost lane (kerb, parked
    cars and the near façades always on the right); real rigs also drive on the left (nuScenes Singapore) and in
    middle lanes. Mirroring a set is exact: it is the same street with y -> -y, seen by the same rig mirrored.

    ``b`` is a flattened batch of whole camera sets ([B * n_cam, ...], ``n_cam`` in ``b``, ring order with the
    front camera first). For a mirrored set: per-pixel tensors (``MIRROR_KEYS``; the camera-aware channels, which for
    the mirrored camera are the mirrored channels, included) flipped along the width; the views reordered
    [0, n-1, ..., 1] (CAM_FRONT_LEFT's mirror image is what a front-right camera sees in the mirror world, so the
    ring keeps its order and its overlaps: the cross-view terms still pair view k's right border with view k+1's
    left); K's cx -> W - 1 - cx (pixel centres at integers) and skew negated; T_ego_cam -> S_y T S_x (the vehicle's
    y and the camera's x negated: still a rotation). Returns (new batch, [B] bool: the set was mirrored)."""
    if b.get("seq_image") is not None:
        raise ValueError("mirror_sets does not apply to sequences (the frames t-1 and t+1 and their motions would "
                         "need mirroring too)")
    n = int(b["n_cam"])
    V, W = b["image"].shape[0], b["image"].shape[-1]
    if V % n:
        raise ValueError(f"mirror_sets: {V} views are not whole camera sets of {n}")
    apply = torch.rand(V // n, generator=gen) < p
    if not apply.any():
        return b, apply
    order = torch.arange(V)
    ring = torch.tensor([0] + list(range(n - 1, 0, -1)))
    for s in torch.nonzero(apply).flatten().tolist():
        order[s * n:(s + 1) * n] = s * n + ring
    views = apply.repeat_interleave(n)[order]  # mirrored views, in the new order
    out = dict(b)
    for k, t in b.items():
        if not torch.is_tensor(t) or t.dim() == 0 or t.shape[0] != V:
            continue
        t = t[order.to(t.device)]
        if k in MIRROR_KEYS:
            t = torch.where(views.to(t.device).view(-1, *[1] * (t.dim() - 1)), t.flip(-1), t)
        out[k] = t
    K = out["K"].clone()
    K[views, 0, 2] = W - 1 - K[views, 0, 2]
    K[views, 0, 1] = -K[views, 0, 1]
    out["K"] = K
    S_y = torch.diag(torch.tensor([1.0, -1.0, 1.0, 1.0], dtype=out["T_ego_cam"].dtype))
    S_x = torch.diag(torch.tensor([-1.0, 1.0, 1.0, 1.0], dtype=out["T_ego_cam"].dtype))
    T = out["T_ego_cam"].clone()
    T[views] = S_y.to(T.device) @ T[views] @ S_x.to(T.device)
    out["T_ego_cam"] = T
    if "T_ref_cam" in out:  # a set's cameras relative to its first camera's pose: mirrored the same way
        R = out["T_ref_cam"].clone()
        R[views] = S_y.to(R.device) @ R[views] @ S_x.to(R.device)
        out["T_ref_cam"] = R
    return out, apply


HORIZON_MIX_KEYS = ("depth", "depth_canon", "depth_dense", "semantic")


def horizon_mix(b: dict, gen: torch.Generator, p: float) -> tuple[dict, torch.Tensor]:
    """Another street above the horizon: with probability ``p`` per view, every pixel whose ray rises (above the
    horizon of the view's own K and mounting, as the ground channel's sign) takes RGB and labels from the same pixel
    of another view of the batch (the donor, any camera of any set). The road below stays.

    The shipped student reads the road's depth partly from what stands above it: real surroundings above the horizon
    of a synthetic street make its road read nearer, as mid-grey does (results/ground_alignment/degrade_probe.txt).
    A donor's surroundings say nothing about the recipient's road, so the road's depth has to come from the road and
    the camera-aware channels (results/horizon_mix/PLAN.md).

    ``b`` is a flattened batch (image [V, C, H, W] with the geometry channels after RGB, depth, depth_canon,
    depth_dense [V, 1, H, W], semantic [V, H, W] when present, K [V, 3, 3], focal_scale [V], T_ego_cam [V, 4, 4]).
    The labels stay those of the pixels shown, in the recipient's canonical units: depth_canon is the donor's (what
    the network predicts from what it sees), depth and depth_dense are rescaled by the two focal scales so that
    depth / focal_scale is the donor's canonical depth (the stand-in teacher, computed from depth_dense, agrees).
    Geometry channels, K and poses stay the recipient's. Returns (new batch, [V] bool: the view was mixed)."""
    img = b["image"]
    V, _, H, W = img.shape
    dev = img.device
    apply = torch.rand(V, generator=gen) < p
    donor = (torch.arange(V) + 1 + torch.randint(max(V - 1, 1), (V,), generator=gen)) % V  # never the view itself
    if V < 2 or not apply.any():
        return b, apply & (V >= 2)
    v, u = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")
    pix = torch.stack([u, v, torch.ones_like(u)], -1).view(-1, 3)  # pixel centres at integers
    out = {k: b[k].clone() for k in ("image", *HORIZON_MIX_KEYS) if k in b}
    fs = b["focal_scale"].double()
    for i in torch.nonzero(apply).flatten().tolist():
        j = int(donor[i])
        R = b["T_ego_cam"][i, :3, :3].double().cpu()
        up = (pix @ torch.linalg.inv(b["K"][i].double().cpu()).T @ R.T)[:, 2]  # the ray's rise, vehicle z
        m = (up > 0).view(H, W).to(dev)
        out["image"][i, :3] = torch.where(m, img[j, :3], img[i, :3])
        ratio = float(fs[i] / fs[j])
        for k in HORIZON_MIX_KEYS:
            if k not in out:
                continue
            src = b[k][j] * ratio if k in ("depth", "depth_dense") else b[k][j]
            out[k][i] = torch.where(m if b[k].dim() == 3 else m[None], src.to(b[k].dtype), b[k][i])
    return {**b, **out}, apply
