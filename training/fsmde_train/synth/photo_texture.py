"""Real photographed surface textures for the synthetic world (issue "Real images": what real surfaces look like).

Three grey-scale photographs that ship inside scikit-image's wheel (``skimage/data``: a brick wall, gravel, grass;
512 x 512 each) become multiplicative detail on façades, road, pavement and grass, mapped in metres on the surface
(so their grain shrinks with distance as a real surface's does) and mirrored at tile edges (no seams). One ray per
pixel would alias a fine texture into sparkle at distance, so each hit reads a mip level chosen from its pixel's
footprint on the surface, as a GPU's trilinear filtering does.
"""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

NAMES = ("brick", "gravel", "grass")


def texture_dir() -> Path:
    """``skimage/data`` of the installed scikit-image (read as files; scikit-image itself is not imported)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("photo textures need scikit-image's bundled images (skimage/data/{brick,gravel,grass}.png):"
                           " pip install scikit-image==0.24.0")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


@lru_cache(maxsize=None)
def pyramid(name: str) -> tuple[torch.Tensor, ...]:
    """Mip levels of photograph ``name``, each [S, S] float32 with mean 1 (512 -> 1 px, 2 x 2 box filter)."""
    import cv2

    path = texture_dir() / f"{name}.png"
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise RuntimeError(f"photo texture {path} is missing or unreadable: expected a grey-scale PNG")
    return mip_levels(img)


def mip_levels(img: np.ndarray) -> tuple[torch.Tensor, ...]:
    """Mip levels of a square grey image [S, S] (S a power of two), normalised to mean 1, down to 1 x 1."""
    s = img.shape[0]
    if img.ndim != 2 or img.shape[1] != s or s & (s - 1):
        raise ValueError(f"photo texture: expected a square grey image with a power-of-two side, got {img.shape}")
    t = torch.as_tensor(img.astype(np.float32))
    t = t / t.mean()
    levels = [t]
    while levels[-1].shape[0] > 1:
        x = levels[-1]
        levels.append(0.25 * (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2]))
    return tuple(levels)


def _mirror(u: torch.Tensor) -> torch.Tensor:
    m = torch.remainder(u, 2.0)
    return torch.where(m > 1.0, 2.0 - m, m)


def _fetch(level: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    s = level.shape[0]
    ix = (_mirror(u) * s).long().clamp(0, s - 1)
    iy = (_mirror(v) * s).long().clamp(0, s - 1)
    return level[iy, ix]


def sample(name, u_m: torch.Tensor, v_m: torch.Tensor, tile_m: float, footprint_m: torch.Tensor) -> torch.Tensor:
    """Texture value (mean 1) at surface coordinates (u_m, v_m) [N] in metres, one photograph spanning ``tile_m``;
    ``footprint_m`` [N]: the pixel's size on the surface, which picks the mip level (linear between two levels).
    ``name``: one of NAMES, or mip levels (``mip_levels``)."""
    levels = pyramid(name) if isinstance(name, str) else name
    texel0 = tile_m / levels[0].shape[0]
    lod = torch.log2((footprint_m / texel0).clamp_min(1.0)).clamp(max=len(levels) - 1)
    lo = lod.floor().long()
    frac = lod - lo
    u, v = u_m / tile_m, v_m / tile_m
    out = torch.ones_like(u_m)
    for k in torch.unique(lo).tolist():
        m = lo == k
        a = _fetch(levels[k].to(u.device), u[m], v[m])
        b = _fetch(levels[min(k + 1, len(levels) - 1)].to(u.device), u[m], v[m])
        out[m] = a + (b - a) * frac[m]
    return out
