"""Multi-sweep LiDAR GT with moving objects handled from the 3D box annotations (nuScenes ``sample_annotation``).

Aggregating sweeps with ego motion compensation assumes a static world: a vehicle moving at 9 m/s lands up to 0.9 m
off in a sweep 0.1 s from the camera, and near vehicles are where that matters most. ``follow`` moves every sweep's
points inside a moving box with the box to the camera's timestamp (box-local coordinates at the sweep's time -> the
box at the camera's time), the nearest sweep's too. (Dropping those points from all but the nearest sweep was
measured and is worse than doing nothing: the background the other sweeps saw where the vehicle is now stays, and
with the vehicle's own points sparse it wins the z-buffer there. RESULTS.md, "Five sweeps with the moving
vehicles carried by their boxes".)

Boxes between key frames are interpolated per instance (centre linearly, heading by slerp; up to half a key-frame
period beyond an instance's first and last annotation along its end velocity). "Moving": > ``MOVING_SPEED``.
Points in the lowest ``GROUND_CLEARANCE`` of a box stay static (the road under and beside the tyres).
Not handled (as with any sweep aggregation): occlusion. A point one sweep saw beside or under a vehicle that hides it
at the camera's time stays where it is; with the smear gone it is no longer covered by a smeared vehicle point.
The projection is the devkit's ``map_pointcloud_to_image`` (min_dist 1 m, 1 px border), done here so the points
can be moved in the global frame.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from pyquaternion import Quaternion

from ..geometry import pose_from_record, splat_depth

OBJECT_MODES = ("static", "follow")
MOVING_SPEED = 0.5  # m/s: slower instances count as static (annotation jitter of parked cars is ~0.1-0.2 m/s)
GROUND_CLEARANCE = 0.1  # m
BOX_MARGIN = 0.1  # m added on each side (length, width, top): LiDAR returns sit on the surface


class ObjectTracks:
    """Every annotated instance of a dataset as a track (key-frame timestamps in µs, global centres, headings,
    size), per scene token."""

    def __init__(self, nusc, scenes=None):
        ts = {s["token"]: s["timestamp"] for s in nusc.sample}
        keep = None if scenes is None else {s["token"] for s in nusc.scene if s["name"] in set(scenes)}
        scene_of = {s["token"]: s["scene_token"] for s in nusc.sample}
        self.tracks: dict[str, list[dict]] = {}
        for inst in nusc.instance:
            tok, rows = inst["first_annotation_token"], []
            while tok:
                rows.append(nusc.get("sample_annotation", tok))
                tok = rows[-1]["next"]
            if not rows or (keep is not None and scene_of[rows[0]["sample_token"]] not in keep):
                continue
            self.tracks.setdefault(scene_of[rows[0]["sample_token"]], []).append({
                "t": np.array([ts[r["sample_token"]] for r in rows], np.int64),
                "c": np.array([r["translation"] for r in rows], np.float64),
                "q": [Quaternion(r["rotation"]) for r in rows], "wlh": np.array(rows[0]["size"], np.float64)})
        self.n_annotations = sum(len(t["t"]) for ts_ in self.tracks.values() for t in ts_)

    @staticmethod
    def box_at(tr: dict, t_us: int, reach_us: int = 250_000):
        """(centre [3], rotation [3, 3], wlh [3], speed m/s) of track ``tr`` at ``t_us``, or None outside its
        annotations by more than ``reach_us``."""
        t, c = tr["t"], tr["c"]
        if t_us < t[0] - reach_us or t_us > t[-1] + reach_us:
            return None
        if len(t) < 2:
            return c[0], tr["q"][0].rotation_matrix, tr["wlh"], 0.0
        k = int(np.clip(np.searchsorted(t, t_us) - 1, 0, len(t) - 2))  # the segment t[k]..t[k+1] (or an end's)
        a = (t_us - t[k]) / (t[k + 1] - t[k])
        speed = float(np.linalg.norm(c[k + 1, :2] - c[k, :2]) / ((t[k + 1] - t[k]) / 1e6))
        q = Quaternion.slerp(tr["q"][k], tr["q"][k + 1], float(np.clip(a, 0.0, 1.0)))
        return c[k] + a * (c[k + 1] - c[k]), q.rotation_matrix, tr["wlh"], speed

    def moving_pairs(self, scene_token: str, t_sweep: int, t_cam: int) -> list[tuple]:
        """((centre, R, wlh) at the sweep's time, (centre, R, wlh) at the camera's) of every instance of the scene
        moving faster than MOVING_SPEED at the sweep's time."""
        out = []
        for tr in self.tracks.get(scene_token, ()):
            then = self.box_at(tr, t_sweep)
            if then is None or then[3] <= MOVING_SPEED:
                continue
            now = self.box_at(tr, t_cam, reach_us=10 ** 12)
            out.append((then[:3], now[:3]))
        return out


