"""PointCloud2 layout for the fused cloud: x, y, z float32 + ``rgb`` float32 holding packed 0x00RRGGBB.

That is the layout RViz's RGB8 colour transformer reads (and PCL's PointXYZRGB). Packing is one numpy
structured array; the node assigns its bytes to the message in one go (FACTS.md: no per-element path).
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
