"""nuScenes-format dataset (the real one or ours) -> ROS 2 rosbag2 (MCAP or sqlite3), one bag per scene.

Default topics (``{channel}`` is the nuScenes channel, e.g. CAM_FRONT, ``{channel_lower}`` the same in lowercase;
all templates configurable):

================================  ==============================  =====================================
topic                             type                            notes
================================  ==============================  =====================================
/{channel}/image_rect/compressed  sensor_msgs/CompressedImage     JPEG bytes as stored (image_mode=compressed)
/{channel}/image_rect             sensor_msgs/Image (rgb8)        decoded JPEG (image_mode=raw)
/{channel}/camera_info            sensor_msgs/CameraInfo          K as calibrated, P=[K|0], R=I, D=0
/LIDAR_TOP/points                 sensor_msgs/PointCloud2         x, y, z, intensity (float32), ring (uint16)
/tf_static                        tf2_msgs/TFMessage              base_link -> each sensor; transient-local
/tf                               tf2_msgs/TFMessage              map -> base_link at every ego_pose
/odom                             nav_msgs/Odometry               the same poses (frame map, child base_link),
                                                                  linear velocity from the previous pose
================================  ==============================  =====================================

Frame ids: ``base_link`` (ego), ``map`` (nuScenes global), and each sensor's channel name for its frame
(cameras: the optical frame, z forward, x right, y down, as nuScenes calibrates them).
Stamps: header stamp = bag time = the sample_data timestamp (µs -> ns).
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin, Writer

from ..files import jpeg_ok
from ..geometry import quat_to_matrix
from .messages import MessageFactory

CAMERA_CHANNELS = ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_FRONT_LEFT")
_ZERO = QosTime(sec=0, nsec=0)
_INFINITE = QosTime(sec=9223372036, nsec=854775807)
# What a latched /tf_static publisher offers (tf2_ros StaticTransformBroadcaster): reliable, transient local.
TF_STATIC_QOS = Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL, _INFINITE,
                    _INFINITE, QosLiveliness.AUTOMATIC, _INFINITE, False)
SENSOR_QOS = Qos(QosHistory.KEEP_LAST, 10, QosReliability.RELIABLE, QosDurability.VOLATILE, _INFINITE, _INFINITE,
                 QosLiveliness.AUTOMATIC, _INFINITE, False)


class ConversionError(RuntimeError):
    """Bad input that stops a conversion (missing dataroot, unknown scene, existing output...)."""


@dataclass(frozen=True)
class Topics:
    image: str = "/{channel}/image_rect"  # '/compressed' is appended in compressed mode (image_transport)
    camera_info: str = "/{channel}/camera_info"
    lidar: str = "/{channel}/points"
    frame: str = "{channel}"
    base_frame: str = "base_link"
    map_frame: str = "map"
    odometry: str = "/odom"


@dataclass(frozen=True)
class ConvertConfig:
    image_mode: str = "compressed"  # compressed | raw
    storage: str = "mcap"  # mcap | sqlite3
    distro: str = "kilted"
    lidar: bool = True
    tf: bool = True
    odometry: bool = True  # /tf map -> base_link and /odom at every ego_pose (off: extrinsics but no ego motion)
    verify_images: bool = False  # decode every JPEG (always done in raw mode)
    overwrite: bool = False
    topics: Topics = field(default_factory=Topics)


@dataclass
class SceneReport:
    scene: str
    bag: str
    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[dict] = field(default_factory=list)
    start_us: int = 0
    end_us: int = 0

    def as_dict(self) -> dict:
        return {"scene": self.scene, "bag": self.bag, "counts": self.counts, "skipped": self.skipped,
                "start_us": self.start_us, "end_us": self.end_us,
                "duration_s": (self.end_us - self.start_us) / 1e6}


def load_nuscenes(dataroot, version: str):
    """The real devkit's NuScenes, with clear errors for the usual mistakes."""
    root = Path(dataroot)
    if not root.is_dir():
        raise ConversionError(f"dataroot {str(root)!r} does not exist or is not a folder")
    if not (root / version).is_dir():
        found = sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "sample_data.json").exists())
        raise ConversionError(f"no table folder {version!r} under {root}; versions found there: {found or 'none'}")
    from nuscenes.nuscenes import NuScenes

    try:
        return NuScenes(version=version, dataroot=str(root), verbose=False)
    except (AssertionError, FileNotFoundError, KeyError, json.JSONDecodeError) as e:
        raise ConversionError(f"nuscenes-devkit could not load {version!r} from {root}: {e!r}") from e


