"""End to end over DDS: a synthetic-world bag played into the node running in another process."""
import ast
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rosbags.highlevel import AnyReader
from sensor_msgs.msg import Image, PointCloud2

from fsmde_ros.core.rig import default_cameras
from fsmde_ros.tools.bag_player import BagPlayer

CAMERAS = default_cameras()


def bag_sets(bag):
    """CAM_FRONT stamp -> {camera: stamp} of the camera sets recorded in the bag (by nuScenes set timing)."""
    stamps = {c: [] for c in CAMERAS}
    with AnyReader([bag]) as r:
        for conn, t, _ in r.messages():
            for c in CAMERAS:
                if conn.topic == f"/{c}/image_rect/compressed":
                    stamps[c].append(t)
    n = len(stamps["CAM_FRONT"])
    assert all(len(v) == n for v in stamps.values())
    return {stamps["CAM_FRONT"][k]: {c: stamps[c][k] for c in CAMERAS} for k in range(n)}


@pytest.fixture
def node_process(tiny_model):
    cmd = [sys.executable, "-m", "fsmde_ros.entry", "surround_depth_node", "--ros-args", "-p", f"model_path:={tiny_model}",
           "-p", "cloud_max_range:=500.0", "-p", "log_period:=0.0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy())
    yield proc
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.parametrize("which", ["bag", "bag_info_early"])
def test_bag_through_node_process(which, request, node_process):
    """The converter's bag, and the same bag with camera_info stamped 30 ms early (a 12-input sync served none
    of those sets): sets come out whole with their source stamps, and every set is served or counted as a drop."""
    from diagnostic_msgs.msg import DiagnosticArray

    bag = request.getfixturevalue(which)
    ctx = rclpy.context.Context()
    rclpy.init(context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    player = BagPlayer(bag, rate=1.0, start_delay=0.0, context=ctx)
    sink = rclpy.create_node("e2e_sink", context=ctx)
    depth = {c: [] for c in CAMERAS}
    clouds = []
    for c in CAMERAS:
        sink.create_subscription(Image, f"{c}/depth/image", lambda m, c=c: depth[c].append(m), 50)
    sink.create_subscription(PointCloud2, "points", clouds.append, 50)
    diags = []
    sink.create_subscription(DiagnosticArray, "/diagnostics", diags.append, 50)
    ex.add_node(player)
    ex.add_node(sink)
    expected = bag_sets(bag)
    try:
        img_pubs = [p for p in player.pubs.values() if "image_rect" in p.topic_name or p.topic_name == "/odom"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
                all(p.get_subscription_count() > 0 for p in img_pubs)
                and sink.count_publishers("points") > 0
                and all(sink.count_publishers(f"{c}/depth/image") > 0 for c in CAMERAS)):
            # every depth topic: the node builds outputs only for matched subscribers, so an unmatched one at the
            # first set would lose that camera's first depth image (seen once under load)
            ex.spin_once(timeout_sec=0.1)
            assert node_process.poll() is None, node_process.stdout.read()
        time.sleep(1.0)  # let both directions match
        player.start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (player.done.is_set() and len(clouds) >= len(expected)):
            ex.spin_once(timeout_sec=0.05)
        end = time.monotonic() + 3
        while time.monotonic() < end:
            ex.spin_once(timeout_sec=0.05)
        n_diag = len(diags)
        end = time.monotonic() + 5
        while time.monotonic() < end and len(diags) < n_diag + 2:  # a /diagnostics published after the last set
            ex.spin_once(timeout_sec=0.05)
    finally:
        ex.shutdown()
        player.destroy_node()
        sink.destroy_node()
        rclpy.shutdown(context=ctx)

    # What the node did, from its own counters: every recorded set was served or counted as a drop, and every served
    # set went out on each camera's depth topic (less the first set or two, see below).
    values = {kv.key: kv.value for kv in diags[-1].status[0].values}
    served = int(values["sets served"])
    assert served >= 0.75 * len(expected), f"{served} sets served out of {len(expected)} played"
    assert served + int(values["dropped sets"]) == len(expected), values
    assert values["unmatched images"] == "0"
    published = dict(zip(CAMERAS, ast.literal_eval(values["depth images published"])))
    assert all(served - 2 <= n <= served for n in published.values()), (served, published)
    # What arrived over DDS. The outputs are reliable KEEP_LAST(5): at 12 sets/s a sample lost in transport (a full
    # shared-memory port on a loaded machine) is gone once five newer ones follow, before Fast DDS's 3 s heartbeat asks
    # for it again (DDS 1.4 2.2.3.14: reliable delivers what is still in the writer's history). Seen once in CI and in
    # 3 of 19 runs here under three CPU hogs: one depth image of one camera mid-stream. So the transport may lose one
    # sample per topic in a run; the node may not (checked above).
    assert served - 1 <= len(clouds) <= served, (len(clouds), served)
    # the bag's /odom (nav_msgs/Odometry, replayed over DDS) moved the clouds' views to the set stamp; a set that
    # comes before two poses have arrived, or while a loaded machine lets odometry trail, is placed uncompensated
    import re

    got = re.fullmatch(r"(\w+) \(last set\); sets compensated (\d+), uncompensated (\d+)",
                       values["cloud motion compensation"])
    assert got and got[1] == "odometry", values["cloud motion compensation"]
    assert int(got[2]) + int(got[3]) == served and int(got[2]) >= 0.75 * served, values["cloud motion compensation"]
    depth_by_stamp = {c: {m.header.stamp.sec * 10**9 + m.header.stamp.nanosec: m for m in depth[c]} for c in CAMERAS}
    missing = {c: [] for c in CAMERAS}  # indices of the (time-ordered) clouds whose set has no depth image for c
    for k, cl in enumerate(sorted(clouds, key=lambda cl: cl.header.stamp.sec * 10**9 + cl.header.stamp.nanosec)):
        st = cl.header.stamp.sec * 10**9 + cl.header.stamp.nanosec
        assert cl.header.frame_id == "base_link" and cl.width > 0
        assert st in expected, "the cloud carries the CAM_FRONT stamp of a recorded set"
        for c in CAMERAS:
            m = depth_by_stamp[c].get(expected[st][c])
            if m is None:
                missing[c].append(k)
                continue
            assert m.header.frame_id == c and m.encoding == "32FC1"
            assert np.isfinite(np.frombuffer(bytes(m.data), np.float32)).mean() > 0.5
    # The node builds a depth image only for a topic with a matched subscriber, and the node's DDS participant can
    # learn of the sink's subscription a set later than the sink learns of the node's publisher (seen under CPU
    # load: the first set without one camera's depth). So a camera may miss the first set or two (not published),
    # and at most one later one (lost in transport, above).
    for c, ks in missing.items():
        first = [k for j, k in enumerate(ks) if k == j][:2]
        assert len(ks) - len(first) <= 1, f"{c}: no depth image for the sets at {ks} of {len(clouds)}"
        assert len(depth_by_stamp[c]) >= published[c] - 1, (c, len(depth_by_stamp[c]), published[c])
