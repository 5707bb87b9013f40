"""A pip-only bag player: rosbag2 (MCAP/sqlite3, via rosbags) -> rclpy publishers at the recorded timing.

In a ROS install use ``ros2 bag play``; this exists for machines without the ros2 CLI. Messages are
published as the serialized bytes stored in the bag (no deserialize/serialize round trip). Topics whose
message package is not importable here (e.g. tf2_msgs from PyPI) are skipped and listed once.
``BagPlayer`` is an ordinary rclpy node, so it composes with the depth node on one executor.
"""
from __future__ import annotations

import argparse
import importlib
import threading
import time
from pathlib import Path

import rclpy
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosbags.highlevel import AnyReader


def message_class(msgtype: str):
    """'sensor_msgs/msg/Image' -> sensor_msgs.msg.Image (None when the package is not importable)."""
    pkg, _, name = msgtype.split("/")
    try:
        return getattr(importlib.import_module(f"{pkg}.msg"), name)
    except (ImportError, AttributeError):
        return None


def qos_for(conn) -> QoSProfile:
    offered = getattr(conn.ext, "offered_qos_profiles", None) or []
    latched = any(getattr(q.durability, "name", "") == "TRANSIENT_LOCAL" for q in offered)
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10 if not latched else 1,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)


class BagPlayer(Node):
    def __init__(self, bag, rate: float = 1.0, topics=None, clock: bool = False, loop: bool = False,
                 start_delay: float = 0.5, remap_prefix: str = "", **kwargs):
        super().__init__("fsmde_bag_player", **kwargs)
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self.bag, self.rate, self.loop, self.start_delay = Path(bag), rate, loop, start_delay
        if not self.bag.exists():
            raise FileNotFoundError(f"bag {self.bag} does not exist")
        self.reader = AnyReader([self.bag])
        self.reader.open()
        self.conns, self.pubs, skipped = [], {}, []
        for c in self.reader.connections:
            if topics and c.topic not in topics:
                continue
            cls = message_class(c.msgtype)
            if cls is None:
                skipped.append(f"{c.topic} ({c.msgtype})")
                continue
            self.pubs[c.id] = self.create_publisher(cls, remap_prefix + c.topic, qos_for(c))
            self.conns.append(c)
        if skipped:
            self.get_logger().warning(f"not replaying (message package not importable here): {', '.join(skipped)}")
        self.clock_pub = None
        if clock:
            from rosgraph_msgs.msg import Clock

            self.clock_pub = self.create_publisher(Clock, "/clock", 10)
            self._Clock = Clock
        self.published = 0
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bag_player", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)

    def _publish_clock(self, t_ns):
        m = self._Clock()
        m.clock.sec, m.clock.nanosec = t_ns // 1_000_000_000, t_ns % 1_000_000_000
        self.clock_pub.publish(m)

    def _run(self):
        time.sleep(self.start_delay)  # let subscribers match
        while not self._stop.is_set():
            t0_bag, t0_wall = None, time.monotonic()
            for conn, t, raw in self.reader.messages(connections=self.conns):
                if self._stop.is_set():
                    break
                if t0_bag is None:
                    t0_bag = t
                due = t0_wall + (t - t0_bag) / 1e9 / self.rate
                delay = due - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                if self.clock_pub is not None:
                    self._publish_clock(t)
                self.pubs[conn.id].publish(bytes(raw))
                self.published += 1
            if not self.loop:
                break
        self.done.set()

    def destroy_node(self):
        self.stop()
        self.reader.close()
        return super().destroy_node()


def main(argv=None):
    ap = argparse.ArgumentParser(prog="fsmde-play", description=__doc__.split("\n\n")[0])
    ap.add_argument("bag")
    ap.add_argument("--rate", type=float, default=1.0, help="playback speed factor (default 1)")
    ap.add_argument("--topics", nargs="*", help="only these topics")
    ap.add_argument("--clock", action="store_true", help="publish /clock from the bag stamps (use_sim_time)")
    ap.add_argument("--loop", action="store_true")
    ap.add_argument("--start-delay", type=float, default=1.0, help="seconds to wait for subscribers (default 1)")
    a, ros_args = ap.parse_known_args(argv)
    rclpy.init(args=ros_args)
    player = BagPlayer(a.bag, a.rate, a.topics, a.clock, a.loop, a.start_delay).start()
    try:
        while rclpy.ok() and not player.done.is_set():
            rclpy.spin_once(player, timeout_sec=0.1)
        player.get_logger().info(f"played {player.published} messages from {a.bag}")
    except KeyboardInterrupt:
        pass
    finally:
        player.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