def _inside(p_box: np.ndarray, wlh: np.ndarray) -> np.ndarray:
    w, l, h = wlh
    return ((np.abs(p_box[:, 0]) <= l / 2 + BOX_MARGIN) & (np.abs(p_box[:, 1]) <= w / 2 + BOX_MARGIN)
            & (p_box[:, 2] >= -h / 2 + GROUND_CLEARANCE) & (p_box[:, 2] <= h / 2 + BOX_MARGIN))


def follow_objects(pts: np.ndarray, pairs) -> np.ndarray:
    """Global points [N, 3] of one sweep with the points inside each moving box at the sweep's time carried to the
    box at the camera's time (``pairs`` from ``moving_pairs``)."""
    free = np.ones(len(pts), bool)  # a point belongs to one box at most
    out = pts.copy()
    for (c0, R0, wlh), (c1, R1, _) in pairs:
        p_box = (pts - c0) @ R0
        m = _inside(p_box, wlh) & free
        free &= ~m
        out[m] = p_box[m] @ R1.T + c1
    return out


def lidar_depth_map_objects(nusc, tracks: ObjectTracks, lidar_tokens: list[str], cam_token: str, mode: str,
                            out_wh) -> np.ndarray:
    """``surround.lidar_depth_map`` with moving objects handled by ``mode`` (see the module docstring); the first
    token is the sweep nearest the camera. ``static`` is the devkit's projection (tests compare them)."""
    from nuscenes.utils.data_classes import LidarPointCloud

    if mode not in OBJECT_MODES:
        raise ValueError(f"lidar object mode must be one of {OBJECT_MODES}, got {mode!r}")
    cam = nusc.get("sample_data", cam_token)
    width, height = cam["width"], cam["height"]
    cs_cam = nusc.get("calibrated_sensor", cam["calibrated_sensor_token"])
    T_cam = pose_from_record(nusc.get("ego_pose", cam["ego_pose_token"])) @ pose_from_record(cs_cam)
    to_cam = np.linalg.inv(T_cam)
    K = np.array(cs_cam["camera_intrinsic"], np.float64)
    us, vs, ds = [], [], []
    for tok in lidar_tokens:
        sd = nusc.get("sample_data", tok)
        pc = LidarPointCloud.from_file(str(Path(nusc.dataroot) / sd["filename"]))
        T = pose_from_record(nusc.get("ego_pose", sd["ego_pose_token"])) @ pose_from_record(
            nusc.get("calibrated_sensor", sd["calibrated_sensor_token"]))
        pts = pc.points[:3].T.astype(np.float64) @ T[:3, :3].T + T[:3, 3]
        if mode == "follow":
            scene = nusc.get("sample", sd["sample_token"])["scene_token"]
            pts = follow_objects(pts, tracks.moving_pairs(scene, sd["timestamp"], cam["timestamp"]))
        p = pts @ to_cam[:3, :3].T + to_cam[:3, 3]
        z = p[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = (p @ K.T)[:, :2] / z[:, None]
        m = (z > 1.0) & (uv[:, 0] > 1) & (uv[:, 0] < width - 1) & (uv[:, 1] > 1) & (uv[:, 1] < height - 1)
        us.append(uv[m, 0]), vs.append(uv[m, 1]), ds.append(z[m])
    return splat_depth(np.concatenate(us), np.concatenate(vs), np.concatenate(ds), (width, height), out_wh)


__all__ = ["OBJECT_MODES", "ObjectTracks", "follow_objects", "lidar_depth_map_objects"]
