#!/usr/bin/env python3
"""A trivial subscriber beside the node (bench/drive.py --probe): receives one camera topic and records, per
message, arrival time minus header stamp. It shows what DDS delivery alone does on this machine, so the node's
own delays can be told apart from the transport's.

    python bench/probe.py TOPIC SECONDS OUT.json
"""
from __future__ import annotations

import json
import sys
import time


def main(argv=None) -> int:
    topic, seconds, out = (argv or sys.argv[1:])[:3]
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CompressedImage, Image

    rclpy.init()
    node = rclpy.create_node("fsmde_probe")
    rec = []
    typ = CompressedImage if topic.endswith("compressed") else Image
    node.create_subscription(typ, topic, lambda m: rec.append(
        time.time() - (m.header.stamp.sec + m.header.stamp.nanosec * 1e-9)), QoSProfile(
        depth=5, reliability=ReliabilityPolicy.RELIABLE))
    end = time.time() + float(seconds)
    while time.time() < end:
        rclpy.spin_once(node, timeout_sec=0.1)
    json.dump(rec, open(out, "w"))
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
