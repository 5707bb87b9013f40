"""Multi-scale photometric terms (loss.photo_scales, issue 14): coarse depths reach inside untextured surfaces.

The scene is rendered analytically: a textured wall at 20 m behind an untextured box at 8 m (the right cameras'
parked vehicles in the synthetic world), seen by two cameras 0.5 m apart (the spatial term)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fsmde_train.engine.config import load_config
from fsmde_train.losses.photometric import downsample, surround_reconstruction

H, W, FOCAL, CX, CY = 64, 96, 60.0, 47.5, 31.5
BOX = (-1.5, 2.5, -2.0, 2.0, 8.0)  # X0, X1, Y0, Y1, Z of the untextured box (camera frame of camera 0)
WALL = 20.0
BASELINE = 0.5


def _render(ox=0.0, hw=(H, W), f=FOCAL, c=(CX, CY), ss=4):
    """(image [3, H, W], z-depth [H, W]) of a camera at x = ox, area-averaged over ss x ss sub-pixels."""
    o = (np.arange(ss) + 0.5) / ss - 0.5
    v, u = np.meshgrid(np.arange(hw[0]), np.arange(hw[1]), indexing="ij")
    img, depth = np.zeros((3, *hw)), np.zeros(hw)
    X0, X1, Y0, Y1, Z = BOX
    for a in o:
        for b in o:
            x, y = (u + b - c[0]) / f, (v + a - c[1]) / f
            box = (ox + Z * x >= X0) & (ox + Z * x <= X1) & (Z * y >= Y0) & (Z * y <= Y1)
            Xw, Yw = ox + WALL * x, WALL * y
            for ch in range(3):
                tex = 0.5 + 0.2 * np.sin(2.0 * Xw + 1.3 * ch) * np.cos(1.7 * Yw) + 0.15 * np.sin(1.1 * Xw + 1.6 * Yw + ch)
                img[ch] += np.where(box, 0.3 + 0.02 * ch, tex) / ss ** 2
            depth += np.where(box, Z, WALL) / ss ** 2
    return torch.tensor(img, dtype=torch.float32), torch.tensor(depth, dtype=torch.float32)


@pytest.fixture(scope="module")
def rig():
    """A two-camera "surround" batch: images [1, 3, 2, 3, H, W] (static: t-1 = t = t+1), exact depth
    [1, 2, 1, H, W], K [1, 2, 3, 3], T_ref_cam [1, 3, 2, 4, 4], and camera 0's box interior (4 px in from its rim)."""
    (i0, d0), (i1, d1) = _render(0.0), _render(BASELINE)
    images = torch.stack([i0, i1])[None, None].expand(1, 3, 2, 3, H, W).contiguous()
    K = torch.tensor([[FOCAL, 0, CX], [0, FOCAL, CY], [0, 0, 1.0]]).expand(1, 2, 3, 3)
    T = torch.eye(4).repeat(1, 3, 2, 1, 1)
    T[0, :, 1, 0, 3] = BASELINE
    inside = F.max_pool2d((d0 != BOX[4]).float()[None, None], 9, 1, 4)[0, 0] == 0
    return images, torch.stack([d0, d1])[None, :, None], K, T, inside


def test_downsampled_intrinsics_match_a_direct_render_at_the_coarse_resolution():
    """Area-pooling an image f x is the same camera with K' = (fx / f, (cx - (f - 1) / 2) / f): the pooled render
    equals a direct render with K' (and not with the naive cx / f)."""
    img, _ = _render(ss=8)
    for f in (2, 4, 8):
        K = torch.tensor([[FOCAL, 0, CX], [0, FOCAL, CY], [0, 0, 1.0]])
        pooled, _, Kf = downsample(img[None], img[None, :1], K[None], f)
        hw = (H // f, W // f)
        direct, _ = _render(hw=hw, f=float(Kf[0, 0, 0]), c=(float(Kf[0, 0, 2]), float(Kf[0, 1, 2])), ss=8 * f)
        naive, _ = _render(hw=hw, f=FOCAL / f, c=(CX / f, CY / f), ss=8 * f)
        assert float((pooled[0] - direct).abs().max()) < 1e-5, f
        assert float((pooled[0] - naive).abs().mean()) > 0.02, f


@pytest.mark.parametrize("scales,mode,min_cover", [((1, 4, 16), "upsample", 0.9), ((1, 2, 4, 8), "pyramid", 0.5)])
def test_coarse_scales_reach_inside_an_untextured_surface(rig, scales, mode, min_cover):
    """With the box placed at the wall's depth (the failure seen on the right cameras), the full-resolution
    spatial term gives no pixel inside the box a gradient; the multi-scale term reaches most of them."""
    images, exact, K, T, inside = rig

    def cover(sc):
        p = torch.full_like(exact, np.log(WALL)).requires_grad_(True)
        surround_reconstruction(images, p.exp(), K, T, scales=sc, scale_mode=mode)["spatial"].backward()
        return float((p.grad[0, 0, 0][inside].abs() > 0).float().mean())

    assert cover((1,)) == 0.0
    assert cover(scales) > min_cover


def test_coarse_depth_keeps_the_optimum_near_the_exact_depth(rig):
    """Warping the full-resolution images with the coarse depth (the default mode) costs little at the exact
    depth, so the multi-scale term still prefers it to the box at the wall's depth."""
    images, exact, K, T, inside = rig
    wrong = exact.clone()
    wrong[exact == BOX[4]] = WALL
    loss = lambda d, sc: float(surround_reconstruction(images, d, K, T, scales=sc)["spatial"])  # noqa: E731
    assert loss(exact, (1, 4, 16)) < 1.3 * loss(exact, (1,))
    assert loss(exact, (1, 4, 16)) < loss(wrong, (1, 4, 16))


@pytest.mark.parametrize("bad", [{"photo_scales": []}, {"photo_scales": [0, 2]}, {"photo_scales": [1.5]},
                                 {"photo_scale_mode": "bicubic"}])
def test_bad_photo_scales_are_one_clear_error(bad):
    with pytest.raises(ValueError, match="loss.photo_scale"):
        load_config(overrides={"loss": bad})
