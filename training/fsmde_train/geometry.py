"""Rigid-transform helpers in the nuScenes conventions.

Quaternions are unit ``(w, x, y, z)`` as stored in nuScenes tables; a pose ``(R, t)`` maps points from the
child frame into the parent frame: ``p_parent = R @ p_child + t``.
"""
from __future__ import annotations

import numpy as np


def quat_to_matrix(q) -> np.ndarray:
    """Rotation matrix of a (w, x, y, z) quaternion (normalised first)."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def matrix_to_quat(R) -> np.ndarray:
    """(w, x, y, z) quaternion with w >= 0 of a rotation matrix (Shepperd's method)."""
    R = np.asarray(R, dtype=np.float64)
    tr = np.trace(R)
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = [0.25 * s, (R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s]
    elif R[0, 0] > R[1, 1] and R[0, 0] > R[2, 2]:
        s = 2.0 * np.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2])
        q = [(R[2, 1] - R[1, 2]) / s, 0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s]
    elif R[1, 1] > R[2, 2]:
        s = 2.0 * np.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2])
        q = [(R[0, 2] - R[2, 0]) / s, (R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1])
        q = [(R[1, 0] - R[0, 1]) / s, (R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s]
    q = np.asarray(q)
    q /= np.linalg.norm(q)
    return q if q[0] >= 0 else -q


def yaw_matrix(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def make_pose(R, t) -> np.ndarray:
    """4x4 homogeneous transform from rotation and translation."""
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = t
    return T


def pose_from_record(record: dict) -> np.ndarray:
    """4x4 transform of a nuScenes ``ego_pose`` or ``calibrated_sensor`` record (child -> parent)."""
    return make_pose(quat_to_matrix(record["rotation"]), record["translation"])


def transform_points(T: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a 4x4 transform to ``[N, 3]`` points."""
    return pts @ T[:3, :3].T + T[:3, 3]


# Camera-aware input channels (StudentConfig.geometry_inputs; the manifest's input.geometry declares them and the
# node computes the same from CameraInfo and TF). They tell the network where each pixel looks in a gravity-aligned
# vehicle frame, so mounting height, pitch, focal length and anisotropic resizing are inputs, not guesses.
GEOMETRY_INPUTS = ("ground_inverse_depth", "ray_elevation")
GROUND_SCALE = 10.0  # ground_inverse_depth = 10 m x the flat road's inverse depth at the canonical focal
GROUND_CLIP = 4.0  # |channel| <= 4 (the road nearer than 2.5 m canonical saturates)


def camera_channels(K: np.ndarray, T_vehicle_cam: np.ndarray, hw: tuple[int, int], canonical_focal_px: float,
                    names=GEOMETRY_INPUTS, ground_height: float = 0.0) -> np.ndarray:
    """float32 [len(names), h, w] for a camera with intrinsics K at h x w and pose T_vehicle_cam (z up).

    - ``ground_inverse_depth``: GROUND_SCALE x (f/f_canonical) x 1 / (z-depth where the pixel's ray meets the
      plane z = -ground_height of the vehicle frame), negative above the horizon (rays that rise), clipped to
      +-GROUND_CLIP; ``ground_height`` is the vehicle frame origin's height above the road (0 for nuScenes' ego
      frame, ~0.3 m for a base_link on the rear axle);
    - ``ray_elevation``: 2 x sine of the ray's elevation above the horizontal plane.
    """
    unknown = [n for n in names if n not in GEOMETRY_INPUTS]
    if unknown:
        raise ValueError(f"unknown geometry inputs {unknown} (known: {list(GEOMETRY_INPUTS)})")
    height = float(T_vehicle_cam[2, 3]) + ground_height
    if height < 0.2:
        raise ValueError(f"camera height above the road is {height:.2f} m (translation z {T_vehicle_cam[2, 3]:.2f} + "
                         f"ground_height {ground_height:.2f}); expected > 0.2 m: is the vehicle frame z up, and is its "
                         f"origin's height above the road given?")
    h, w = hw
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)
    up = (rays @ np.asarray(T_vehicle_cam, np.float64)[:3, :3].T)[..., 2]  # metres risen per metre of z-depth
    fs = (K[0, 0] + K[1, 1]) / 2 / canonical_focal_px
    out = {"ground_inverse_depth": np.clip(-GROUND_SCALE * fs * up / height, -GROUND_CLIP, GROUND_CLIP),
           "ray_elevation": 2.0 * up / np.linalg.norm(rays, axis=-1)}
    return np.stack([out[n] for n in names]).astype(np.float32)


def splat_depth(u: np.ndarray, v: np.ndarray, depth: np.ndarray, src_wh, out_wh) -> np.ndarray:
    """Sparse [H, W] float32 depth map at ``out_wh`` from points projected at pixel (u, v) of a ``src_wh`` image
    (pixel centres at integers); 0 where no point lands, the nearest where several do. Points are placed at the
    target resolution directly: a sparse map must not be resampled (most points would be lost)."""
    (width, height), (ow, oh) = src_wh, out_wh
    out = np.zeros((oh, ow), np.float32)
    u = np.clip(np.round((u + 0.5) * ow / width - 0.5).astype(int), 0, ow - 1)
    v = np.clip(np.round((v + 0.5) * oh / height - 0.5).astype(int), 0, oh - 1)
    order = np.argsort(-depth)  # nearer points written last win
    out[v[order], u[order]] = depth[order]
    return out
