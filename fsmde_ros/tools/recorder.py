"""A pip-only recorder: rclpy subscriptions (serialized, no deserialize) -> rosbag2 via rosbags.

In a ROS install use ``ros2 bag record``. Records the node's outputs for reports and tests: per camera of the rig
file depth image and camera_info, the fused cloud and /diagnostics.
"""
from __future__ import annotations

import argparse
import threading
from pathlib import Path

import rclpy
from rclpy.node import Node
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from ..core.rig import default_cameras, load_rig
from ..spin import spin_until_shutdown
from .bag_player import message_class



def output_topics(cameras=None, namespace: str = "") -> dict[str, str]:
    """The node's output topics for ``cameras`` (default: the installed rig file's) under ``namespace``."""
    if cameras is None:
        cameras = default_cameras()
    ns = ("/" + namespace.strip("/")) if namespace.strip("/") else ""
    topics = {}
    for c in cameras:
        topics[f"{ns}/{c}/depth/image"] = "sensor_msgs/msg/Image"
        topics[f"{ns}/{c}/depth/camera_info"] = "sensor_msgs/msg/CameraInfo"
    topics[f"{ns}/points"] = "sensor_msgs/msg/PointCloud2"
    topics["/diagnostics"] = "diagnostic_msgs/msg/DiagnosticArray"
    return topics


class Recorder(Node):
    def __init__(self, out, topics: dict[str, str], **kwargs):
        super().__init__("fsmde_recorder", **kwargs)
        self.out = Path(out)
        self.store = get_typestore(Stores.ROS2_KILTED)
        self.writer = Writer(self.out, version=9, storage_plugin=StoragePlugin.MCAP)
        self.writer.open()
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.conns = {}
        for topic, msgtype in topics.items():
            self.conns[topic] = self.writer.add_connection(topic, msgtype, typestore=self.store)
            self.create_subscription(message_class(msgtype), topic, lambda raw, t=topic: self._on(t, raw), 50,
                                     raw=True)

    def _on(self, topic, raw: bytes):
        now = self.get_clock().now().nanoseconds
        with self.lock:
            if self.writer is None:
                return
            self.writer.write(self.conns[topic], now, raw)
            self.counts[topic] = self.counts.get(topic, 0) + 1

    def close(self):
        with self.lock:
            if self.writer is not None:
                self.writer.close()
                self.writer = None


def main(argv=None):
    ap = argparse.ArgumentParser(prog="fsmde-record", description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="output bag folder (must not exist)")
    ap.add_argument("--namespace", default="", help="namespace of the depth node's outputs")
    ap.add_argument("--rig", help="rig YAML whose cameras' outputs are recorded (default: the installed one)")
    a, ros_args = ap.parse_known_args(argv)
    cams = [c.name for c in load_rig(a.rig).cameras] if a.rig else None
    rclpy.init(args=ros_args)
    rec = Recorder(a.out, output_topics(cams, namespace=a.namespace))

    def finish():
        rec.close()
        print(f"recorded {sum(rec.counts.values())} messages to {a.out}", flush=True)

    return spin_until_shutdown(rec, finish)


if __name__ == "__main__":
    raise SystemExit(main())
