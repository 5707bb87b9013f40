"""The sensor rig of the synthetic vehicle: nuScenes' n015 calibration, scaled to the rendered resolution."""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np
import yaml

from ..geometry import make_pose, quat_to_matrix

NUSC_WIDTH, NUSC_HEIGHT = 1600, 900

# Named resolutions (width, height); all keep nuScenes' 16:9 aspect so K scales uniformly.
PRESETS = {
    "full": (1600, 900),
    "medium": (800, 450),
    "small": (480, 270),
    "tiny": (192, 108),
}

LIDAR_HZ = 20.0
CAMERA_HZ = 12.0
KEYFRAME_HZ = 2.0


@dataclass(frozen=True)
class Sensor:
    channel: str
    modality: str  # "camera" | "lidar"
    translation: np.ndarray  # sensor -> ego, metres
    rotation_wxyz: np.ndarray
    K: np.ndarray | None  # 3x3 at the rendered resolution (cameras only)
    width: int = 0
    height: int = 0

    @property
    def T_ego_sensor(self) -> np.ndarray:
        return make_pose(quat_to_matrix(self.rotation_wxyz), self.translation)

    def yaw_deg(self) -> float:
        """Azimuth of the optical axis in the ego frame (x forward, y left), degrees."""
        z_axis = quat_to_matrix(self.rotation_wxyz)[:, 2]
        return float(np.degrees(np.arctan2(z_axis[1], z_axis[0])))


def load_rig(width: int = NUSC_WIDTH, height: int = NUSC_HEIGHT) -> dict[str, Sensor]:
    """Six cameras (ring order) and LIDAR_TOP, with K scaled from 1600x900 to ``width`` x ``height``."""
    if width <= 0 or height <= 0:
        raise ValueError(f"resolution must be positive, got {width}x{height}")
    text = resources.files(__package__).joinpath("nuscenes_rig_n015.yaml").read_text()
    cfg = yaml.safe_load(text)
    sx, sy = width / NUSC_WIDTH, height / NUSC_HEIGHT
    rig: dict[str, Sensor] = {}
    for name in cfg["camera_order"]:
        c = cfg["cameras"][name]
        K = np.array(c["K"], dtype=np.float64)
        K[0] *= sx
        K[1] *= sy
        rig[name] = Sensor(name, "camera", np.array(c["translation"]), np.array(c["rotation_wxyz"]), K, width, height)
    lid = cfg["lidar"]["LIDAR_TOP"]
    rig["LIDAR_TOP"] = Sensor("LIDAR_TOP", "lidar", np.array(lid["translation"]), np.array(lid["rotation_wxyz"]), None)
    return rig


def jitter_rig(rig: dict[str, Sensor], rng: np.random.Generator) -> dict[str, Sensor]:
    """Another vehicle of the same camera layout (domain randomisation, one draw per scene): the camera ring
    raised by -0.1..+0.5 m (mounting heights ~1.3-2.2 m with the tilt), tilted as a whole by pitch +-3 deg and roll +-1.5 deg
    about the ego origin, each camera off by up to 1 deg, and one focal factor 0.7-1.4 for all cameras
    (principal point kept). The LiDAR stays: projected GT follows the cameras' recorded calibration."""
    def rot(axis, deg):
        a = np.radians(deg)
        c, s = np.cos(a), np.sin(a)
        i, j = [(1, 2), (2, 0), (0, 1)][axis]
        R = np.eye(3)
        R[i, i] = R[j, j] = c
        R[i, j], R[j, i] = -s, s
        return R

    from ..geometry import matrix_to_quat

    dz = rng.uniform(-0.1, 0.5)
    R_body = rot(1, rng.uniform(-3, 3)) @ rot(0, rng.uniform(-1.5, 1.5))
    focal = rng.uniform(0.7, 1.4)
    out = {}
    for name, s in rig.items():
        if s.modality != "camera":
            out[name] = s
            continue
        T = s.T_ego_sensor
        R_cam = T[:3, :3] @ rot(0, rng.uniform(-1, 1)) @ rot(1, rng.uniform(-1, 1))  # in the camera's own axes
        t = R_body @ (T[:3, 3] + [0.0, 0.0, dz])
        K = s.K.copy()
        K[0, 0] *= focal
        K[1, 1] *= focal
        out[name] = Sensor(name, "camera", t, matrix_to_quat(R_body @ R_cam), K, s.width, s.height)
    return out


def camera_trigger_offsets(rig: dict[str, Sensor]) -> dict[str, float]:
    """Seconds after the LiDAR sweep start at which each camera fires.

    As in nuScenes, a camera is exposed when the spinning LiDAR crosses the centre of its field of view.
    Our sweep starts facing backwards (azimuth 180 deg) and turns clockwise seen from above, taking
    1 / LIDAR_HZ seconds; so the six stamps of one set spread over ~40 ms.
    """
    period = 1.0 / LIDAR_HZ
    out = {}
    for name, s in rig.items():
        if s.modality != "camera":
            continue
        swept = (180.0 - s.yaw_deg()) % 360.0  # clockwise = decreasing azimuth
        out[name] = swept / 360.0 * period
    return out
