"""Photometric warping (issue 14) against the synthetic world's exact depth and poses."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fsmde_train.losses.photometric import photometric_error, reprojection_loss, smoothness_loss, warp

HW = (108, 192)


@pytest.fixture(scope="module")
def ds(tiny_world, nusc):
    from fsmde_train.data import SurroundDataset

    return SurroundDataset(tiny_world, "v1.0-synth", input_hw=HW, sweeps=True, gt="dense", progress=False, nusc=nusc)


def _view(ds, i, c):
    img = torch.from_numpy(ds.images[i, c]).permute(2, 0, 1)[None].float() / 255
    depth = torch.from_numpy(ds.dense_depths[i, c].astype(np.float32))[None, None]
    G = ds.E[i, c] @ ds.T[i, c].astype(np.float64)  # camera -> global
    return img, depth, torch.from_numpy(ds.K[i, c])[None], G


def _error(ds, tgt, src, perturb=None, depth_scale=1.0):
    """Median over the valid pixels of (L1, SSIM + L1) between the target and the source warped into it; the
    warped image is gain-matched first (the renderer, like a real camera, exposes every frame differently)."""
    it, dt, Kt, Gt = _view(ds, *tgt)
    is_, _, Ks, Gs = _view(ds, *src)
    T = np.linalg.inv(Gs) @ Gt
    if perturb is not None:
        T = perturb @ T
    w, v = warp(is_, dt * depth_scale, Kt, Ks, torch.from_numpy(T).float()[None])
    m = v.expand_as(it)
    w = w * it[m].mean() / w[m].mean()
    l1 = (w - it).abs().mean(1, keepdim=True)
    return float(l1[v].median()), float(photometric_error(w, it)[v].median()), float(v.float().mean())


# two renders of the same surface differ by the renderer's pixel noise (std <= 0.012 per channel):
# E|n1 - n2| = 0.012 * sqrt(2) * sqrt(2 / pi) ~ 0.0135
NOISE_FLOOR_L1 = 0.0135


def _yaw(deg):
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    R = np.eye(4)
    R[[0, 0, 2, 2], [0, 2, 0, 2]] = [c, s, -s, c]  # about the camera's y axis (image vertical)
    return R


def test_warping_the_next_frame_with_exact_depth_and_pose_reproduces_the_target(ds):
    """CAM_FRONT at t+1 warped into t with the world's depth and ego poses matches at the noise floor; a 1° pose
    error or 0.3 m of translation error do not."""
    exact, _, cover = _error(ds, (0, 0), (1, 0))
    rot, _, _ = _error(ds, (0, 0), (1, 0), _yaw(1.0))
    shift = np.eye(4)
    shift[0, 3] = 0.3
    trans, _, _ = _error(ds, (0, 0), (1, 0), shift)
    assert cover > 0.5 and exact < 1.3 * NOISE_FLOOR_L1, (exact, cover)
    assert rot > 1.4 * exact and trans > 1.3 * exact, (exact, rot, trans)


def test_warping_the_neighbour_camera_with_exact_depth_and_extrinsics_reproduces_the_overlap(ds):
    """CAM_FRONT_RIGHT warped into CAM_FRONT through the rig's extrinsics (the spatial term that fixes metric
    scale): the overlap matches at the noise floor; a 1° extrinsic error raises the error, and so does a depth
    off by x1.3 or x0.75 (wrong metric scale), since the cameras' baseline is metric."""
    exact, exact_ph, cover = _error(ds, (0, 0), (0, 1))
    rot, _, _ = _error(ds, (0, 0), (0, 1), _yaw(1.0))
    assert 0.02 < cover < 0.5 and exact < 1.3 * NOISE_FLOOR_L1, (exact, cover)
    assert rot > 1.3 * exact, (exact, rot)
    for scale in (1.3, 0.75):
        _, ph, _ = _error(ds, (0, 0), (0, 1), depth_scale=scale)
        assert ph > 1.2 * exact_ph, (scale, exact_ph, ph)


def test_reprojection_loss_takes_the_best_source_and_masks_static_pixels():
    g = torch.Generator().manual_seed(0)
    tgt = torch.rand(1, 3, 16, 16, generator=g)
    good, bad = tgt.clone(), torch.rand(1, 3, 16, 16, generator=g)
    ok = torch.ones(1, 1, 16, 16, dtype=torch.bool)
    assert float(reprojection_loss(tgt, [bad, good], [ok, ok])) < 1e-6
    assert float(reprojection_loss(tgt, [bad], [ok])) > 0.1
    # a raw source identical to the target (a static camera): every pixel masked, loss 0, still differentiable
    x = bad.clone().requires_grad_(True)
    loss = reprojection_loss(tgt, [x], [ok], sources=[tgt])
    loss.backward()
    assert float(loss) == 0.0 and x.grad is not None
    # nothing valid: 0
    assert float(reprojection_loss(tgt, [bad], [~ok])) == 0.0


def test_smoothness_prefers_depth_edges_at_image_edges():
    img = torch.zeros(1, 3, 8, 8)
    img[..., 4:] = 1.0
    d_aligned, d_off = torch.full((1, 1, 8, 8), 10.0), torch.full((1, 1, 8, 8), 10.0)
    d_aligned[..., 4:] = 5.0
    d_off[..., 2:] = 5.0
    assert smoothness_loss(d_aligned, img) < smoothness_loss(d_off, img)
    assert float(smoothness_loss(torch.full((1, 1, 8, 8), 3.0), img)) == 0.0
