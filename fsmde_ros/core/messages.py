"""The layout of the node's output messages, shared by the node (rclpy) and fsmde-offline (rosbags).

Each helper returns the message fields as plain values (numpy arrays for arrays); the caller builds its own
message class from them, so both paths publish byte-identical layouts.
"""
from __future__ import annotations

import numpy as np

from . import cloud as cloudlib
from .codecs import colorize_depth, depth_to_16uc1, depth_to_32fc1

ENCODINGS = {"32FC1": (depth_to_32fc1, 4), "16UC1": (depth_to_16uc1, 2)}


def depth_image_fields(depth: np.ndarray, encoding: str = "32FC1") -> dict:
    """REP-118 depth image: 32FC1 metres (NaN invalid) or 16UC1 millimetres (0 invalid)."""
    to, size = ENCODINGS[encoding]
    arr = to(depth)
    h, w = arr.shape
    return dict(height=h, width=w, encoding=encoding, is_bigendian=0, step=w * size,
                data=np.ascontiguousarray(arr).view(np.uint8).reshape(-1))


def colorized_fields(depth: np.ndarray, min_depth: float, max_depth: float) -> dict:
    arr = colorize_depth(depth, min_depth, max_depth)
    h, w = arr.shape[:2]
    return dict(height=h, width=w, encoding="bgr8", is_bigendian=0, step=w * 3, data=arr.reshape(-1))


def depth_info_fields(K: np.ndarray, height: int, width: int) -> dict:
    """CameraInfo of a depth image: K at the depth resolution, R = I, P = [K | 0], no distortion."""
    P = np.zeros((3, 4))
    P[:, :3] = K
    return dict(height=height, width=width, distortion_model="plumb_bob", d=np.zeros(5),
                k=np.asarray(K, np.float64).reshape(-1), r=np.eye(3).reshape(-1), p=P.reshape(-1))


def cloud_fields(cloud: np.ndarray) -> dict:
    """PointCloud2 fields (without header) of a packed XYZRGB cloud; ``fields`` as (name, offset, type, count)."""
    step = cloudlib.XYZRGB_DTYPE.itemsize
    return dict(height=1, width=len(cloud), is_bigendian=False, point_step=step, row_step=step * len(cloud),
                is_dense=True, fields=[(n, o, cloudlib.FLOAT32, 1) for n, o in cloudlib.FIELDS],
                data=cloud.view(np.uint8).reshape(-1))
