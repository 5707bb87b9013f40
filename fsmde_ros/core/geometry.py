"""Camera geometry: quaternions, intrinsics scaling, back-projection into the vehicle frame (numpy)."""
from __future__ import annotations

import numpy as np


def quat_wxyz_to_matrix(q) -> np.ndarray:
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def pose_matrix(translation, rotation_wxyz) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = quat_wxyz_to_matrix(rotation_wxyz)
    T[:3, 3] = translation
    return T


def scale_intrinsics(K: np.ndarray, src_wh: tuple[int, int], dst_wh: tuple[int, int]) -> np.ndarray:
    """K of an image resized from ``src_wh`` to ``dst_wh`` (pixel-centre convention: u' + .5 = s (u + .5))."""
    sx, sy = dst_wh[0] / src_wh[0], dst_wh[1] / src_wh[1]
    K2 = np.array(K, dtype=np.float64).reshape(3, 3).copy()
    K2[0, 0] *= sx
    K2[1, 1] *= sy
    K2[0, 2] = (K2[0, 2] + 0.5) * sx - 0.5
    K2[1, 2] = (K2[1, 2] + 0.5) * sy - 0.5
    return K2


def check_intrinsics(K: np.ndarray, width: int, height: int) -> str | None:
    """Why K is unusable for a width x height image, or None when it is fine."""
    K = np.asarray(K, dtype=np.float64).reshape(3, 3)
    if not np.isfinite(K).all():
        return "K has NaN/inf entries"
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        return f"focal lengths must be positive, got fx={K[0, 0]:g} fy={K[1, 1]:g}"
    if not (0 <= K[0, 2] <= width and 0 <= K[1, 2] <= height):
        return f"principal point ({K[0, 2]:g}, {K[1, 2]:g}) lies outside the {width}x{height} image"
    return None


def backproject(depth: np.ndarray, K: np.ndarray, stride: int = 1):
    """Camera-frame points of a z-depth map [H, W] sampled every ``stride`` pixels.

    Returns points [M, 3] (optical frame: x right, y down, z forward) and the (v, u) pixel indices used,
    for pixels with finite positive depth.
    """
    h, w = depth.shape
    v, u = np.mgrid[0:h:stride, 0:w:stride]
    z = depth[v, u]
    ok = np.isfinite(z) & (z > 0)
    v, u, z = v[ok], u[ok], z[ok]
    x = (u - K[0, 2]) / K[0, 0] * z
    y = (v - K[1, 2]) / K[1, 1] * z
    return np.stack([x, y, z], 1).astype(np.float32), (v, u)


def transform(T: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return (pts @ T[:3, :3].T.astype(np.float32) + T[:3, 3].astype(np.float32)).astype(np.float32)
