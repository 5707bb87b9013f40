"""A DDAD scene (DGP format) as a surround camera sequence (issue 14: self-supervised training from DDAD sweeps).

Each DGP sample is one camera set. Everything comes from the scene's own files through ``data/real.py``'s reader
(no ``dgp`` library): images, K at the image's resolution, the camera's extrinsic in DGP's vehicle frame (z = 0 on
the road), and per image datum its world pose and timestamp, which give the ego motion between sets and between
the cameras of one set (``E``: vehicle -> world at each camera's exposure, DGP poses the sensor, not the vehicle).
The LiDAR is kept per view for *evaluation only*: it never enters a training sample (``depth`` is zero).

``cameras``: the image datums' names in ring order (the spatial term pairs ring neighbours), e.g. DDAD's
CAMERA_01 (front), CAMERA_05, CAMERA_06, ...; default: the first sample's cameras in the scene's order. A sample
without one of them is an error naming it. The interface is the one ``SurroundSequence`` reads (``set_stamps``,
``set_scenes``, ``E``, ``T``, ``root``, ``__getitem__``; data/rig_sequence.py), as ``BagSurround``.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .real import RealDataError, _dgp_pose, load_ddad_scene
from .rig_sequence import RigSequence


def dgp_stamp_us(s: str) -> int:
    """DGP's ISO-8601 datum timestamp ('2463-05-15T00:38:58.415230Z') -> microseconds since the epoch."""
    try:
        t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except (TypeError, ValueError) as e:
        raise RealDataError(f"DGP timestamp {s!r}: expected ISO 8601 like '2463-05-15T00:38:58.415230Z'") from e
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    delta = t - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def expand_ddad(paths) -> list[Path]:
    """DGP scene folders from ``paths``: each entry is a scene folder (holds scene_*.json) or a folder of them."""
    out = []
    for p in map(Path, paths):
        if any(p.glob("scene_*.json")):
            out.append(p)
            continue
        inner = sorted(q for q in p.iterdir() if q.is_dir() and any(q.glob("scene_*.json"))) if p.is_dir() else []
        if not inner:
            raise RealDataError(f"{p}: expected a DGP scene folder (with scene_*.json) or a folder of them")
        out.extend(inner)
    return out


class DdadSequence(RigSequence):
    def __init__(self, root, cameras=None, input_hw=(128, 224), canonical_focal_px: float = 177.3,
                 geometry_inputs=(), mean=None, std=None):
        super().__init__(root, input_hw, canonical_focal_px, geometry_inputs, mean, std)
        views = load_ddad_scene(self.root)  # checks the files; LiDAR projected per view
        scene_file = sorted(self.root.glob("scene_*.json"))[0]
        scene = json.loads(scene_file.read_text())
        data = {d["key"]: d for d in scene["data"]}
        by_set: dict[str, dict] = {}
        for v in views:
            by_set.setdefault(v.frame, {})[v.camera] = v
        frames = list(by_set)  # samples in the scene's order
        self.cameras = tuple(cameras) if cameras else tuple(by_set[frames[0]])
        meta = {}  # (sample index, camera) -> (T_world_cam, stamp_us)
        for si, sample in enumerate(scene["samples"]):
            for k in sample["datum_keys"]:
                d = data.get(k)
                if d is not None and "image" in d["datum"]:
                    meta[(si, d["id"]["name"])] = (_dgp_pose(d["datum"]["image"]["pose"]),
                                                   dgp_stamp_us(d["id"]["timestamp"]))
        S, n = len(frames), len(self.cameras)
        self.views = []
        self.images = np.empty((S, n, self.h, self.w, 3), np.uint8)
        self.K = np.empty((S, n, 3, 3), np.float32)
        self.T = np.empty((S, n, 4, 4), np.float32)
        self.E = np.empty((S, n, 4, 4), np.float64)
        self.stamps = np.empty((S, n), np.int64)
        for s, f in enumerate(frames):
            si = int(f.rsplit("/", 1)[1])
            row = []
            for c, name in enumerate(self.cameras):
                v = by_set[f].get(name)
                if v is None:
                    raise RealDataError(f"{scene_file}: sample {si} has no image datum of {name}; expected every camera "
                                        f"of {list(self.cameras)} in every sample")
                T_world_cam, self.stamps[s, c] = meta[(si, name)]
                self._put(s, c, v)
                self.E[s, c] = T_world_cam @ np.linalg.inv(v.T_vehicle_cam)  # vehicle -> world at this exposure
                row.append(v)
            self.views.append(row)
        self.scene_name = scene.get("name") or scene_file.stem
