#!/usr/bin/env python3
"""Drive the node process with six cameras at a fixed rate over real DDS and watch it from outside.

Used by bench/soak.py (long runs, RSS trend) and bench/node_bench.py (transport and stage figures). Frames are
the JPEGs of a synthetic nuScenes-format world; ``raw`` sends them decoded as rgb8 Images. Each set is stamped
like a nuScenes sweep (CAM_BACK first, the last camera 40 ms later) and published when its last camera would
have been captured; latency = cloud received - that publish time (the cloud carries CAM_FRONT's stamp, 15 ms
before it). Also observed: the node's /diagnostics, its RSS from /proc. One configuration per process (Fast
DDS reads its transport variables once).

    python bench/drive.py --duration 20 --transport raw --dds default --json out/x.json
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frames import CAMERAS, OFFSETS_MS, ROOT, ensure_world, load_frames  # noqa: E402


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def drive(frames, duration: float, rate: float = 12.0, transport: str = "compressed", dds: str = "large_data",
          model: str | None = None, node_params: list[str] = (), out: Path = Path("out/drive"),
          probe: bool = False) -> dict:
    """Run the node process against ``frames`` for ``duration`` s; returns the raw observations."""
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randrange(1, 200)))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    if dds == "large_data":
        os.environ["FASTDDS_BUILTIN_TRANSPORTS"] = "LARGE_DATA"
    else:
        os.environ.pop("FASTDDS_BUILTIN_TRANSPORTS", None)  # Fast DDS default: UDPv4 + shared memory
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

    from fsmde_ros.core.codecs import to_bytes_array

    cmd = [sys.executable, "-m", "fsmde_ros.entry", "surround_depth_node", "--ros-args", "-p", "log_period:=30.0",
           "-p", f"image_transport:={transport}"]
    if model:
        cmd += ["-p", f"model_path:={Path(model).resolve()}"]
    for p in node_params:
        cmd += ["-p", p]
    log_path = out / "node.log"
    node = subprocess.Popen(cmd, env=os.environ.copy(), stdout=open(log_path, "w"), stderr=subprocess.STDOUT)

    if transport == "raw":  # decode once, outside the timed loop
        import cv2

        payload = [[to_bytes_array(cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1])
                    for j in jpgs] for jpgs, _, _ in frames]
    else:
        payload = [jpgs for jpgs, _, _ in frames]

    probe_proc = None
    if probe:  # a second, trivial subscriber of CAM_FRONT: what DDS delivery alone does here
        suffix = "/compressed" if transport == "compressed" else ""
        probe_proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "probe.py"),
                                       f"{CAMERAS[0]}/image_rect{suffix}", str(duration + 15), str(out / "probe.json")],
                                      env=os.environ.copy())
    rclpy.init(args=[sys.argv[0]])  # not our argv: "--param device:=cuda" would read as a (deprecated) remap rule
    io = rclpy.create_node("fsmde_drive")
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    typ, suffix = (CompressedImage, "/compressed") if transport == "compressed" else (Image, "")
    img_pubs = [io.create_publisher(typ, f"{c}/image_rect{suffix}", qos) for c in CAMERAS]
    info_pubs = [io.create_publisher(CameraInfo, f"{c}/camera_info", qos) for c in CAMERAS]
    obs = {"lat": [], "diags": [], "rss": [], "published": 0, "publish_ms": []}
    t_start = time.time()

    def on_cloud(msg):
        now = time.time()
        published_at = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9 + (40 - OFFSETS_MS[0]) / 1000
        obs["lat"].append((now - t_start, now - published_at))

    def on_diag(msg):
        for s in msg.status:
            if "surround depth" in s.name:
                obs["diags"].append((time.time() - t_start, {kv.key: kv.value for kv in s.values}, s.message))

    io.create_subscription(PointCloud2, "points", on_cloud, 10)
    for c in CAMERAS:  # every output subscribed (as RViz with all displays on): the node builds them all
        for topic in (f"{c}/depth/image", f"{c}/depth/colorized"):
            # raw: left serialized; deserialising 12 images a set in this process delayed its 12 Hz publishing
            io.create_subscription(Image, topic, lambda m: None, 2, raw=True)
    io.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)
    ex = SingleThreadedExecutor()
    ex.add_node(io)
    deadline = time.time() + 120
    while "active:" not in log_path.read_text():
        if node.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"node did not start:\n{log_path.read_text()}")
        time.sleep(0.2)
    for _ in range(50):  # discovery
        ex.spin_once(timeout_sec=0.02)

    period = 1.0 / rate
    t_start = time.time()
    next_pub, next_rss, k = t_start, t_start, 0
    try:
        while time.time() - t_start < duration:
            now = time.time()
            if now >= next_pub:
                _, Ks, (w, h) = frames[k % len(frames)]
                data = payload[k % len(frames)]
                base = int(now * 1e9) - 40_000_000  # the last camera of a set is captured 40 ms after CAM_BACK
                tp = time.perf_counter()
                for i, (pub, ipub) in enumerate(zip(img_pubs, info_pubs)):
                    st = base + OFFSETS_MS[i] * 1_000_000
                    if transport == "compressed":
                        m = CompressedImage(format="rgb8; jpeg compressed bgr8", data=data[i])
                    else:
                        m = Image(height=h, width=w, encoding="rgb8", step=w * 3)
                        m.data = data[i]
                    m.header.stamp.sec, m.header.stamp.nanosec = st // 10**9, st % 10**9
                    m.header.frame_id = CAMERAS[i]
                    info = CameraInfo(header=m.header, width=w, height=h, distortion_model="plumb_bob")
                    info.k = Ks[i].reshape(-1).tolist()
                    pub.publish(m)
                    ipub.publish(info)
                obs["publish_ms"].append((time.perf_counter() - tp) * 1000)
                k += 1
                obs["published"] += 1
                next_pub += period
                if next_pub < now - period:  # the publisher fell behind: do not burst to catch up
                    next_pub = now + period
            if now >= next_rss:
                obs["rss"].append((now - t_start, rss_mib(node.pid)))
                next_rss += 1.0
            ex.spin_once(timeout_sec=max(0.0, min(next_pub, next_rss) - time.time()))
        t_end = time.time() + 3.0
        while time.time() < t_end:
            ex.spin_once(timeout_sec=0.05)
    finally:
        node.send_signal(signal.SIGINT)
        try:
            node.wait(timeout=20)
        except subprocess.TimeoutExpired:
            node.kill()
        ex.shutdown()
        io.destroy_node()
        rclpy.try_shutdown()
        if probe_proc is not None:
            probe_proc.wait(timeout=60)
            delays = json.loads((out / "probe.json").read_text())
            obs["probe_delay_s"] = delays[int(len(delays) * 0.1):]  # past the start-up
    return obs


def summary(obs, warmup: float) -> dict:
    """Figures after ``warmup`` seconds: latency percentiles, rates, drops, node stage latencies."""
    lat = np.array([x for t, x in obs["lat"] if t >= warmup]) * 1000
    final = obs["diags"][-1][1] if obs["diags"] else {}
    pct = (lambda q: float(np.percentile(lat, q)) if len(lat) else float("nan"))
    stages = {}
    for k, v in final.items():
        if k.startswith("latency ") and k.endswith("p50/p95 (ms)"):
            p50, p95 = (float(x) for x in v.split("/"))
            stages[k[len("latency "):-len(" p50/p95 (ms)")]] = (p50, p95)
    return {
        "sets_published": obs["published"], "sets_out": len(obs["lat"]),
        "dropped_sets": int(final.get("dropped sets", -1)), "errors": int(final.get("errors", -1)),
        "bad_views": int(final.get("bad views", -1)), "partial_sets": int(final.get("partial sets", -1)),
        "input_rate_hz": float(final.get("input set rate (Hz)", "nan")),
        "output_rate_hz": float(final.get("output set rate (Hz)", "nan")),
        "queue_depth_max": int(final.get("sync queue depth max", -1)),
        "queue_bound": int(final.get("sync queue size", -1)),
        "latency_ms_p50": pct(50), "latency_ms_p95": pct(95), "latency_ms_p99": pct(99), "latency_ms_max": pct(100),
        "publish_ms_p50": float(np.median(obs["publish_ms"])) if obs["publish_ms"] else float("nan"),
        "node_stages_ms": stages, "backend": final.get("backend", "?"),
        # CAM_FRONT stamp -> arrival at a trivial subscriber (stamped 15 ms before it is published: the floor)
        **({"probe_delay_ms_p50_p95_p99": [float(np.percentile(np.array(obs["probe_delay_s"]) * 1000, q))
                                           for q in (50, 95, 99)]} if obs.get("probe_delay_s") else {}),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=12.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--transport", choices=("compressed", "raw"), default="compressed")
    ap.add_argument("--dds", choices=("large_data", "default"), default="large_data")
    ap.add_argument("--model", default=None)
    ap.add_argument("--param", action="append", default=[], help="extra node parameter name:=value")
    ap.add_argument("--world", default=None)
    ap.add_argument("--width", type=int, default=1600)
    ap.add_argument("--height", type=int, default=900)
    ap.add_argument("--out", default="out/drive")
    ap.add_argument("--json", default=None)
    ap.add_argument("--probe", action="store_true", help="also run bench/probe.py: stamp-to-arrival delay of "
                    "CAM_FRONT at a trivial subscriber (the transport's share of the latency)")
    a = ap.parse_args(argv)
    world = Path(a.world) if a.world else ensure_world(ROOT / "out" / "bench" / f"world_{a.width}x{a.height}",
                                                        a.width, a.height, 0.5)
    obs = drive(load_frames(world), a.duration, a.rate, a.transport, a.dds, a.model, a.param, Path(a.out), a.probe)
    fig = summary(obs, a.warmup)
    print(json.dumps(fig, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(fig, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
