"""Camera-aware input channels of a model whose manifest declares ``input.geometry`` (after the 3 RGB channels).

The same definition as the training package's ``fsmde_train.geometry.camera_channels`` (a test keeps the two
equal): per pixel of the model input, where the ray meets the road (inverse depth at the canonical focal) and how
far it rises, in a gravity-aligned vehicle frame. The node computes them once per camera from CameraInfo and TF
(the rig is static), so a camera mounted higher, pitched down, zoomed or resized anisotropically is an input to the
network, not a surprise. ``ground_height`` is the height of the TF base frame's origin above the road (0 for
nuScenes' ego frame and for base_footprint; ~0.3 m for base_link on the rear axle).
"""
from __future__ import annotations

import numpy as np

from .manifest import GEOMETRY_CHANNELS


class GeometryError(ValueError):
    """A camera whose extrinsics cannot give the model's camera-aware input (message names what is wrong)."""


def camera_channels(K: np.ndarray, T_base_cam: np.ndarray, hw: tuple[int, int], canonical_focal: float,
                    names, ground_scale: float, ground_clip: float, ground_height: float = 0.0) -> np.ndarray:
    """float32 [len(names), h, w] for intrinsics K at the model size h x w and the camera pose in the base frame."""
    height = float(T_base_cam[2, 3]) + ground_height
    if height < 0.2:
        raise GeometryError(f"camera {height:.2f} m above the road (TF z {T_base_cam[2, 3]:.2f} m + ground_height "
                            f"{ground_height:.2f} m); expected > 0.2 m: the base frame must be z up, and the "
                            f"ground_height parameter its origin's height above the road")
    h, w = hw
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)
    up = (rays @ np.asarray(T_base_cam, np.float64)[:3, :3].T)[..., 2]
    fs = (K[0, 0] + K[1, 1]) / 2 / canonical_focal
    out = {"ground_inverse_depth": lambda: np.clip(-ground_scale * fs * up / height, -ground_clip, ground_clip),
           "ray_elevation": lambda: 2.0 * up / np.linalg.norm(rays, axis=-1)}
    return np.stack([out[n]() for n in names]).astype(np.float32)


class GeometryInputs:
    """The model's camera-aware channels per camera, cached by (K, extrinsics): a static rig computes them once."""

    def __init__(self, spec: dict, hw: tuple[int, int], canonical_focal: float, ground_height: float = 0.0,
                 max_cached: int = 64):
        self.names = tuple(spec["channels"])
        unknown = [n for n in self.names if n not in GEOMETRY_CHANNELS]
        if unknown:
            raise GeometryError(f"model asks for geometry channels {unknown}; this node computes {GEOMETRY_CHANNELS}")
        self.scale, self.clip = float(spec["ground_scale"]), float(spec["ground_clip"])
        self.hw, self.focal, self.ground_height = hw, canonical_focal, ground_height
        self._cache: dict[bytes, np.ndarray] = {}
        self.max_cached = max_cached

    def __len__(self) -> int:
        return len(self.names)

    def for_view(self, K_model: np.ndarray, T_base_cam: np.ndarray | None) -> np.ndarray:
        if T_base_cam is None:
            raise GeometryError("no extrinsics (TF base frame <- camera frame): the model's camera-aware input needs "
                                "them")
        key = np.asarray(K_model, np.float64).tobytes() + np.asarray(T_base_cam, np.float64).tobytes()
        got = self._cache.get(key)
        if got is None:
            if len(self._cache) >= self.max_cached:  # a moving TF (not a rig) must not grow this without bound
                self._cache.clear()
            got = self._cache[key] = camera_channels(K_model, T_base_cam, self.hw, self.focal, self.names, self.scale,
                                                     self.clip, self.ground_height)
        return got