def scene_by_name(nusc, name: str) -> dict:
    for s in nusc.scene:
        if s["name"] == name:
            return s
    names = [s["name"] for s in nusc.scene]
    shown = ", ".join(names[:20]) + (" ..." if len(names) > 20 else "")
    raise ConversionError(f"unknown scene {name!r}; {len(names)} scenes available: {shown}")


def scene_sample_data(nusc, scene: dict, channels) -> list[dict]:
    """Every sample_data (key frames and sweeps) of the scene's channels, in time order."""
    first = nusc.get("sample", scene["first_sample_token"])
    scene_samples = set()
    tok = scene["first_sample_token"]
    while tok:
        scene_samples.add(tok)
        tok = nusc.get("sample", tok)["next"]
    out = []
    for ch in channels:
        if ch not in first["data"]:
            continue
        sd = nusc.get("sample_data", first["data"][ch])
        while sd["prev"] and nusc.get("sample_data", sd["prev"])["sample_token"] in scene_samples:
            sd = nusc.get("sample_data", sd["prev"])
        while True:
            out.append(sd)
            if not sd["next"]:
                break
            sd = nusc.get("sample_data", sd["next"])
            if sd["sample_token"] not in scene_samples:
                break
    out.sort(key=lambda r: (r["timestamp"], r["channel"]))
    return out


class _Skip(Exception):
    pass


def _read_camera(path: Path, decode: bool):
    if not path.is_file():
        raise _Skip(f"missing file {path}")
    data = path.read_bytes()
    if not jpeg_ok(data):
        raise _Skip(f"not a complete JPEG (SOI/EOI markers missing, {len(data)} bytes): {path}")
    rgb = None
    if decode:
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise _Skip(f"JPEG does not decode: {path}")
        rgb = bgr[:, :, ::-1]
    return data, rgb


def _read_lidar(path: Path) -> np.ndarray:
    if not path.is_file():
        raise _Skip(f"missing file {path}")
    raw = path.read_bytes()
    if len(raw) == 0 or len(raw) % 20:
        raise _Skip(f"LiDAR file size {len(raw)} B is not a positive multiple of 5 float32 (20 B): {path}")
    pts = np.frombuffer(raw, dtype=np.float32).reshape(-1, 5)
    if not np.isfinite(pts[:, :4]).all():
        raise _Skip(f"LiDAR file has non-finite values: {path}")
    return pts


