"""Six-view camera sets of a nuScenes-format dataset as training samples.

One sample = the six cameras of one set (a key frame, or with ``sweeps=True`` every 12 Hz camera set of the
synthetic world, whose sweeps carry dense GT too). Batch keys and shapes (B = batch, N = 6 cameras, ring
order of ``fsmde_train.CAMERAS``; H, W = the model input size):

=================  ======================  ================================================================
key                shape / dtype           meaning
=================  ======================  ================================================================
``image``          [B, N, 3+G, H, W] f32   RGB normalised with the manifest's mean/std, then the G camera-aware
                                           channels of ``geometry_inputs`` (geometry.camera_channels; G = 0
                                           by default)
``depth``          [B, N, 1, H, W] f32     supervision GT z-depth in metres at the camera's real focal length,
                                           0 = none: projected LIDAR_TOP (``gt="lidar"``, sparse) or the
                                           synthetic world's dense depth (``gt="dense"``)
``depth_canon``    [B, N, 1, H, W] f32     ``depth * f_canonical / f_actual``: what the network predicts
``depth_dense``    [B, N, 1, H, W] f32     dense GT where the dataset has it (synthetic world), else zeros;
                                           for evaluation and the synthetic stand-in teacher, never a loss
``semantic``       [B, N, H, W] i64        class per pixel (SEMANTIC_CLASSES) from the synthetic world's material
                                           maps; SEMANTIC_IGNORE where the dataset has none (real data, old worlds)
``index``          [B] i64                 sample index (seeds per-sample randomness, e.g. the stand-in teacher)
``K``              [B, N, 3, 3] f32        intrinsics at H x W
``focal_scale``    [B, N] f32              f_actual / f_canonical (multiply predictions by it for metres)
``T_ego_cam``      [B, N, 4, 4] f32        camera -> ego extrinsics
``T_ref_cam``      [B, N, 4, 4] f32        camera -> the ego frame at the set's first camera's timestamp (ego
                                           motion between the cameras' exposures included): the frame in
                                           which the views of one set meet (VR-KD correspondences)
=================  ======================  ================================================================

Sparse GT: the LIDAR_TOP sweep nearest in time to each camera set (the key frame's own sweep for key frames),
projected with the devkit's pose chain (ego motion between the LiDAR and camera timestamps included);
``lidar_sweeps=n`` aggregates the n nearest sweeps (static scene assumption: moving objects smear), and
``lidar_objects="follow"`` carries what moves with its annotated 3D box to the camera's timestamp (``objects.py``).

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
from ..networks.student import StudentConfig
from ..files import BadFile, read_rgb
from ..geometry import camera_channels, pose_from_record, splat_depth
from ..synth.writer import dense_depth_path
from .objects import OBJECT_MODES, ObjectTracks, lidar_depth_map_objects

BATCH_KEYS = ("image", "depth", "depth_canon", "depth_dense", "semantic", "K", "focal_scale", "T_ego_cam", "T_ref_cam",
              "index")
# The auxiliary semantic head's classes (model.semantic_classes = len) and how the world's materials map onto them
# (synth.world.MATERIAL_NAMES; the material map holds 255 where a ray sees sky).
SEMANTIC_CLASSES = ("sky", "road", "ground", "building", "vehicle", "pole", "foliage", "clutter")
SEMANTIC_IGNORE = 255
_MATERIAL_CLASS = {"road": "road", "grass": "ground", "sidewalk": "ground", "building": "building",
                   "car_body": "vehicle", "car_glass": "vehicle", "pole": "pole", "trunk": "pole",
                   "foliage": "foliage", "clutter": "clutter"}


def material_to_class() -> np.ndarray:
    """uint8 [256] lookup: material id -> SEMANTIC_CLASSES index (255 = sky -> "sky"; unknown ids ignored)."""
    from ..synth.render import SKY_ID
    from ..synth.world import MATERIAL_NAMES

    lut = np.full(256, SEMANTIC_IGNORE, np.uint8)
    for i, name in enumerate(MATERIAL_NAMES):
        lut[i] = SEMANTIC_CLASSES.index(_MATERIAL_CLASS[name])
    lut[SKY_ID] = SEMANTIC_CLASSES.index("sky")
    return lut
GT_KINDS = ("lidar", "dense")


def scale_K(K: np.ndarray, src_wh, dst_wh) -> np.ndarray:
    sx, sy = dst_wh[0] / src_wh[0], dst_wh[1] / src_wh[1]
    K2 = np.array(K, dtype=np.float64).copy()
    K2[0, 0] *= sx
    K2[1, 1] *= sy
    K2[0, 2] = (K2[0, 2] + 0.5) * sx - 0.5
    K2[1, 2] = (K2[1, 2] + 0.5) * sy - 0.5
    return K2


def lidar_depth_map(nusc, lidar_tokens, cam_token: str, width: int, height: int, out_wh=None) -> np.ndarray:
    """Sparse z-depth from LIDAR_TOP sweep(s) projected with the devkit's pose chain.

    ``width``/``height``: the camera image size; ``out_wh``: the map size (default the image size). Points are
    placed at the target resolution directly (a sparse map must not be resampled: most points would be lost).
    """
    ow, oh = out_wh or (width, height)
    if isinstance(lidar_tokens, str):
        lidar_tokens = [lidar_tokens]
    us, vs, ds = [], [], []
    for tok in lidar_tokens:
        pts, depth, _ = nusc.explorer.map_pointcloud_to_image(tok, cam_token)
        us.append(pts[0]), vs.append(pts[1]), ds.append(depth)
    return splat_depth(np.concatenate(us), np.concatenate(vs), np.concatenate(ds), (width, height), (ow, oh))


@dataclass
class SurroundSample:
    tokens: list[str]  # camera sample_data tokens, ring order
    lidar_token: str | None  # key frame LIDAR_TOP, None for camera sweeps
    scene: str = ""


_MATERIAL_LUT = material_to_class()


class SurroundDataset(Dataset):
    """Camera sets of the given scenes, preprocessed to ``input_hw`` and held in memory (uint8 / float16)."""

    def __init__(self, dataroot, version: str, scenes=None, input_hw=(128, 224), canonical_focal_px=177.3,
                 sweeps: bool = False, gt: str = "lidar", lidar_sweeps: int = 1, progress: bool = True, nusc=None,
                 depth_dtype=np.float32, cache_dir=None, cameras=CAMERAS, mean=None, std=None, geometry_inputs=(),
                 lidar_objects: str = "static"):
        from nuscenes.nuscenes import NuScenes

        self.root = Path(dataroot)
        self.cameras = tuple(cameras)  # the rig's cameras, ring order: batches are [B, len(cameras), ...]
        norm = StudentConfig()  # the model's normalisation unless the caller passes its model's own
        self.mean = np.asarray(norm.mean if mean is None else mean, np.float32)
        self.std = np.asarray(norm.std if std is None else std, np.float32)
        if nusc is None and not (self.root / version / "sample.json").is_file():  # the devkit only asserts
            raise ValueError(f"{self.root}: not a nuScenes-format dataroot (expected {version}/sample.json there)")
        self.nusc = nusc or NuScenes(version=version, dataroot=str(self.root), verbose=False)
        self.h, self.w = input_hw
        self.f_canon = canonical_focal_px
        self.geometry_inputs = tuple(geometry_inputs)
        self._geometry: dict[bytes, np.ndarray] = {}  # camera_channels per (K, T): one per camera and rig
        names = set(scenes) if scenes else {s["name"] for s in self.nusc.scene}
        unknown = names - {s["name"] for s in self.nusc.scene}
        if unknown:
            raise ValueError(f"unknown scenes {sorted(unknown)} in {self.root}")
        if gt not in GT_KINDS:
            raise ValueError(f"gt must be one of {GT_KINDS}, got {gt!r}")
        if lidar_sweeps < 1:
            raise ValueError(f"lidar_sweeps must be >= 1, got {lidar_sweeps}")
        self.gt, self.lidar_sweeps = gt, lidar_sweeps
        if lidar_objects not in OBJECT_MODES:
            raise ValueError(f"lidar_objects must be one of {OBJECT_MODES}, got {lidar_objects!r}")
        self.lidar_objects, self.tracks = lidar_objects, None
        if lidar_objects != "static" and gt == "lidar":
            self.tracks = ObjectTracks(self.nusc, names)
            if not self.tracks.n_annotations:
                raise ValueError(f"{self.root}: lidar_objects={lidar_objects!r} needs 3D box annotations, but "
                                 f"{version}/sample_annotation.json has none for scenes {sorted(names)} (a world "
                                 "rendered before fsmde-synth wrote them: render it again; or lidar_objects: static)")
        self.scenes = sorted(names)
        samples = self._index(names, sweeps)
        self._lidar = self._lidar_index(names)
        cache = self._cache_path(cache_dir, samples, depth_dtype)
        if cache is not None and cache.exists():
            self._read_cache(cache, samples)
            if progress:
                print(f"loaded {len(self.samples)} camera sets of {self.root} from the cache {cache}")
            return
        n, c = len(samples), len(self.cameras)
        self.images = np.empty((n, c, self.h, self.w, 3), np.uint8)
        self.depths = np.empty((n, c, self.h, self.w), depth_dtype)
        self.dense_depths = np.zeros((n, c, self.h, self.w), depth_dtype)
        self.semantic = np.full((n, c, self.h, self.w), SEMANTIC_IGNORE, np.uint8)
        self.K = np.empty((n, c, 3, 3), np.float32)
        self.T = np.empty((n, c, 4, 4), np.float32)
        self.E = np.empty((n, c, 4, 4), np.float64)  # ego -> global at each camera's timestamp
        self.samples, self.skipped = [], []  # skipped: {"tokens", "reason"} of sets with a bad file
        for s in tqdm(samples, desc=f"loading {self.root.name}", disable=not progress):
            try:
                self._load(len(self.samples), s)
                self.samples.append(s)
            except (BadFile, OSError, ValueError, zipfile.BadZipFile, KeyError) as e:
                self.skipped.append({"tokens": s.tokens, "reason": f"{type(e).__name__}: {e}"})
        k = len(self.samples)
        self.images, self.depths, self.K, self.T = self.images[:k], self.depths[:k], self.K[:k], self.T[:k]
        self.E = self.E[:k]
        self.dense_depths, self.semantic = self.dense_depths[:k], self.semantic[:k]
        if self.skipped:
            print(f"warning: {self.root}: skipped {len(self.skipped)} of {n} camera sets with bad files "
                  f"(first: {self.skipped[0]['reason']}); the other {k} are used")
        if k == 0:
            raise ValueError(f"{self.root}: no usable camera set in scenes {sorted(names)}")
        if cache is not None:
            self._write_cache(cache)

    # The preprocessed arrays, keyed by everything that shapes them (a rerun with the same data skips decoding).
    def _cache_path(self, cache_dir, samples, depth_dtype):
        if not cache_dir:
            return None
        import hashlib
        import json

        key = json.dumps({"v": 2, "root": str(self.root.resolve()), "tokens": [s.tokens for s in samples],
                          "hw": [self.h, self.w], "gt": self.gt, "lidar_sweeps": self.lidar_sweeps,
                          **({"lidar_objects": self.lidar_objects} if self.tracks is not None else {}),
                          "dtype": np.dtype(depth_dtype).name, "mtime": (self.root / "synth").exists() and
                          (self.root / "synth" / "meta.json").stat().st_mtime})
        return Path(cache_dir) / f"surround_{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"

    def _write_cache(self, path: Path):
        import json
        import os

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
        kept = [s.tokens for s in self.samples]
        np.savez(tmp, images=self.images, depths=self.depths, dense=self.dense_depths, semantic=self.semantic,
                 K=self.K, T=self.T, E=self.E,
                 kept=np.array(json.dumps(kept)), skipped=np.array(json.dumps(self.skipped)))
        os.replace(tmp, path)

    def _read_cache(self, path: Path, samples):
        import json

        with np.load(path, allow_pickle=False) as z:
            self.images, self.depths, self.dense_depths = z["images"], z["depths"], z["dense"]
            self.K, self.T, self.E = z["K"], z["T"], z["E"]
            # caches written before the material maps: no labels (such a world has no maps either)
            self.semantic = (z["semantic"] if "semantic" in z.files
                             else np.full(self.dense_depths.shape, SEMANTIC_IGNORE, np.uint8))
            kept = {tuple(t) for t in json.loads(str(z["kept"]))}
            self.skipped = json.loads(str(z["skipped"]))
        self.samples = [s for s in samples if tuple(s.tokens) in kept]

    def _index(self, names, sweeps):
        out = []
        for scene in self.nusc.scene:
            if scene["name"] not in names:
                continue
            tok = scene["first_sample_token"]
            while tok:
                sample = self.nusc.get("sample", tok)
                missing = [c for c in self.cameras if c not in sample["data"]]
                if missing:
                    raise ValueError(f"{self.root}: sample {tok} has no {missing} (data.cameras names the channels "
                                     f"of the rig; this dataset has {sorted(sample['data'])})")
                out.append(SurroundSample([sample["data"][c] for c in self.cameras], sample["data"].get("LIDAR_TOP"),
                                          scene["name"]))
                if sweeps:  # follow each camera's chain to the next key frame, pairing the k-th sweeps
                    chains = []
                    for c in self.cameras:
                        sd, chain = self.nusc.get("sample_data", sample["data"][c]), []
                        while sd["next"]:
                            sd = self.nusc.get("sample_data", sd["next"])
                            if sd["is_key_frame"]:
                                break
                            chain.append(sd["token"])
                        chains.append(chain)
                    for k in range(min(map(len, chains))):
                        out.append(SurroundSample([ch[k] for ch in chains], None, scene["name"]))
                tok = sample["next"]
        return out

    def _lidar_index(self, names) -> dict[str, tuple[np.ndarray, list[str]]]:
        """Per scene: LIDAR_TOP sample_data timestamps (sorted) and tokens, key frames and sweeps."""
        out = {}
        for scene in self.nusc.scene:
            if scene["name"] not in names:
                continue
            first = self.nusc.get("sample", scene["first_sample_token"])
            tok = first["data"].get("LIDAR_TOP")
            if tok is None:
                continue
            sd = self.nusc.get("sample_data", tok)
            while sd["prev"]:
                sd = self.nusc.get("sample_data", sd["prev"])
            stamps, toks = [], []
            while True:
                stamps.append(sd["timestamp"]), toks.append(sd["token"])
                if not sd["next"]:
                    break
                sd = self.nusc.get("sample_data", sd["next"])
            out[scene["name"]] = (np.array(stamps, np.int64), toks)
        return out

    def lidar_tokens_for(self, s: SurroundSample) -> list[str]:
        """The ``lidar_sweeps`` LIDAR_TOP sweeps nearest in time to the set's CAM_FRONT (key frame's own first)."""
        if s.scene not in self._lidar:
            return [s.lidar_token] if s.lidar_token else []
        stamps, toks = self._lidar[s.scene]
        t = self.nusc.get("sample_data", s.tokens[0])["timestamp"]
        nearest = np.argsort(np.abs(stamps - t), kind="stable")[:self.lidar_sweeps]
        chosen = [toks[k] for k in nearest]
        if s.lidar_token and s.lidar_token in chosen:
            chosen.remove(s.lidar_token)
            chosen = [s.lidar_token] + chosen
        return chosen

    def _load(self, i, s: SurroundSample):
        lidar = self.lidar_tokens_for(s) if self.gt == "lidar" else []
        for j, tok in enumerate(s.tokens):
            sd = self.nusc.get("sample_data", tok)
            cs = self.nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
            src = (sd["width"], sd["height"])
            img = read_rgb(self.root / sd["filename"])
            self.images[i, j] = cv2.resize(img, (self.w, self.h), interpolation=cv2.INTER_AREA)
            dpath = dense_depth_path(self.root, sd["filename"])
            dense = None
            if dpath.exists():
                with np.load(dpath) as z:
                    dense = z["depth"]
                    material = z["material"] if "material" in z.files else None
                if material is not None:
                    if material.shape != dense.shape:
                        raise BadFile(f"material map in {dpath} is {material.shape}, expected {dense.shape}")
                    self.semantic[i, j] = _MATERIAL_LUT[self._resize_depth(material)]
                if dense.shape != (src[1], src[0]):
                    raise BadFile(f"dense depth {dpath} is {dense.shape}, expected {(src[1], src[0])}")
                # float16 storage (training sets) tops out at 65504 m: far grazing ground saturates, never inf
                self.dense_depths[i, j] = np.minimum(self._resize_depth(dense), np.finfo(self.dense_depths.dtype).max)
            if self.gt == "dense":
                if dense is None:
                    raise BadFile(f"gt='dense' but {dpath} does not exist (only the synthetic world has dense GT)")
                self.depths[i, j] = self.dense_depths[i, j]
            elif lidar and self.tracks is not None:
                self.depths[i, j] = lidar_depth_map_objects(self.nusc, self.tracks, lidar, tok, self.lidar_objects,
                                                            (self.w, self.h))
            else:
                self.depths[i, j] = (lidar_depth_map(self.nusc, lidar, tok, *src, out_wh=(self.w, self.h))
                                     if lidar else 0.0)
            self.K[i, j] = scale_K(np.array(cs["camera_intrinsic"]), src, (self.w, self.h))
            self.T[i, j] = pose_from_record(cs)
            self.E[i, j] = pose_from_record(self.nusc.get("ego_pose", sd["ego_pose_token"]))

    def _resize_depth(self, d: np.ndarray) -> np.ndarray:
        """Nearest neighbour at the pixel centres of the target grid (exact values, no blending)."""
        H, W = d.shape
        v = np.clip(((np.arange(self.h) + 0.5) * H / self.h).astype(int), 0, H - 1)
        u = np.clip(((np.arange(self.w) + 0.5) * W / self.w).astype(int), 0, W - 1)
        return d[v[:, None], u[None, :]]

    def __len__(self):
        return len(self.samples)

    def set_stamps(self) -> np.ndarray:
        """[S, N] int64 sample_data timestamps (µs) of every camera set."""
        return np.array([[self.nusc.get("sample_data", t)["timestamp"] for t in s.tokens] for s in self.samples],
                        dtype=np.int64)

    def set_scenes(self) -> list[str]:
        return [s.scene for s in self.samples]

    def geometry(self, K: np.ndarray, T: np.ndarray) -> np.ndarray:
        key = K.tobytes() + T.tobytes()
        if key not in self._geometry:
            self._geometry[key] = camera_channels(K, T, (self.h, self.w), self.f_canon, self.geometry_inputs)
        return self._geometry[key]

    def __getitem__(self, i):
        img = ((self.images[i].astype(np.float32) / 255.0 - self.mean) / self.std).transpose(0, 3, 1, 2)
        K = self.K[i]
        if self.geometry_inputs:
            img = np.concatenate([img, np.stack([self.geometry(K[j], self.T[i, j]) for j in range(len(K))])], 1)
        fs = (K[:, 0, 0] + K[:, 1, 1]) / 2 / self.f_canon
        depth = self.depths[i][:, None].astype(np.float32)
        return {
            "index": torch.tensor(i, dtype=torch.int64),
            "depth_dense": torch.from_numpy(self.dense_depths[i][:, None].astype(np.float32)),
            "semantic": torch.from_numpy(self.semantic[i].astype(np.int64)),
            "image": torch.from_numpy(np.ascontiguousarray(img)),
            "depth": torch.from_numpy(depth),
            "depth_canon": torch.from_numpy(depth / fs[:, None, None, None]),
            "K": torch.from_numpy(K),
            "focal_scale": torch.from_numpy(fs.astype(np.float32)),
            "T_ego_cam": torch.from_numpy(self.T[i]),
            "T_ref_cam": torch.from_numpy((np.linalg.inv(self.E[i, 0]) @ self.E[i] @ self.T[i]).astype(np.float32)),
        }
