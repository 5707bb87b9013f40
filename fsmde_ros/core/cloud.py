"""PointCloud2 layout for the fused cloud: x, y, z float32 + ``rgb`` float32 holding packed 0x00RRGGBB.

That is the layout RViz's RGB8 colour transformer reads (and PCL's PointXYZRGB). Packing is one numpy
structured array; the node assigns its bytes to the message in one go (no per-element path: codecs.to_bytes_array).
"""
from __future__ import annotations

import numpy as np

FLOAT32 = 7  # sensor_msgs/PointField.FLOAT32
XYZRGB_DTYPE = np.dtype({"names": ["x", "y", "z", "rgb"], "formats": ["<f4", "<f4", "<f4", "<u4"],
                         "offsets": [0, 4, 8, 12], "itemsize": 16})
FIELDS = (("x", 0), ("y", 4), ("z", 8), ("rgb", 12))


def pack_xyzrgb(xyz: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """xyz float [M, 3], rgb uint8 [M, 3] -> structured [M] (16 bytes a point; rgb as uint32 bits)."""
    out = np.empty(len(xyz), dtype=XYZRGB_DTYPE)
    out["x"], out["y"], out["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    c = rgb.astype(np.uint32)
    out["rgb"] = (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]
    return out


def voxel_downsample(xyz: np.ndarray, rgb: np.ndarray, voxel: float):
    """Keep the first point of every occupied ``voxel``-sized cube (voxel <= 0: no-op)."""
    if voxel <= 0 or len(xyz) == 0:
        return xyz, rgb
    keys = np.floor(xyz / voxel).astype(np.int64)
    _, first = np.unique(keys, axis=0, return_index=True)
    first.sort()
    return xyz[first], rgb[first]


def range_filter(xyz_cam: np.ndarray, min_range: float, max_range: float) -> np.ndarray:
    """Mask of camera-frame points whose distance lies in [min_range, max_range]."""
    r = np.linalg.norm(xyz_cam, axis=1)
    return (r >= min_range) & (r <= max_range)


def sampled_rays(K: np.ndarray, T: np.ndarray, shape: tuple[int, int], stride: int):
    """Rays of the pixels ``depth[::stride, ::stride]`` (row-major): base-frame directions [M, 3] scaled to
    optical z = 1, their lengths [M] and the camera origin [3] (float64; callers cast)."""
    h, w = shape
    v, u = np.mgrid[0:h:stride, 0:w:stride]
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones(u.shape)], -1).reshape(-1, 3)
    return rays @ T[:3, :3].T, np.linalg.norm(rays, axis=1), T[:3, 3]


class CloudFuser:
    """Back-projects depth maps with their K, moves them to the base frame, range-filters, voxelises, packs.

    Per camera, the base-frame ray directions (z = 1) and ray lengths of the sampled pixels are cached by
    (K, T, shape, stride), so a set costs one strided copy, one mask and one multiply-add per view, written
    straight into the packed [M, 4] float32 layout (x, y, z, rgb bits) that the PointCloud2 carries."""

    def __init__(self, max_cached: int = 64):
        self._rays: dict = {}
        self.max_cached = max_cached

    def rays(self, K: np.ndarray, T: np.ndarray, shape: tuple[int, int], stride: int):
        """(directions [M, 4] float32 in the base frame with a 0 fourth column, |ray| [M] float32, camera origin
        [4] with a 0 fourth entry) of the pixels ``depth[::stride, ::stride]`` in row-major order."""
        key = (K.tobytes(), T.tobytes(), shape, stride)
        hit = self._rays.get(key)
        if hit is None:
            d3, norms, o3 = sampled_rays(K, T, shape, stride)
            dirs = np.zeros((len(d3), 4), np.float32)
            dirs[:, :3] = d3
            origin = np.zeros(4, np.float32)
            origin[:3] = o3
            hit = (dirs, norms.astype(np.float32), origin)
            if len(self._rays) > self.max_cached:  # intrinsics or TF that keep changing must not grow memory
                self._rays.clear()
            self._rays[key] = hit
        return hit

    def fuse(self, depths, Ks, rgbs, Ts, stride: int = 2, min_range: float = 1.0, max_range: float = 60.0,
             voxel_size: float = 0.0, motions=None) -> np.ndarray:
        """Per view: depth [h, w] metres (NaN invalid) or None, K 3x3 at the depth resolution, RGB [h, w, 3],
        T_base_camera 4x4 or None (left out), and optionally its ego motion T_base(cloud stamp)<-base(exposure)
        (core/motion.py; None: static). Returns the packed cloud (XYZRGB_DTYPE) in the base frame.

        Every sampled pixel is computed densely as a 16-byte (x, y, z, rgb) row, then the valid rows are taken
        in one 16-byte-element gather (2-D boolean indexing costs ~5x more). The motion turns a copy of the cached
        rays, so the cache stays keyed by the static mount."""
        parts = []
        motions = [None] * len(Ts) if motions is None else motions
        for d, K, rgb, T, M in zip(depths, Ks, rgbs, Ts, motions):
            if d is None or T is None:
                continue
            dirs, norms, origin = self.rays(K, T, d.shape, stride)
            if M is not None:  # the ego motion turns the cached rays and moves their origin (one small matmul)
                R4 = np.zeros((4, 4), np.float32)
                R4[:3, :3] = np.asarray(M[:3, :3], np.float32).T
                dirs = dirs @ R4
                origin = origin @ R4
                origin[:3] += np.asarray(M[:3, 3], np.float32)
            z = np.ascontiguousarray(d[::stride, ::stride]).reshape(-1)
            rows = dirs * z[:, None]
            rows += origin
            c = rgb[::stride, ::stride]
            packed = (c[..., 0].astype(np.uint32) << 16) | (c[..., 1].astype(np.uint32) << 8) | c[..., 2]
            rows[:, 3].view(np.uint32)[:] = packed.reshape(-1)
            with np.errstate(invalid="ignore"):
                r = z * norms  # range from the camera centre; NaN compares False below
                keep = (z > 0) & (r >= min_range) & (r <= max_range)
            parts.append(rows.view(np.complex128).reshape(-1)[keep])
        if not parts:
            return np.empty(0, dtype=XYZRGB_DTYPE)
        out = np.concatenate(parts).view(np.float32).reshape(-1, 4)
        if voxel_size > 0 and len(out):
            keys = np.floor(out[:, :3] / voxel_size).astype(np.int64)
            _, first = np.unique(keys, axis=0, return_index=True)
            out = out[np.sort(first)]
        return out.view(XYZRGB_DTYPE).reshape(-1)