def convert_scene(nusc, scene_name: str, out_dir, cfg: ConvertConfig = ConvertConfig()) -> SceneReport:
    """Write one scene to ``out_dir/<scene_name>`` (a rosbag2 folder); corrupt samples are skipped and reported."""
    if cfg.image_mode not in ("compressed", "raw"):
        raise ConversionError(f"image_mode must be 'compressed' or 'raw', got {cfg.image_mode!r}")
    plugins = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
    if cfg.storage not in plugins:
        raise ConversionError(f"storage must be one of {sorted(plugins)}, got {cfg.storage!r}")
    scene = scene_by_name(nusc, scene_name)
    bag_path = Path(out_dir) / scene_name
    if bag_path.exists():
        if not cfg.overwrite:
            raise ConversionError(f"output bag {bag_path} exists (pass overwrite to replace it)")
        shutil.rmtree(bag_path)
    bag_path.parent.mkdir(parents=True, exist_ok=True)
    mf = MessageFactory(cfg.distro)
    tp = cfg.topics
    channels = list(CAMERA_CHANNELS) + (["LIDAR_TOP"] if cfg.lidar else [])
    records = scene_sample_data(nusc, scene, channels)
    if not records:
        raise ConversionError(f"scene {scene_name!r} has no sample_data for channels {channels}")
    report = SceneReport(scene_name, str(bag_path), start_us=records[0]["timestamp"], end_us=records[-1]["timestamp"])
    root = Path(nusc.dataroot)

    with Writer(bag_path, version=9, storage_plugin=plugins[cfg.storage]) as w:
        conns: dict[str, object] = {}

        def write(topic: str, msgtype: str, msg, stamp_us: int, qos=SENSOR_QOS):
            if topic not in conns:
                conns[topic] = w.add_connection(topic, msgtype, typestore=mf.store, offered_qos_profiles=[qos])
            w.write(conns[topic], int(stamp_us) * 1000, mf.serialize(msg, msgtype))
            report.counts[topic] = report.counts.get(topic, 0) + 1

        if cfg.tf:
            # One latched message with every sensor mount, stamped at the scene start.
            seen, tfs = set(), []
            for r in records:
                if r["channel"] in seen:
                    continue
                seen.add(r["channel"])
                cs = nusc.get("calibrated_sensor", r["calibrated_sensor_token"])
                tfs.append(mf.transform(report.start_us, tp.base_frame, tp.frame.format(channel=r["channel"], channel_lower=r["channel"].lower()),
                                        cs["translation"], cs["rotation"]))
            write("/tf_static", "tf2_msgs/msg/TFMessage", mf.tf(tfs), report.start_us, TF_STATIC_QOS)

        last_pose_us, last_pose = None, None
        for r in records:
            ch, ts = r["channel"], r["timestamp"]
            frame = tp.frame.format(channel=ch, channel_lower=ch.lower())
            if cfg.odometry and ts != last_pose_us:
                pose = nusc.get("ego_pose", r["ego_pose_token"])
                if cfg.tf:
                    write("/tf", "tf2_msgs/msg/TFMessage",
                          mf.tf([mf.transform(ts, tp.map_frame, tp.base_frame, pose["translation"], pose["rotation"])]),
                          ts)
                # the same pose as nav_msgs/Odometry: what a node without tf2_msgs (a pip install) can read
                vel = None
                if last_pose is not None:
                    R = quat_to_matrix(pose["rotation"])
                    vel = R.T @ ((np.asarray(pose["translation"]) - last_pose[1]) / ((ts - last_pose[0]) * 1e-6))
                write(tp.odometry, "nav_msgs/msg/Odometry",
                      mf.odometry(ts, tp.map_frame, tp.base_frame, pose["translation"], pose["rotation"], vel), ts)
                last_pose_us, last_pose = ts, (ts, np.asarray(pose["translation"], np.float64))
            try:
                if r["sensor_modality"] == "camera":
                    raw = cfg.image_mode == "raw"
                    data, rgb = _read_camera(root / r["filename"], decode=raw or cfg.verify_images)
                    if raw:
                        write(tp.image.format(channel=ch, channel_lower=ch.lower()), "sensor_msgs/msg/Image", mf.image_rgb8(ts, frame, rgb), ts)
                    else:
                        write(tp.image.format(channel=ch, channel_lower=ch.lower()) + "/compressed", "sensor_msgs/msg/CompressedImage",
                              mf.compressed_image(ts, frame, data), ts)
                    cs = nusc.get("calibrated_sensor", r["calibrated_sensor_token"])
                    write(tp.camera_info.format(channel=ch, channel_lower=ch.lower()), "sensor_msgs/msg/CameraInfo",
                          mf.camera_info(ts, frame, cs["camera_intrinsic"], r["width"], r["height"]), ts)
                elif r["sensor_modality"] == "lidar":
                    pts = _read_lidar(root / r["filename"])
                    write(tp.lidar.format(channel=ch, channel_lower=ch.lower()), "sensor_msgs/msg/PointCloud2", mf.lidar_cloud(ts, frame, pts), ts)
            except _Skip as e:
                report.skipped.append({"channel": ch, "timestamp": ts, "token": r["token"], "reason": str(e)})
    return report


def convert(dataroot, version: str, out_dir, scenes=None, cfg: ConvertConfig = ConvertConfig(), log=print):
    """Convert a list of scenes (all when ``scenes`` is None); returns one SceneReport per scene."""
    nusc = load_nuscenes(dataroot, version)
    names = list(scenes) if scenes else [s["name"] for s in nusc.scene]
    for n in names:  # fail before writing anything if a name is wrong
        scene_by_name(nusc, n)
    reports = []
    for n in names:
        rep = convert_scene(nusc, n, out_dir, cfg)
        Path(out_dir, f"{n}.report.json").write_text(json.dumps(rep.as_dict(), indent=2))
        for s in rep.skipped:
            log(f"skipped {s['channel']} @ {s['timestamp']}: {s['reason']}")
        reports.append(rep)
    return reports
