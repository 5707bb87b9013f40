"""An in-process node with real rclpy and a harness node that publishes camera sets and collects outputs.

Both live on one executor (no threads of our own besides the node's inference worker), so a test decides
exactly when callbacks run.
"""
from __future__ import annotations

import time

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from fsmde_ros.core.rig import default_cameras, load_rig
from fsmde_ros.resources import default_rig_file

from fsmde_ros.surround_depth_node import SurroundDepthNode

CAMERAS = default_cameras()

W, H = 320, 180
OFFSETS_MS = (25, 33, 40, 0, 10, 17)  # nuScenes-like capture offsets within a set


def make_node(ctx, model, **params):
    overrides = [Parameter("model_path", value=str(model)), Parameter("image_transport", value="raw"),
                 Parameter("log_period", value=0.0), Parameter("diagnostics_period", value=0.2)]
    overrides += [Parameter(k, value=v) for k, v in params.items()]
    return SurroundDepthNode(context=ctx, parameter_overrides=overrides)


def intrinsics(width=W, height=H) -> np.ndarray:
    """CAM_FRONT-like K scaled from nuScenes' 1600x900."""
    return np.array([[1266.4 * width / 1600, 0, 816.3 * width / 1600],
                     [0, 1266.4 * height / 900, 491.5 * height / 900], [0, 0, 1]])


def stamp(msg) -> int:
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec


class Harness:
    """Publishes camera sets (raw, or JPEG with ``compressed=True``) and collects depth, clouds, diagnostics."""

    def __init__(self, ctx, node, compressed: bool = False, rig=None):
        """``rig``: a core.rig.Rig whose cameras, topics and frames to publish (default: the installed rig)."""
        self.node, self.compressed = node, compressed
        self.rig = rig or load_rig(default_rig_file())
        self.cams = [c.name for c in self.rig.cameras]
        self.frames = {c.name: c.frame_id for c in self.rig.cameras}
        self.offsets = tuple(OFFSETS_MS[i % 6] for i in range(len(self.cams)))
        self.io = rclpy.create_node("harness", context=ctx)
        self.ex = SingleThreadedExecutor(context=ctx)
        self.ex.add_node(node)
        self.ex.add_node(self.io)
        typ = CompressedImage if compressed else Image
        transport = "compressed" if compressed else "raw"
        self.img_pubs = {c.name: self.io.create_publisher(typ, c.input_topic(transport), 50) for c in self.rig.cameras}
        self.info_pubs = {c.name: self.io.create_publisher(CameraInfo, c.camera_info_topic, 50) for c in self.rig.cameras}
        self.depth, self.infos, self.clouds, self.diags = {c: [] for c in self.cams}, {c: [] for c in self.cams}, [], []
        for c in self.cams:
            self.io.create_subscription(Image, f"{c}/depth/image", lambda m, c=c: self.depth[c].append(m), 50)
            self.io.create_subscription(CameraInfo, f"{c}/depth/camera_info", lambda m, c=c: self.infos[c].append(m), 50)
        self.io.create_subscription(PointCloud2, "points", self.clouds.append, 50)
        self.io.create_subscription(DiagnosticArray, "/diagnostics", self.diags.append, 50)
        self.K = {c: intrinsics() for c in self.cams}
        self._jpeg_cache: dict[int, bytes] = {}

    def spin(self, seconds, until=lambda: False) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if until():
                return True
            self.ex.spin_once(timeout_sec=0.02)
        return until()

    def _jpeg(self, seed: int) -> bytes:
        import cv2

        if seed not in self._jpeg_cache:
            rng = np.random.default_rng(seed)
            img = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
            self._jpeg_cache[seed] = cv2.imencode(".jpg", img)[1].tobytes()
        return self._jpeg_cache[seed]

    def messages(self, t_ns: int, cam: str, off_ms: int):
        st = t_ns + off_ms * 1_000_000
        if self.compressed:
            img = CompressedImage(format="rgb8; jpeg compressed bgr8")
            img.data = self._jpeg(t_ns % 7)
        else:
            img = Image(height=H, width=W, encoding="rgb8", step=W * 3)
            img.data = np.random.default_rng(t_ns % 1000).integers(0, 255, H * W * 3, dtype=np.uint8).tobytes()
        img.header.stamp.sec, img.header.stamp.nanosec = st // 10**9, st % 10**9
        img.header.frame_id = self.frames[cam]
        info = CameraInfo(width=W, height=H)  # its own header: a test may stamp it differently from the image
        info.header.stamp.sec, info.header.stamp.nanosec = img.header.stamp.sec, img.header.stamp.nanosec
        info.header.frame_id = self.frames[cam]
        info.k = self.K[cam].reshape(-1).tolist()
        return img, info

    def publish_set(self, t_ns, override=None, skip=(), offsets_ms=None):
        """One set stamped ``t_ns`` (+ per-camera offsets); ``override(cam, img, info)`` may corrupt messages and
        return "skip_img"/"skip_info"/"skip" to leave them out; ``skip`` leaves whole cameras out."""
        for c, off in zip(self.cams, offsets_ms or self.offsets):
            if c in skip:
                continue
            img, info = self.messages(t_ns, c, off)
            what = override(c, img, info) if override else None
            if what not in ("skip", "skip_img"):
                self.img_pubs[c].publish(img)
            if what not in ("skip", "skip_info"):
                self.info_pubs[c].publish(info)

    def served(self, t_ns, cams=None, offsets_ms=None) -> bool:
        """Whether depth for the set stamped ``t_ns`` came out for every camera in ``cams`` (default: all)."""
        off = dict(zip(self.cams, offsets_ms or self.offsets))
        return all(any(stamp(m) == t_ns + off[c] * 1_000_000 for m in self.depth[c]) for c in (cams or self.cams))

    def served_cams(self, t_ns, offsets_ms=None) -> set[str]:
        off = dict(zip(self.cams, offsets_ms or self.offsets))
        return {c for c in self.cams if any(stamp(m) == t_ns + off[c] * 1_000_000 for m in self.depth[c])}

    def latest_diag(self) -> dict:
        return {kv.key: kv.value for kv in self.diags[-1].status[0].values} if self.diags else {}

    def close(self):
        self.ex.shutdown()
        self.node.destroy_node()
        self.io.destroy_node()
