"""Offline bag -> bag mode, and the node composed with the bag player on one executor in one process."""
import time

import numpy as np
import rclpy
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter
from rosbags.highlevel import AnyReader
from sensor_msgs.msg import PointCloud2

from fsmde_ros.core.pipeline import CloudConfig
from fsmde_ros.core.rig import default_cameras
CAMERAS = default_cameras()
from fsmde_ros.surround_depth_node import SurroundDepthNode
from fsmde_ros.tools.bag_player import BagPlayer
from fsmde_ros.tools.offline import run_offline


def test_offline_writes_every_set(bag, tiny_model, tmp_path):
    out = tmp_path / "out"
    s = run_offline(bag, out, tiny_model, cloud=CloudConfig(max_range=500.0), progress=False, log=lambda *_: None)
    with AnyReader([bag]) as r:
        n_sets = next(c.msgcount for c in r.connections if c.topic == "/CAM_FRONT/image_rect/compressed")
        src = {c.topic: [t for _, t, _ in r.messages(connections=[c])] for c in r.connections
               if c.topic.endswith("/compressed")}
    assert s["sets"] == n_sets and s["bad_views"] == 0
    with AnyReader([out]) as r:
        topics = {c.topic: c for c in r.connections}
        for cam in CAMERAS:
            conn = topics[f"/{cam}/depth/image"]
            stamps = [t for _, t, _ in r.messages(connections=[conn])]
            assert stamps == src[f"/{cam}/image_rect/compressed"], "one depth image per input image, same stamps"
        c, t, raw = next(r.messages(connections=[topics["/points"]]))
        m = r.deserialize(raw, c.msgtype)
        assert m.header.frame_id == "base_link" and m.width > 0
        c, t, raw = next(r.messages(connections=[topics["/CAM_BACK/depth/image"]]))
        d = r.deserialize(raw, c.msgtype)
        assert d.encoding == "32FC1" and np.isfinite(np.frombuffer(bytes(d.data), np.float32)).all()


def test_node_composed_with_player_on_one_executor(bag, tiny_model):
    ctx = rclpy.context.Context()
    rclpy.init(context=ctx)
    ex = MultiThreadedExecutor(num_threads=3, context=ctx)
    node = SurroundDepthNode(context=ctx, parameter_overrides=[Parameter("model_path", value=str(tiny_model)),
                                                               Parameter("cloud_max_range", value=500.0)])
    player = BagPlayer(bag, rate=1.0, start_delay=0.0, context=ctx)
    sink = rclpy.create_node("sink", context=ctx)
    clouds = []
    sink.create_subscription(PointCloud2, "points", clouds.append, 50)
    for n in (node, player, sink):
        ex.add_node(n)
    try:
        end = time.monotonic() + 10
        # matched both ways: outputs are lazy, so the node builds clouds only once it sees the subscriber
        while time.monotonic() < end and (sink.count_publishers("points") == 0
                                          or node.cloud_pub.get_subscription_count() == 0):
            ex.spin_once(timeout_sec=0.05)
        ex.spin_once(timeout_sec=0.5)
        player.start()
        end = time.monotonic() + 60
        while time.monotonic() < end and not (player.done.is_set() and len(clouds) >= 10):
            ex.spin_once(timeout_sec=0.05)
        for _ in range(20):
            ex.spin_once(timeout_sec=0.05)
        drops = node.stats.drops
    finally:
        ex.shutdown()
        for n in (node, player, sink):
            n.destroy_node()
        rclpy.shutdown(context=ctx)
    # one process, 2 cores, real-time replay: sets the model cannot keep up with are replaced and counted
    # how many are served depends on the 2-core machine's load (measured 4-9 of 12); none may be lost uncounted
    assert len(clouds) >= 3, f"only {len(clouds)} clouds from 12 played sets"
    assert len(clouds) + drops >= 11, f"{len(clouds)} clouds + {drops} counted drops from 12 played sets"
