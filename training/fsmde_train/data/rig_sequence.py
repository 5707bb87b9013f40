"""What the real-format camera sequences share (data/kitti_seq.py, data/ddad_seq.py): arrays of camera sets read
into memory at the model's input size, and the sample layout ``SurroundSequence`` reads.

A subclass fills ``cameras``, ``images`` [S, N, H, W, 3] uint8, ``K`` [S, N, 3, 3] (at H x W), ``T`` [S, N, 4, 4]
camera -> vehicle, ``E`` [S, N, 4, 4] vehicle -> world at each exposure, ``stamps`` [S, N] µs, ``views`` (the
RealViews per set, with their LiDAR for evaluation) and ``scene_name``. LiDAR depth never enters a sample.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from ..geometry import camera_channels
from ..networks.student import StudentConfig


class RigSequence(Dataset):
    def __init__(self, root, input_hw, canonical_focal_px: float, geometry_inputs, mean, std):
        from pathlib import Path

        self.root = Path(root)
        self.h, self.w = input_hw
        self.f_canon = canonical_focal_px
        self.geometry_inputs = tuple(geometry_inputs)
        norm = StudentConfig()
        self.mean = np.asarray(norm.mean if mean is None else mean, np.float32)
        self.std = np.asarray(norm.std if std is None else std, np.float32)

    def _put(self, s: int, c: int, v) -> None:
        """Set s, camera c from RealView ``v``: its image resized to the input, K scaled to it, the extrinsic."""
        import cv2

        from .real import RealDataError
        from .surround import scale_K

        rgb = cv2.imread(str(v.image_path), cv2.IMREAD_COLOR)
        if rgb is None:
            raise RealDataError(f"{v.image_path}: not a readable image")
        self.images[s, c] = cv2.resize(rgb[:, :, ::-1], (self.w, self.h), interpolation=cv2.INTER_AREA)
        self.K[s, c] = scale_K(v.K, v.size, (self.w, self.h))
        self.T[s, c] = v.T_vehicle_cam

    def set_stamps(self) -> np.ndarray:
        return self.stamps

    def set_scenes(self) -> list[str]:
        return [self.scene_name] * len(self.stamps)

    def __len__(self):
        return len(self.stamps)

    def __getitem__(self, i):
        img = ((self.images[i].astype(np.float32) / 255.0 - self.mean) / self.std).transpose(0, 3, 1, 2)
        if self.geometry_inputs:
            img = np.concatenate([img, np.stack([camera_channels(self.K[i, j], self.T[i, j], (self.h, self.w),
                                                                 self.f_canon, self.geometry_inputs)
                                                 for j in range(len(self.cameras))])], 1)
        zeros = torch.zeros(len(self.cameras), 1, self.h, self.w)  # LiDAR depth never enters a training sample
        K = self.K[i]
        fs = ((K[:, 0, 0] + K[:, 1, 1]) / 2 / self.f_canon).astype(np.float32)
        return {"index": torch.tensor(i, dtype=torch.int64), "image": torch.from_numpy(np.ascontiguousarray(img)),
                "depth": zeros, "depth_canon": zeros, "depth_dense": zeros, "K": torch.from_numpy(K),
                "focal_scale": torch.from_numpy(fs), "T_ego_cam": torch.from_numpy(self.T[i])}

    def real_views(self):
        """The RealViews of the sets (with their LiDAR), for evaluation."""
        return [v for vs in self.views for v in vs]
