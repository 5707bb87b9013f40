"""Camera sets straight from a rosbag2 (issue 14: train on your own vehicle's bags, no LiDAR needed).

Reads, through ``rosbags`` (any storage it reads: MCAP, sqlite3), the rig's image topics (``sensor_msgs/Image``
or ``CompressedImage``), their ``camera_info``, ``/tf_static`` for the extrinsics and ``/tf`` (map ->
base_link) for the ego motion. Camera sets are formed around camera 0's frames: each other camera's frame
nearest in time within ``slop`` (otherwise that frame has no set and is reported). The result has the
interface ``SurroundSequence`` needs (``set_stamps``, ``set_scenes``, ``E``, ``T``, ``__getitem__``), so triples
(t-1, t, t+1) get the same stamp checks as a nuScenes-format dataset.

Missing pieces give one clear error naming the topic: no camera_info, no /tf_static transform for a camera's
frame, or (with ``require_motion``) no /tf to the base frame: then the pose network must supply the motion.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from .. import CAMERAS
from ..geometry import camera_channels, make_pose, quat_to_matrix
from ..networks.student import StudentConfig
from .surround import scale_K


class BagError(ValueError):
    pass


def expand_bags(paths) -> list[Path]:
    """Bag folders from ``paths``: each entry is a rosbag2 folder (holds metadata.yaml) or a folder of them (the
    converter's output: one bag per scene), taken in name order. An entry that is neither is an error."""
    out = []
    for p in map(Path, paths):
        if (p / "metadata.yaml").is_file():
            out.append(p)
            continue
        inner = sorted(q for q in p.iterdir() if (q / "metadata.yaml").is_file()) if p.is_dir() else []
        if not inner:
            raise BagError(f"{p}: expected a rosbag2 folder (with metadata.yaml) or a folder of them")
        out.extend(inner)
    return out


def _transform(tf) -> tuple[str, str, np.ndarray]:
    r, t = tf.transform.rotation, tf.transform.translation
    return tf.header.frame_id.lstrip("/"), tf.child_frame_id.lstrip("/"), make_pose(
        quat_to_matrix([r.w, r.x, r.y, r.z]), [t.x, t.y, t.z])


def _stamp_us(header) -> int:
    return (header.stamp.sec * 1_000_000_000 + header.stamp.nanosec) // 1000


class BagSurround(Dataset):
    def __init__(self, bag, cameras=CAMERAS, input_hw=(128, 224), image_topic="/{channel}/image_rect",
                 info_topic="/{channel}/camera_info", base_frame="base_link", map_frame="map", odom_topic="/odom",
                 slop_ms: float = 60.0, require_motion: bool = True, mean=None, std=None,
                 canonical_focal_px: float = 177.3, geometry_inputs=(), ground_height: float = 0.0):
        from rosbags.highlevel import AnyReader

        self.root = Path(bag)
        if not self.root.is_dir():
            raise BagError(f"{bag}: not a rosbag2 folder")
        self.cameras = tuple(cameras)
        self.h, self.w = input_hw
        self.f_canon = canonical_focal_px
        self.geometry_inputs, self.ground_height = tuple(geometry_inputs), ground_height
        norm = StudentConfig()
        self.mean = np.asarray(norm.mean if mean is None else mean, np.float32)
        self.std = np.asarray(norm.std if std is None else std, np.float32)
        n = len(self.cameras)
        frames: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(n)]
        infos: dict[int, object] = {}
        static: dict[str, np.ndarray] = {}
        poses: list[tuple[int, np.ndarray]] = []
        odom: list[tuple[int, np.ndarray]] = []  # nav_msgs/Odometry of base_frame: the ego motion where /tf has none
        topics = {}
        for c, ch in enumerate(self.cameras):
            t = image_topic.format(channel=ch, channel_lower=ch.lower())
            topics[t] = ("image", c)
            topics[t + "/compressed"] = ("image", c)
            topics[info_topic.format(channel=ch, channel_lower=ch.lower())] = ("info", c)
        with AnyReader([self.root]) as r:
            present = set(r.topics)
            for c, ch in enumerate(self.cameras):
                it = image_topic.format(channel=ch, channel_lower=ch.lower())
                if it not in present and it + "/compressed" not in present:
                    raise BagError(f"{bag}: no image topic {it} (or {it}/compressed) for {ch}")
                if info_topic.format(channel=ch, channel_lower=ch.lower()) not in present:
                    raise BagError(f"{bag}: no {info_topic.format(channel=ch, channel_lower=ch.lower())} for {ch}: "
                                   f"camera_info (K and image size) is required")
            wanted = [cn for cn in r.connections if cn.topic in topics or cn.topic in ("/tf", "/tf_static")
                      or (cn.topic == odom_topic and cn.msgtype == "nav_msgs/msg/Odometry")]
            for conn, _, raw in r.messages(connections=wanted):
                msg = r.deserialize(raw, conn.msgtype)
                if conn.topic == "/tf_static":
                    for tf in msg.transforms:
                        parent, child, T = _transform(tf)
                        if parent == base_frame:
                            static[child] = T
                    continue
                if conn.topic == "/tf":
                    for tf in msg.transforms:
                        parent, child, T = _transform(tf)
                        if parent == map_frame and child == base_frame:
                            poses.append((_stamp_us(tf.header), T))
                    continue
                if conn.topic == odom_topic and conn.topic not in topics:
                    if msg.child_frame_id.lstrip("/") in ("", base_frame):
                        p, q = msg.pose.pose.position, msg.pose.pose.orientation
                        odom.append((_stamp_us(msg.header), make_pose(quat_to_matrix([q.w, q.x, q.y, q.z]),
                                                                      [p.x, p.y, p.z])))
                    continue
                kind, c = topics[conn.topic]
                if kind == "info":
                    infos.setdefault(c, msg)
                    continue
                if conn.msgtype.endswith("CompressedImage"):
                    img = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_COLOR)
                    if img is None:
                        continue  # a corrupt frame: that camera has no image at this instant
                    img = img[:, :, ::-1]
                else:
                    img = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, -1)[:, :, :3]
                    if msg.encoding.lower().startswith("bgr"):
                        img = img[:, :, ::-1]
                frames[c].append((_stamp_us(msg.header), img, msg.header.frame_id.lstrip("/")))
        for c, ch in enumerate(self.cameras):
            if c not in infos:
                raise BagError(f"{bag}: no camera_info message for {ch}")
            if not frames[c]:
                raise BagError(f"{bag}: no decodable image for {ch}")
        self.frame_ids = [frames[c][0][2] for c in range(n)]
        missing = [f for f in self.frame_ids if f not in static]
        if missing:
            raise BagError(f"{bag}: /tf_static has no {base_frame} -> {missing} transform (the camera extrinsics)")
        if not poses:  # no map -> base_link on /tf: the odometry topic's poses (any fixed frame) are as good
            poses = odom
        if not poses and require_motion:
            raise BagError(f"{bag}: no /tf {map_frame} -> {base_frame} and no {odom_topic} odometry of {base_frame} "
                           f"(the ego motion): record TF or odometry, or train with the pose network")
        poses.sort(key=lambda p: p[0])
        self._build_sets(frames, infos, static, poses, slop_ms * 1000)

    def _build_sets(self, frames, infos, static, poses, slop_us):
        n = len(self.cameras)
        for c in range(n):
            frames[c].sort(key=lambda f: f[0])
        stamps_c = [np.array([f[0] for f in frames[c]], np.int64) for c in range(n)]
        sets, self.unmatched = [], []
        for k, (t0, _, _) in enumerate(frames[0]):
            pick = [k]
            for c in range(1, n):
                j = int(np.argmin(np.abs(stamps_c[c] - t0)))
                if abs(int(stamps_c[c][j]) - t0) > slop_us:
                    self.unmatched.append({"stamp_us": int(t0), "camera": self.cameras[c]})
                    break
                pick.append(j)
            else:
                sets.append(pick)
        if not sets:
            raise BagError(f"{self.root}: no camera set: no instant where all {n} cameras have a frame within the slop")
        S = len(sets)
        self.images = np.empty((S, n, self.h, self.w, 3), np.uint8)
        self.stamps = np.empty((S, n), np.int64)
        self.K = np.empty((S, n, 3, 3), np.float32)
        self.T = np.stack([static[f] for f in self.frame_ids]).astype(np.float32)[None].repeat(S, 0)
        for s, pick in enumerate(sets):
            for c, j in enumerate(pick):
                t, img, _ = frames[c][j]
                info = infos[c]
                self.images[s, c] = cv2.resize(np.ascontiguousarray(img), (self.w, self.h), interpolation=cv2.INTER_AREA)
                self.stamps[s, c] = t
                self.K[s, c] = scale_K(np.asarray(info.k, np.float64).reshape(3, 3), (info.width, info.height),
                                       (self.w, self.h))
        self.E = None
        if poses:
            pt = np.array([p[0] for p in poses], np.int64)
            self.E = np.empty((S, n, 4, 4), np.float64)
            for s in range(S):
                for c in range(n):
                    j = int(np.argmin(np.abs(pt - self.stamps[s, c])))
                    if abs(int(pt[j]) - int(self.stamps[s, c])) > slop_us:
                        raise BagError(f"{self.root}: no /tf pose within {slop_us / 1000:.0f} ms of "
                                       f"{self.cameras[c]} at {self.stamps[s, c]} us")
                    self.E[s, c] = poses[j][1]

    # the interface SurroundSequence reads
    def set_stamps(self) -> np.ndarray:
        return self.stamps

    def set_scenes(self) -> list[str]:
        return [self.root.name] * len(self.stamps)

    def __len__(self):
        return len(self.stamps)

    def __getitem__(self, i):
        img = ((self.images[i].astype(np.float32) / 255.0 - self.mean) / self.std).transpose(0, 3, 1, 2)
        if self.geometry_inputs:  # the model's camera-aware channels, from K and the /tf_static extrinsics
            img = np.concatenate([img, np.stack([
                camera_channels(self.K[i, j], self.T[i, j], (self.h, self.w), self.f_canon, self.geometry_inputs,
                                self.ground_height) for j in range(len(self.cameras))])], 1)
        zeros = torch.zeros(len(self.cameras), 1, self.h, self.w)  # a bag has no depth GT
        K = self.K[i]
        fs = ((K[:, 0, 0] + K[:, 1, 1]) / 2 / self.f_canon).astype(np.float32)
        return {"index": torch.tensor(i, dtype=torch.int64), "image": torch.from_numpy(np.ascontiguousarray(img)),
                "depth": zeros, "depth_canon": zeros, "depth_dense": zeros, "K": torch.from_numpy(K),
                "focal_scale": torch.from_numpy(fs), "T_ego_cam": torch.from_numpy(self.T[i])}
