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
from fsmde_ros.surround_depth_node import SurroundDepthNode
from fsmde_ros.tools.bag_player import BagPlayer
from fsmde_ros.tools.offline import run_offline

CAMERAS = default_cameras()


def test_offline_writes_every_set(bag, world, tiny_model, tmp_path):
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
    from fsmde_ros.tools.report import build_report

    res = build_report(out, world, tmp_path / "report")  # the demo's report on the same outputs
    assert list(res["metrics_per_camera"]) == CAMERAS and res["sets_with_depth"] == n_sets
    import cv2

    mosaic = cv2.imread(str(tmp_path / "report" / res["mosaics"][0]))
    assert mosaic.shape[0] == 6 * d.height and mosaic.shape[1] == 3 * d.width, "2 rows x (image, depth, error) x 3"


def test_offline_moves_each_view_by_the_bags_ego_motion(bag, tiny_model, tmp_path):
    """fsmde-offline compensates the cloud as the node does, from the bag's /odom; /tf gives the same poses."""
    from fsmde_ros.tools.offline import read_ego_motion

    with AnyReader([bag]) as r:
        odom, src_odom = read_ego_motion(r, "base_link")
        tf, src_tf = read_ego_motion(r, "base_link", odom_topic="/nothing")
    assert "Odometry" in src_odom and "/tf" in src_tf and len(odom) == len(tf) > 10
    for t in np.linspace(odom.t[0], odom.t[-1], 7).astype(np.int64):
        np.testing.assert_allclose(odom.at(int(t)), tf.at(int(t)), atol=1e-6)
    clouds = {}
    for comp in (True, False):
        out = tmp_path / f"out_{comp}"
        s = run_offline(bag, out, tiny_model, cloud=CloudConfig(max_range=500.0), progress=False,
                        log=lambda *_: None, motion_compensation=comp)
        assert s["sets_motion_compensated"] == (s["sets"] if comp else 0)
        with AnyReader([out]) as r:
            conn = next(c for c in r.connections if c.topic == "/points")
            _, _, raw = next(r.messages(connections=[conn]))
            m = r.deserialize(raw, conn.msgtype)
            clouds[comp] = np.frombuffer(bytes(m.data), np.float32).reshape(-1, 4)[:, :3].astype(np.float64)
    shift = np.linalg.norm(clouds[True] - clouds[False], axis=1)
    assert shift.min() < 1e-4, "the reference camera's points stay where they are"
    assert shift.max() > 0.05, "cameras exposed tens of ms from the reference move by the distance driven"


def test_node_composed_with_player_on_one_executor(bag, tiny_model):
    """Every played set is accounted for: served (a cloud) or dropped (replaced before inference, counted), and
    no image is left unmatched. The subscriptions keep 50 messages, so DDS itself loses none on a loaded machine;
    how many are served depends on the load, the sum does not."""
    with AnyReader([bag]) as r:
        played = next(c.msgcount for c in r.connections if c.topic == "/CAM_FRONT/image_rect/compressed")
    ctx = rclpy.context.Context()
    rclpy.init(context=ctx)
    ex = MultiThreadedExecutor(num_threads=3, context=ctx)
    node = SurroundDepthNode(context=ctx, parameter_overrides=[Parameter("model_path", value=str(tiny_model)),
                                                               Parameter("cloud_max_range", value=500.0),
                                                               Parameter("qos_depth", value=50),
                                                               Parameter("partial_set_timeout", value=0.0)])
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
        end = time.monotonic() + 90
        while time.monotonic() < end and not (player.done.is_set() and node.stats.sets_in.count >= played
                                              and node.idle() and len(clouds) >= node.stats.sets_out.count):
            ex.spin_once(timeout_sec=0.05)
        sets_in, served, drops = node.stats.sets_in.count, node.stats.sets_out.count, node.stats.drops
        unmatched = node.sets.sync.evicted + sum(node.sets.sync.pending())
    finally:
        ex.shutdown()
        for n in (node, player, sink):
            n.destroy_node()
        rclpy.shutdown(context=ctx)
    assert unmatched == 0, f"{unmatched} images never joined a set"
    assert sets_in == played, f"{sets_in} sets formed from {played} played"
    assert served + drops == played, f"{served} served + {drops} dropped != {played} played"
    assert len(clouds) == served and served >= 1
