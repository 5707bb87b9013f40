"""The node's processing of one synchronised set, without ROS: preprocess -> infer -> postprocess -> cloud.

Inputs are already decoded RGB views with their CameraInfo K; outputs are metric depth maps at the model
resolution with the matching K, and the fused cloud in the base frame. Stage timings are recorded so the
node can report them (decode and publish are timed by the node, which owns the messages).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import cloud as cloudlib
from .preprocess import Preprocessor


@dataclass
class View:
    name: str
    rgb: np.ndarray | None  # RGB uint8 at any size; None when the view could not be decoded
    K: np.ndarray  # 3x3 at the rgb's original (source) resolution
    src_wh: tuple[int, int]  # width, height that K refers to
    T_base_cam: np.ndarray | None  # 4x4; None when the extrinsics are unknown (no cloud points)


@dataclass(frozen=True)
class CloudConfig:
    enabled: bool = True
    stride: int = 2
    min_range: float = 1.0
    max_range: float = 60.0
    voxel_size: float = 0.0


@dataclass
class SetResult:
    depth: list[np.ndarray | None]  # per view, float32 [h, w] metres (NaN invalid), None for skipped views
    K_depth: list[np.ndarray | None]
    rgb_small: list[np.ndarray | None]
    cloud: np.ndarray | None  # structured XYZRGB_DTYPE array in the base frame
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage


class SurroundPipeline:
    def __init__(self, backend, pre: Preprocessor, min_depth: float, max_depth: float,
                 cloud: CloudConfig = CloudConfig(), map_fn=map):
        self.backend, self.pre, self.cloud_cfg, self.map = backend, pre, cloud, map_fn
        self.min_depth, self.max_depth = min_depth, max_depth
        self._buf: np.ndarray | None = None
        self._ray_cache: dict = {}

    def process(self, views: list[View], cloud: bool | None = None) -> SetResult:
        """``cloud``: build the fused cloud (default: ``cloud_cfg.enabled``; the node skips it without subscribers)."""
        t0 = time.perf_counter()
        n = len(views)
        big = sum(v.rgb.size for v in views if v.rgb is not None) > (1 << 21)  # parallel only where it pays
        small = list((self.map if big else map)(
            lambda v: self.pre.resize(v.rgb) if v.rgb is not None else None, views))
        # A view that failed to decode still takes its slot (zeros), so the batch shape stays fixed (TensorRT).
        blank = np.zeros((self.pre.h, self.pre.w, 3), np.uint8)
        if self._buf is None or self._buf.shape[0] != n:
            self._buf = self.backend.input_buffer((n, 3, self.pre.h, self.pre.w))
        batch = self.pre.batch([s if s is not None else blank for s in small], out=self._buf)
        t1 = time.perf_counter()
        pred = self.backend.infer(batch)
        t2 = time.perf_counter()
        depths, Ks = [], []
        for i, v in enumerate(views):
            if small[i] is None:
                depths.append(None)
                Ks.append(None)
                continue
            K = self.pre.model_intrinsics(v.K, v.src_wh)
            d = pred[i, 0] * np.float32(self.pre.focal_scale(K))
            d[(d < self.min_depth) | (d > self.max_depth) | ~np.isfinite(d)] = np.nan
            depths.append(d)
            Ks.append(K)
        t3 = time.perf_counter()
        want = self.cloud_cfg.enabled if cloud is None else cloud and self.cloud_cfg.enabled
        points = self.fuse(depths, Ks, small, views) if want else None
        t4 = time.perf_counter()
        return SetResult(depths, Ks, small, points,
                         {"preprocess": t1 - t0, "infer": t2 - t1, "postprocess": t3 - t2, "cloud": t4 - t3})

    def _rays(self, K: np.ndarray, T: np.ndarray, shape: tuple[int, int], stride: int):
        """Per camera, cached: base-frame ray directions for z = 1 [M, 3] and the ray lengths [M] of the sampled
        pixels, so a set costs one gather, one mask and one multiply-add per view (no per-set trigonometry)."""
        key = (K.tobytes(), T.tobytes(), shape, stride)
        hit = self._ray_cache.get(key)
        if hit is None:
            h, w = shape
            v, u = np.mgrid[0:h:stride, 0:w:stride]
            rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones(u.shape)], -1).reshape(-1, 3)
            hit = ((rays @ T[:3, :3].T).astype(np.float32), np.linalg.norm(rays, axis=1),
                   T[:3, 3].astype(np.float32), (v.ravel(), u.ravel()))
            if len(self._ray_cache) > 64:  # intrinsics that keep changing must not grow memory
                self._ray_cache.clear()
            self._ray_cache[key] = hit
        return hit

    def fuse(self, depths, Ks, rgbs, views) -> np.ndarray:
        """Back-project every view with its K, move it to the base frame, range-filter, pack XYZRGB."""
        c = self.cloud_cfg
        xyz_all, rgb_all = [], []
        for d, K, rgb, v in zip(depths, Ks, rgbs, views):
            if d is None or v.T_base_cam is None:
                continue
            dirs, norms, t, (vv, uu) = self._rays(K, v.T_base_cam, d.shape, c.stride)
            z = d[vv, uu]
            r = z * norms  # range from the camera centre
            keep = np.isfinite(z) & (z > 0) & (r >= c.min_range) & (r <= c.max_range)
            xyz_all.append(dirs[keep] * z[keep, None] + t)
            rgb_all.append(rgb[vv[keep], uu[keep]])
        if not xyz_all:
            return np.empty(0, dtype=cloudlib.XYZRGB_DTYPE)
        xyz, rgb = np.concatenate(xyz_all), np.concatenate(rgb_all)
        xyz, rgb = cloudlib.voxel_downsample(xyz, rgb, c.voxel_size)
        return cloudlib.pack_xyzrgb(xyz, rgb)
