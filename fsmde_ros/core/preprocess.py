"""Six decoded views -> one normalised batch [N, C, H, W] for the model, with the matching intrinsics (C = 3 RGB
channels, then the camera-aware channels a manifest may declare: geometry_input.py fills those)."""
from __future__ import annotations

import cv2
import numpy as np

from .geometry import scale_intrinsics
from .manifest import ModelManifest


class ModelGeometry:
    """Intrinsics at the model's input size and the metric focal factor (needs ``h``, ``w``, ``canonical_focal``)."""

    h: int
    w: int
    canonical_focal: float

    def model_intrinsics(self, K: np.ndarray, src_wh: tuple[int, int]) -> np.ndarray:
        return scale_intrinsics(K, src_wh, (self.w, self.h))

    def focal_scale(self, K_model: np.ndarray) -> float:
        """Metric depth factor f_actual / f_canonical at the model resolution (mean of fx, fy)."""
        return float((K_model[0, 0] + K_model[1, 1]) / 2 / self.canonical_focal)


class Preprocessor(ModelGeometry):
    def __init__(self, manifest: ModelManifest):
        self.h, self.w = manifest.height, manifest.width
        scale = np.float32(manifest.scale)
        mean, std = np.asarray(manifest.mean, np.float32), np.asarray(manifest.std, np.float32)
        # x_norm = (x * scale - mean) / std  ==  x * a + b, per channel
        self.a = (scale / std).reshape(3, 1, 1)
        self.b = (-mean / std).reshape(3, 1, 1)
        self.canonical_focal = manifest.canonical_focal_px
        self.channels = manifest.channels
        self.geometry_spec = manifest.geometry  # camera-aware input channels after RGB (None: RGB only)

    def resize(self, rgb: np.ndarray) -> np.ndarray:
        if rgb.shape[:2] == (self.h, self.w):
            return rgb
        interp = cv2.INTER_AREA if rgb.shape[0] > self.h else cv2.INTER_LINEAR
        return cv2.resize(rgb, (self.w, self.h), interpolation=interp)

    def fit_bgr(self, bgr: np.ndarray) -> np.ndarray:
        """Decoded BGR -> RGB at model size. Resizing before the channel swap keeps OpenCV on contiguous memory
        (a reversed-channel view is copied first): measured 21 ms -> 4 ms for six 400x225 views (BENCHMARKS.md)."""
        return cv2.cvtColor(self.resize(bgr), cv2.COLOR_BGR2RGB)

    def batch(self, images: list[np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
        """RGB uint8 views (already at model size) -> float32 [N, C, H, W] with channels :3 written (the caller
        writes any camera-aware channels after them); ``out`` may be a pinned buffer."""
        n = len(images)
        if out is None:
            out = np.zeros((n, self.channels, self.h, self.w), np.float32)
        for i, im in enumerate(images):
            np.multiply(im.transpose(2, 0, 1), self.a, out=out[i, :3], casting="unsafe")
            out[i, :3] += self.b
        return out

