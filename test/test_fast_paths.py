"""The CPU fast paths give the same results as the plain formulations they replaced (BENCHMARKS.md says what
each saves): fused cloud rows, the colour lookup table, and resize-before-RGB decoding."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from fsmde_ros.core import cloud as cloudlib
from fsmde_ros.core.codecs import colorize_depth, decode_compressed
from fsmde_ros.core.geometry import backproject, pose_matrix, transform

RNG = np.random.default_rng(3)


def reference_cloud(depths, Ks, rgbs, Ts, stride, min_range, max_range):
    """Back-project, range-filter in the camera frame, move to the base frame, pack: one view at a time."""
    xyz, rgb = [], []
    for d, K, c, T in zip(depths, Ks, rgbs, Ts):
        if d is None or T is None:
            continue
        pts, (v, u) = backproject(d, K, stride)
        keep = cloudlib.range_filter(pts, min_range, max_range)
        xyz.append(transform(T, pts[keep]))
        rgb.append(c[v[keep], u[keep]])
    return cloudlib.pack_xyzrgb(np.concatenate(xyz), np.concatenate(rgb))


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_fused_cloud_equals_the_per_view_reference(stride):
    h, w = 37, 64
    K = np.array([[50.0, 0, 31.5], [0, 52.0, 18.0], [0, 0, 1]])
    depths, rgbs, Ts = [], [], []
    for i in range(4):
        d = RNG.uniform(0.2, 90, (h, w)).astype(np.float32)
        d[RNG.random((h, w)) < 0.2] = np.nan
        d[0, :5] = 0
        d[1, :3] = -2
        depths.append(d)
        rgbs.append(RNG.integers(0, 256, (h, w, 3), dtype=np.uint8))
        Ts.append(pose_matrix(RNG.normal(size=3), RNG.normal(size=4)))
    depths[2], Ts[3] = None, None  # a skipped view and a view without extrinsics
    got = cloudlib.CloudFuser().fuse(depths, [K] * 4, rgbs, Ts, stride, 1.0, 60.0)
    want = reference_cloud(depths, [K] * 4, rgbs, Ts, stride, 1.0, 60.0)
    assert len(got) == len(want) > 0
    assert (got["rgb"] == want["rgb"]).all()
    for k in "xyz":
        np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-4)
    assert cloudlib.CloudFuser().fuse([None], [K], [None], [None]).dtype == cloudlib.XYZRGB_DTYPE


def test_fused_cloud_voxel_filter_keeps_one_point_per_cube():
    K = np.array([[10.0, 0, 4.5], [0, 10.0, 4.5], [0, 0, 1]])
    d = np.full((10, 10), 5.0, np.float32)
    c = np.zeros((10, 10, 3), np.uint8)
    full = cloudlib.CloudFuser().fuse([d], [K], [c], [np.eye(4)], 1, 0.1, 100.0)
    vox = cloudlib.CloudFuser().fuse([d], [K], [c], [np.eye(4)], 1, 0.1, 100.0, voxel_size=1.0)
    keys = {tuple(np.floor(np.array([p["x"], p["y"], p["z"]]) / 1.0).astype(int)) for p in full}
    assert len(vox) == len(keys) < len(full)


def plain_colorize(depth, min_depth, max_depth):
    """The straightforward version (numpy float64 + applyColorMap per call)."""
    d = np.nan_to_num(depth.astype(np.float32), nan=0.0)
    inv = np.where(d > 0, 1.0 / np.maximum(d, 1e-3), 0.0)
    lo, hi = 1.0 / max_depth, 1.0 / max(min_depth, 1e-3)
    u8 = (np.clip((inv - lo) / (hi - lo), 0, 1) ** 0.5 * 255).astype(np.uint8)
    out = cv2.applyColorMap(u8, cv2.COLORMAP_TURBO)
    out[~(d > 0)] = 0
    return out


def test_colorize_lookup_table_matches_the_plain_version():
    d = RNG.uniform(0.1, 120, (48, 80)).astype(np.float32)
    d[:5] = np.nan
    d[6, :4] = [0, -1, np.inf, 1e-6]
    for lo, hi in ((0.5, 80.0), (1.0, 200.0)):
        np.testing.assert_array_equal(colorize_depth(d, lo, hi), plain_colorize(d, lo, hi))


def test_decode_resize_before_rgb_matches_rgb_then_resize(tiny_model):
    from fsmde_ros.core.manifest import load_manifest
    from fsmde_ros.core.preprocess import Preprocessor

    pre = Preprocessor(load_manifest(tiny_model))
    img = RNG.integers(0, 256, (450, 800, 3), dtype=np.uint8)
    img = cv2.GaussianBlur(img, (9, 9), 3)
    jpg = cv2.imencode(".jpg", img)[1].tobytes()
    for red in (1, 2, 4):
        old = pre.resize(decode_compressed("jpeg", jpg, red))  # RGB view first, then resize
        new = pre.fit_bgr(decode_compressed("jpeg", jpg, red, bgr=True))
        assert new.shape == (pre.h, pre.w, 3) and new.flags["C_CONTIGUOUS"]
        np.testing.assert_array_equal(new, old)
