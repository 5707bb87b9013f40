"""Readers for real driving frames: a nuScenes key frame (BEVDet sample layout), a DDAD scene (DGP JSON + npz,
no ``dgp`` library) and KITTI raw (calibration text + projected velodyne depth). Each gives ``RealView``s with
everything evaluation needs and nothing dataset-specific: the image file, K at the image's resolution, the
camera pose in a gravity-aligned vehicle frame whose z = 0 is the road, and sparse ground truth as pixel samples.

Evaluation only: these are a few frames (../shared/real, see its README), never training data. A folder that is
incomplete or in an unknown layout raises ``RealDataError`` naming the missing file and what was expected.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..geometry import make_pose, quat_to_matrix

# KITTI's Velodyne HDL-64E sits 1.73 m above the road (Geiger et al., IJRR 2013, Fig. 3).
KITTI_VELO_HEIGHT = 1.73


class RealDataError(ValueError):
    """A real-data folder that cannot be read: the message names the file and what was expected."""


@dataclass
class RealView:
    dataset: str  # "nuscenes" | "ddad" | "kitti" (also the evaluation protocol's range)
    frame: str
    camera: str
    image_path: Path
    K: np.ndarray  # 3x3 at the image's resolution
    size: tuple[int, int]  # width, height
    T_vehicle_cam: np.ndarray  # 4x4 optical camera frame -> vehicle frame (x forward, z up, z = 0 on the road)
    gt_uvz: np.ndarray  # [M, 3] pixel u, v (pixel centres at integers) and z-depth in metres, at ``size``

    def gt_depth(self, hw: tuple[int, int]) -> np.ndarray:
        """Sparse GT z-depth [h, w] at another resolution (0 = none; nearest return kept per pixel)."""
        h, w = hw
        sx, sy = w / self.size[0], h / self.size[1]
        u = np.floor((self.gt_uvz[:, 0] + 0.5) * sx).astype(np.int64)
        v = np.floor((self.gt_uvz[:, 1] + 0.5) * sy).astype(np.int64)
        z = self.gt_uvz[:, 2]
        ok = (u >= 0) & (u < w) & (v >= 0) & (v < h) & (z > 0)
        out = np.full(h * w, np.inf, np.float32)
        np.minimum.at(out, v[ok] * w + u[ok], z[ok].astype(np.float32))
        out[~np.isfinite(out)] = 0.0
        return out.reshape(h, w)


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise RealDataError(f"{path}: missing; expected {what}")
    return path


def project(points_cam: np.ndarray, K: np.ndarray, size: tuple[int, int], min_z: float = 0.1) -> np.ndarray:
    """Camera-frame points [M, 3] -> [k, 3] (u, v, z) of those in front of the camera and inside the image."""
    z = points_cam[:, 2]
    front = z > min_z
    p = points_cam[front]
    u = K[0, 0] * p[:, 0] / p[:, 2] + K[0, 2]
    v = K[1, 1] * p[:, 1] / p[:, 2] + K[1, 2]
    inside = (u > -0.5) & (u < size[0] - 0.5) & (v > -0.5) & (v < size[1] - 0.5)
    return np.stack([u[inside], v[inside], p[inside, 2]], 1)


def _image_size(path: Path) -> tuple[int, int]:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise RealDataError(f"{path}: not a readable image")
    return img.shape[1], img.shape[0]


# ---- nuScenes key frame (BEVDet's sample yaml: cams.<CAM>.cam_intrinsic / sensor2ego_*, lidar2ego_*) ----------
def load_nuscenes_keyframe(root) -> list[RealView]:
    import yaml

    root = Path(root)
    meta = yaml.safe_load(_need(root / "sample0000.yaml", "the key frame's calibration (BEVDet sample yaml)")
                          .read_text())
    try:
        T_ego_lidar = make_pose(quat_to_matrix(meta["lidar2ego_rotation"]), meta["lidar2ego_translation"])
        cams = meta["cams"]
    except KeyError as e:
        raise RealDataError(f"{root / 'sample0000.yaml'}: no {e} entry; expected lidar2ego_* and cams") from e
    raw = np.fromfile(_need(root / "0.bin", "LIDAR_TOP as float32 x 5 (x, y, z, intensity, ring)"), np.float32)
    if raw.size % 5:
        raise RealDataError(f"{root / '0.bin'}: {raw.size} floats is not a multiple of 5 (x, y, z, intensity, ring)")
    pts = raw.reshape(-1, 5)[:, :3].astype(np.float64)
    pts_ego = pts @ T_ego_lidar[:3, :3].T + T_ego_lidar[:3, 3]
    views = []
    for name, c in cams.items():
        img = _need(root / "imgs" / f"{name}.jpg", f"the {name} image")
        K = np.asarray(c["cam_intrinsic"], np.float64)
        T = make_pose(quat_to_matrix(c["sensor2ego_rotation"]), c["sensor2ego_translation"])
        size = _image_size(img)
        if "sensor2lidar_rotation" in c:  # includes the ego motion between the sweep and this camera's exposure
            T_lidar_cam = make_pose(np.asarray(c["sensor2lidar_rotation"]), c["sensor2lidar_translation"])
            inv = np.linalg.inv(T_lidar_cam)
            pts_cam = pts @ inv[:3, :3].T + inv[:3, 3]
        else:
            inv = np.linalg.inv(T)
            pts_cam = pts_ego @ inv[:3, :3].T + inv[:3, 3]
        views.append(RealView("nuscenes", str(meta.get("token", "keyframe")), name, img, K, size, T,
                              project(pts_cam, K, size)))
    return views


# ---- DDAD scene in DGP format --------------------------------------------------------------------------------
def _dgp_pose(p: dict) -> np.ndarray:
    r, t = p["rotation"], p["translation"]
    return make_pose(quat_to_matrix([r["qw"], r["qx"], r["qy"], r["qz"]]), [t["x"], t["y"], t["z"]])


def load_ddad_scene(root) -> list[RealView]:
    """Every camera of every sample; LiDAR from the same sample, moved through the world poses into the camera
    (the datums are ~0.2 s apart within a sample). The vehicle frame is DGP's (the LiDAR's extrinsic is the
    identity); its z = 0 lies on the road, which the ground prior relies on (cameras at z ~ 1.36 m)."""
    root = Path(root)
    scenes = sorted(root.glob("scene_*.json"))
    if not scenes:
        raise RealDataError(f"{root}: no scene_*.json; expected a DGP scene folder (scene JSON, calibration/, rgb/, "
                            f"point_cloud/)")
    scene = json.loads(scenes[0].read_text())
    data = {d["key"]: d for d in scene["data"]}
    views = []
    for si, sample in enumerate(scene["samples"]):
        calib = json.loads(_need(root / "calibration" / f"{sample['calibration_key']}.json",
                                 "the sample's DGP calibration").read_text())
        cal = {n: (intr, ext) for n, intr, ext in zip(calib["names"], calib["intrinsics"], calib["extrinsics"])}
        datums = [data[k] for k in sample["datum_keys"] if k in data]
        lidar = next((d for d in datums if "point_cloud" in d["datum"]), None)
        if lidar is None:
            raise RealDataError(f"{scenes[0]}: sample {si} has no point_cloud datum; expected LiDAR ground truth")
        pc = lidar["datum"]["point_cloud"]
        with np.load(_need(root / pc["filename"], "the LiDAR sweep (npz key 'data': x, y, z, intensity)")) as z:
            pts = z["data"][:, :3].astype(np.float64)
        T_world_lidar = _dgp_pose(pc["pose"])
        pts_world = pts @ T_world_lidar[:3, :3].T + T_world_lidar[:3, 3]
        for d in datums:
            if "image" not in d["datum"]:
                continue
            im, name = d["datum"]["image"], d["id"]["name"]
            intr, ext = cal[name]
            K = np.array([[intr["fx"], intr.get("skew", 0.0), intr["cx"]], [0, intr["fy"], intr["cy"]], [0, 0, 1.0]])
            T_cam_world = np.linalg.inv(_dgp_pose(im["pose"]))
            pc_cam = pts_world @ T_cam_world[:3, :3].T + T_cam_world[:3, 3]
            size = (int(im["width"]), int(im["height"]))
            T_vehicle_cam = _dgp_pose(ext)  # DGP extrinsics: the sensor's pose in the vehicle frame
            views.append(RealView("ddad", f"{scene.get('name') or scenes[0].stem}/{si}", name,
                                  _need(root / im["filename"], f"the {name} image"), K, size, T_vehicle_cam,
                                  project(pc_cam, K, size)))
    return views


# ---- KITTI raw: calib_*.txt + image_02/data/*.png + proj_depth/velodyne/image_02/*.npz ------------------------
def _kitti_calib(path: Path) -> dict:
    out = {}
    for line in _need(path, "KITTI calibration text ('KEY: numbers' lines)").read_text().splitlines():
        key, _, vals = line.partition(":")
        try:
            out[key.strip()] = np.array([float(x) for x in vals.split()])
        except ValueError:
            pass  # calib_time and the like
    return out


def load_kitti_raw(root, camera: str = "image_02") -> list[RealView]:
    """Left colour camera of every frame that has a projected-velodyne depth map. K = P_rect_02's; the vehicle
    frame is the Velodyne's, lowered by its 1.73 m mounting height so that z = 0 is the road."""
    root = Path(root)
    days = [p for p in sorted(root.iterdir()) if p.is_dir() and (p / "calib_cam_to_cam.txt").exists()] \
        if root.is_dir() else []
    if not days:
        raise RealDataError(f"{root}: no <date>/calib_cam_to_cam.txt; expected KITTI raw (date folders with "
                            f"calibration and <date>_drive_XXXX_sync/)")
    views = []
    for day in days:
        cc, vc = _kitti_calib(day / "calib_cam_to_cam.txt"), _kitti_calib(day / "calib_velo_to_cam.txt")
        idx = camera[-2:]
        try:
            P = cc[f"P_rect_{idx}"].reshape(3, 4)
            R_rect = np.eye(4)
            R_rect[:3, :3] = cc["R_rect_00"].reshape(3, 3)
            T_cam0_velo = make_pose(vc["R"].reshape(3, 3), vc["T"])
        except KeyError as e:
            raise RealDataError(f"{day}: calibration has no {e}; expected P_rect_{idx}, R_rect_00, R and T") from e
        K = P[:, :3]
        T_cam_velo = np.eye(4)
        T_cam_velo[0, 3] = P[0, 3] / P[0, 0]  # rectified camera i sits P[0, 3] / fx along x of rectified cam 0
        T_cam_velo = T_cam_velo @ R_rect @ T_cam0_velo
        T_vehicle_velo = make_pose(np.eye(3), [0.0, 0.0, KITTI_VELO_HEIGHT])
        T_vehicle_cam = T_vehicle_velo @ np.linalg.inv(T_cam_velo)
        for drive in sorted(day.glob("*_sync")):
            for dpath in sorted((drive / "proj_depth" / "velodyne" / camera).glob("*.npz")):
                img = _need(drive / camera / "data" / f"{dpath.stem}.png", f"the {camera} image of {dpath.name}")
                with np.load(dpath) as z:
                    if "velodyne_depth" not in z.files:
                        raise RealDataError(f"{dpath}: no 'velodyne_depth' array (has {z.files})")
                    d = z["velodyne_depth"]
                v, u = np.nonzero(d > 0)
                views.append(RealView("kitti", f"{drive.name}/{dpath.stem}", camera, img, K, (d.shape[1], d.shape[0]),
                                      T_vehicle_cam, np.stack([u, v, d[v, u]], 1).astype(np.float64)))
    if not views:
        raise RealDataError(f"{root}: no proj_depth/velodyne/{camera}/*.npz under any *_sync drive")
    return views


