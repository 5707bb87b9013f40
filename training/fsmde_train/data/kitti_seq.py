"""KITTI raw as a two-camera rig sequence (issue 14: the test-time-adaptation demo on real frames).

The left and right colour cameras (image_02, image_03) are the rig: the right one is the left's spatial
neighbour (a 0.54 m metric baseline). Extrinsics and K come from ``data/real.py``'s KITTI reader (vehicle frame
= the Velodyne's lowered to the road). The ego motion comes from the drive's GPS/IMU (``oxts/data/*.txt``:
latitude, longitude, altitude, roll, pitch, yaw -> a Mercator pose as in the KITTI devkit) and
``calib_imu_to_velo.txt``. (The ``image_02/poses.txt`` packnet-sfm ships beside it is not used: its steps are
0.46-0.54 m per frame where the oxts forward speed, 8.7 m/s at 10 Hz, says ~0.9 m, and warping with it leaves
the photometric error near that of no motion.) Stamps from ``image_0x/timestamps.txt``. LiDAR depth is kept per view for
*evaluation only*: the loader never puts it in a training sample (``depth`` is zero).

The class has the interface ``SurroundSequence`` reads (``set_stamps``, ``set_scenes``, ``E``, ``T``, ``root``,
``__getitem__``), like ``BagSurround``.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np

from ..geometry import make_pose
from .real import KITTI_VELO_HEIGHT, RealDataError, _kitti_calib, _need, load_kitti_raw
from .rig_sequence import RigSequence

KITTI_CAMERAS = ("image_02", "image_03")


def oxts_poses(paths) -> np.ndarray:
    """IMU -> world poses [F, 4, 4] from KITTI oxts packets (the devkit's Mercator projection, scale from the first
    latitude; R = Rz(yaw) Ry(pitch) Rx(roll)); the first pose's position is the origin."""
    rows = []
    for p in paths:
        vals = np.array(_need(Path(p), "a KITTI oxts packet (30 numbers)").read_text().split(), dtype=np.float64)
        if len(vals) < 6:
            raise RealDataError(f"{p}: {len(vals)} numbers; expected a KITTI oxts packet (lat lon alt roll pitch yaw ...)")
        rows.append(vals[:6])
    rows = np.array(rows)
    er = 6378137.0
    scale = np.cos(np.radians(rows[0, 0]))
    out = []
    for lat, lon, alt, roll, pitch, yaw in rows:
        t = [scale * er * np.radians(lon), scale * er * np.log(np.tan(np.radians(90 + lat) / 2)), alt]
        cr, sr, cp, sp, cy, sy = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
        Rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
        Ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
        Rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
        out.append(make_pose(Rz @ Ry @ Rx, t))
    out = np.array(out)
    out[:, :3, 3] -= out[0, :3, 3]
    return out


def _stamps(path: Path) -> np.ndarray:
    if not path.is_file():
        raise RealDataError(f"{path}: not found; expected one 'YYYY-MM-DD HH:MM:SS.fffffffff' line per frame")
    out = []
    for line in path.read_text().split("\n"):
        if line.strip():
            day, frac = line.strip().split(".")
            t = datetime.strptime(day, "%Y-%m-%d %H:%M:%S").timestamp()
            out.append(int(round(t * 1e6)) + int(frac[:6].ljust(6, "0")))
    return np.array(out, np.int64)


class KittiStereoSequence(RigSequence):
    def __init__(self, root, input_hw=(128, 224), canonical_focal_px: float = 177.3, geometry_inputs=(),
                 mean=None, std=None):
        super().__init__(root, input_hw, canonical_focal_px, geometry_inputs, mean, std)
        self.cameras = KITTI_CAMERAS
        per_cam = {c: {v.frame: v for v in load_kitti_raw(self.root, c)} for c in self.cameras}
        frames = sorted(set(per_cam["image_02"]) & set(per_cam["image_03"]))
        if not frames:
            raise RealDataError(f"{root}: no frame with both image_02 and image_03 and their LiDAR depth")
        drives = {f.split("/")[0] for f in frames}
        if len(drives) != 1:
            raise RealDataError(f"{root}: {len(drives)} drives; the sequence reader takes one drive")
        drive = next(iter(self.root.glob(f"*/{next(iter(drives))}")))
        idx = [int(f.split("/")[1]) for f in frames]
        T_world_imu = oxts_poses([drive / "oxts" / "data" / f"{k:010d}.txt" for k in idx])
        iv = _kitti_calib(_need(drive.parent / "calib_imu_to_velo.txt", "KITTI IMU -> Velodyne calibration (R, T)"))
        try:
            T_velo_imu = make_pose(iv["R"].reshape(3, 3), iv["T"])
        except KeyError as e:
            raise RealDataError(f"{drive.parent / 'calib_imu_to_velo.txt'}: no {e}; expected R and T") from e
        T_vehicle_velo = make_pose(np.eye(3), [0.0, 0.0, KITTI_VELO_HEIGHT])
        stamps = np.stack([_stamps(drive / c / "timestamps.txt") for c in self.cameras], 1)  # [F, 2]
        self.views = [[per_cam[c][f] for c in self.cameras] for f in frames]
        S, n = len(frames), len(self.cameras)
        self.stamps = stamps[idx]
        self.images = np.empty((S, n, self.h, self.w, 3), np.uint8)
        self.K = np.empty((S, n, 3, 3), np.float32)
        self.T = np.empty((S, n, 4, 4), np.float32)
        self.E = np.empty((S, n, 4, 4), np.float64)
        for s, vs in enumerate(self.views):
            E = T_world_imu[s] @ np.linalg.inv(T_velo_imu) @ np.linalg.inv(T_vehicle_velo)  # vehicle -> world
            for c, v in enumerate(vs):
                self._put(s, c, v)
                self.E[s, c] = E  # both cameras expose together
        self.scene_name = self.views[0][0].frame.split("/")[0]
