"""Six-view camera sets of a nuScenes-format dataset as training samples.

One sample = the six cameras of one set (a key frame, or with ``sweeps=True`` every 12 Hz camera set of the
synthetic world, whose sweeps carry dense GT too). Batch keys and shapes (B = batch, N = 6 cameras, ring
order of ``fsmde_train.CAMERAS``; H, W = the model input size):

=================  ======================  ================================================================
key                shape / dtype           meaning
=================  ======================  ================================================================
``image``          [B, N, 3, H, W] f32     RGB normalised with the manifest's mean/std
``depth``          [B, N, 1, H, W] f32     GT z-depth in metres at the camera's real focal length, 0 = none
                                           (dense for the synthetic world, projected LIDAR_TOP otherwise)
``depth_canon``    [B, N, 1, H, W] f32     ``depth * f_canonical / f_actual``: what the network predicts
``K``              [B, N, 3, 3] f32        intrinsics at H x W
``focal_scale``    [B, N] f32              f_actual / f_canonical (multiply predictions by it for metres)
``T_ego_cam``      [B, N, 4, 4] f32        camera -> ego extrinsics
=================  ======================  ================================================================

Resizing keeps K consistent (pixel-centre convention); depth maps are resized by nearest neighbour so every
value stays an exact measurement.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from .. import CAMERAS
from ..files import BadFile, read_rgb
from ..geometry import pose_from_record
from ..synth.writer import dense_depth_path

BATCH_KEYS = ("image", "depth", "depth_canon", "K", "focal_scale", "T_ego_cam")
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def scale_K(K: np.ndarray, src_wh, dst_wh) -> np.ndarray:
    sx, sy = dst_wh[0] / src_wh[0], dst_wh[1] / src_wh[1]
    K2 = np.array(K, dtype=np.float64).copy()
    K2[0, 0] *= sx
    K2[1, 1] *= sy
    K2[0, 2] = (K2[0, 2] + 0.5) * sx - 0.5
    K2[1, 2] = (K2[1, 2] + 0.5) * sy - 0.5
    return K2


def lidar_depth_map(nusc, lidar_token: str, cam_token: str, width: int, height: int) -> np.ndarray:
    """Sparse z-depth [H, W] (source resolution) from LIDAR_TOP projected with the devkit's pose chain."""
    pts, depth, _ = nusc.explorer.map_pointcloud_to_image(lidar_token, cam_token)
    out = np.zeros((height, width), np.float32)
    u = np.clip(np.round(pts[0]).astype(int), 0, width - 1)
    v = np.clip(np.round(pts[1]).astype(int), 0, height - 1)
    order = np.argsort(-depth)  # nearer points written last win
    out[v[order], u[order]] = depth[order]
    return out


@dataclass
class SurroundSample:
    tokens: list[str]  # camera sample_data tokens, ring order
    lidar_token: str | None  # key frame LIDAR_TOP, None for camera sweeps