LAYOUTS = {"nuscenes": ("nuscenes_keyframe", load_nuscenes_keyframe), "ddad": ("ddad_scene", load_ddad_scene),
           "kitti": ("kitti_raw_tiny", load_kitti_raw)}


def load_real(root) -> dict[str, list[RealView]]:
    """Every dataset folder present under ``root`` (../shared/real's layout: nuscenes_keyframe/, ddad_scene/,
    kitti_raw_tiny/), or ``root`` itself when it is one of them."""
    root = Path(root)
    if not root.is_dir():
        raise RealDataError(f"{root}: not a folder; expected ../shared/real or one dataset folder in it")
    for name, (folder, fn) in LAYOUTS.items():
        if root.name == folder:
            return {name: fn(root)}
    found = {name: fn(root / folder) for name, (folder, fn) in LAYOUTS.items() if (root / folder).is_dir()}
    if not found:
        raise RealDataError(f"{root}: none of {[f for f, _ in LAYOUTS.values()]} found; expected the layout of "
                            f"../shared/real (see its README)")
    return found


def write_nuscenes_dataroot(keyframe_dir, out, version: str = "v1.0-real") -> Path:
    """The BEVDet-layout key frame as a minimal nuScenes dataroot (the 13 tables, the real JPEGs and the real
    5-float LIDAR_TOP .pcd.bin, the frame's own calibration and per-sensor ego poses), so the nuscenes-devkit
    path of SurroundDataset runs on real files. One scene, one sample, no annotations."""
    import hashlib
    import shutil

    import cv2
    import yaml

    src, out = Path(keyframe_dir), Path(out)
    meta = yaml.safe_load(_need(src / "sample0000.yaml", "the key frame's calibration (BEVDet sample yaml)")
                          .read_text())
    tok = lambda *p: hashlib.md5("/".join(map(str, p)).encode()).hexdigest()  # noqa: E731
    log, scene, sample = tok("log"), tok("scene"), tok("sample")
    t = {k: [] for k in ("category", "attribute", "visibility", "instance", "sample_annotation", "sensor",
                         "calibrated_sensor", "ego_pose", "sample_data")}
    t["log"] = [{"token": log, "logfile": "n015-2018-08-02-17-16-37+0800", "vehicle": "n015",
                 "date_captured": "2018-08-02", "location": "singapore-onenorth"}]
    t["map"] = [{"token": tok("map"), "log_tokens": [log], "category": "semantic_prior", "filename": "maps/blank.png"}]
    t["scene"] = [{"token": scene, "log_token": log, "nbr_samples": 1, "first_sample_token": sample,
                   "last_sample_token": sample, "name": "scene-real-0", "description": "one real key frame"}]
    t["sample"] = [{"token": sample, "timestamp": int(meta["timestamp"]), "scene_token": scene, "prev": "", "next": ""}]

    def add(channel, modality, rel, ts, K, rot_s2e, trans_s2e, rot_e2g, trans_e2g, wh):
        sd = tok("sd", channel)
        t["sensor"].append({"token": tok("sensor", channel), "channel": channel, "modality": modality})
        t["calibrated_sensor"].append({"token": tok("cs", channel), "sensor_token": tok("sensor", channel),
                                       "translation": list(trans_s2e), "rotation": list(rot_s2e),
                                       "camera_intrinsic": K})
        t["ego_pose"].append({"token": sd, "timestamp": ts, "rotation": list(rot_e2g), "translation": list(trans_e2g)})
        t["sample_data"].append({"token": sd, "sample_token": sample, "ego_pose_token": sd,
                                 "calibrated_sensor_token": tok("cs", channel), "timestamp": ts,
                                 "fileformat": "pcd" if modality == "lidar" else "jpg", "is_key_frame": True,
                                 "height": wh[1], "width": wh[0], "filename": rel, "prev": "", "next": ""})

    for name, c in meta["cams"].items():
        img = _need(src / "imgs" / f"{name}.jpg", f"the {name} image")
        rel = f"samples/{name}/{Path(c['data_path']).name}"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(img, out / rel)
        add(name, "camera", rel, int(c["timestamp"]), c["cam_intrinsic"], c["sensor2ego_rotation"],
            c["sensor2ego_translation"], c["ego2global_rotation"], c["ego2global_translation"], _image_size(img))
    rel = f"samples/LIDAR_TOP/{Path(meta['lidar_path']).name}"
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_need(src / "0.bin", "LIDAR_TOP as float32 x 5"), out / rel)
    add("LIDAR_TOP", "lidar", rel, int(meta["timestamp"]), [], meta["lidar2ego_rotation"],
        meta["lidar2ego_translation"], meta["ego2global_rotation"], meta["ego2global_translation"], (0, 0))
    (out / "maps").mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out / "maps" / "blank.png"), np.full((8, 8), 255, np.uint8))
    (out / version).mkdir(parents=True, exist_ok=True)
    for name, rows in t.items():
        (out / version / f"{name}.json").write_text(json.dumps(rows))
    return out  # poses and quaternions (w, x, y, z) are copied as the frame gives them
