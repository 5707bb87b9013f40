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