class SurroundDataset(Dataset):
    """Camera sets of the given scenes, preprocessed to ``input_hw`` and held in memory (uint8 / float16)."""

    def __init__(self, dataroot, version: str, scenes=None, input_hw=(128, 224), canonical_focal_px=177.3,
                 sweeps: bool = False, dense: bool = True, progress: bool = True, nusc=None):
        from nuscenes.nuscenes import NuScenes

        self.root = Path(dataroot)
        self.nusc = nusc or NuScenes(version=version, dataroot=str(self.root), verbose=False)
        self.h, self.w = input_hw
        self.f_canon = canonical_focal_px
        names = set(scenes) if scenes else {s["name"] for s in self.nusc.scene}
        unknown = names - {s["name"] for s in self.nusc.scene}
        if unknown:
            raise ValueError(f"unknown scenes {sorted(unknown)} in {self.root}")
        samples = self._index(names, sweeps)
        self.dense = dense
        n, c = len(samples), len(CAMERAS)
        self.images = np.empty((n, c, self.h, self.w, 3), np.uint8)
        self.depths = np.empty((n, c, self.h, self.w), np.float32)
        self.K = np.empty((n, c, 3, 3), np.float32)
        self.T = np.empty((n, c, 4, 4), np.float32)
        self.samples, self.skipped = [], []  # skipped: {"tokens", "reason"} of sets with a bad file
        for s in tqdm(samples, desc=f"loading {self.root.name}", disable=not progress):
            try:
                self._load(len(self.samples), s)
                self.samples.append(s)
            except (BadFile, OSError, ValueError, zipfile.BadZipFile, KeyError) as e:
                self.skipped.append({"tokens": s.tokens, "reason": f"{type(e).__name__}: {e}"})
        k = len(self.samples)
        self.images, self.depths, self.K, self.T = self.images[:k], self.depths[:k], self.K[:k], self.T[:k]
        if self.skipped:
            print(f"warning: {self.root}: skipped {len(self.skipped)} of {n} camera sets with bad files "
                  f"(first: {self.skipped[0]['reason']}); the other {k} are used")
        if k == 0:
            raise ValueError(f"{self.root}: no usable camera set in scenes {sorted(names)}")

    def _index(self, names, sweeps):
        out = []
        for scene in self.nusc.scene:
            if scene["name"] not in names:
                continue
            tok = scene["first_sample_token"]
            while tok:
                sample = self.nusc.get("sample", tok)
                out.append(SurroundSample([sample["data"][c] for c in CAMERAS], sample["data"].get("LIDAR_TOP")))
                if sweeps:  # follow each camera's chain to the next key frame, pairing the k-th sweeps
                    chains = []
                    for c in CAMERAS:
                        sd, chain = self.nusc.get("sample_data", sample["data"][c]), []
                        while sd["next"]:
                            sd = self.nusc.get("sample_data", sd["next"])
                            if sd["is_key_frame"]:
                                break
                            chain.append(sd["token"])
                        chains.append(chain)
                    for k in range(min(map(len, chains))):
                        out.append(SurroundSample([ch[k] for ch in chains], None))
                tok = sample["next"]
        return out

    def _load(self, i, s: SurroundSample):
        for j, tok in enumerate(s.tokens):
            sd = self.nusc.get("sample_data", tok)
            cs = self.nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
            src = (sd["width"], sd["height"])
            img = read_rgb(self.root / sd["filename"])
            self.images[i, j] = cv2.resize(img, (self.w, self.h), interpolation=cv2.INTER_AREA)
            dpath = dense_depth_path(self.root, sd["filename"])
            if self.dense and dpath.exists():
                with np.load(dpath) as z:
                    d = z["depth"]
                if d.shape != (src[1], src[0]):
                    raise BadFile(f"dense depth {dpath} is {d.shape}, expected {(src[1], src[0])}")
            elif s.lidar_token is not None:
                d = lidar_depth_map(self.nusc, s.lidar_token, tok, *src)
            else:
                d = np.zeros((src[1], src[0]), np.float32)
            self.depths[i, j] = self._resize_depth(d)
            self.K[i, j] = scale_K(np.array(cs["camera_intrinsic"]), src, (self.w, self.h))
            self.T[i, j] = pose_from_record(cs)

    def _resize_depth(self, d: np.ndarray) -> np.ndarray:
        """Nearest neighbour at the pixel centres of the target grid (exact values, no blending)."""
        H, W = d.shape
        v = np.clip(((np.arange(self.h) + 0.5) * H / self.h).astype(int), 0, H - 1)
        u = np.clip(((np.arange(self.w) + 0.5) * W / self.w).astype(int), 0, W - 1)
        return d[v[:, None], u[None, :]]

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        img = (self.images[i].astype(np.float32) / 255.0 - MEAN) / STD
        K = self.K[i]
        fs = (K[:, 0, 0] + K[:, 1, 1]) / 2 / self.f_canon
        depth = self.depths[i][:, None].astype(np.float32)
        return {
            "image": torch.from_numpy(img.transpose(0, 3, 1, 2).copy()),
            "depth": torch.from_numpy(depth),
            "depth_canon": torch.from_numpy(depth / fs[:, None, None, None]),
            "K": torch.from_numpy(K),
            "focal_scale": torch.from_numpy(fs.astype(np.float32)),
            "T_ego_cam": torch.from_numpy(self.T[i]),
        }
