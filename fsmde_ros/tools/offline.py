"""Offline mode: the node's pipeline over a bag, without DDS: input bag -> depth images and clouds -> output bag.

Same sync semantics (core/sync.py), same checks (core/views.py), same pipeline and backends as the node;
output topics and types as the node publishes them (REP-118 32FC1 depth, CameraInfo, XYZRGB PointCloud2).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from tqdm import tqdm

from ..backends import make_backend
from ..core import cloud as cloudlib
from ..core.codecs import depth_to_32fc1
from ..core.manifest import load_manifest
from ..core.pipeline import CloudConfig, SurroundPipeline
from ..core.preprocess import Preprocessor
from ..core.rig import load_rig
from ..core.sync import ApproximateSync
from ..core.throttle import Throttle
from ..core.views import ViewBuilder
from ..resources import default_model_dir, default_rig_file


def run_offline(in_bag, out_bag, model_dir=None, rig_file=None, backend="auto", device="auto", slop=0.06,
                queue_size=10, cloud: CloudConfig = CloudConfig(), log=print, progress=True) -> dict:
    manifest = load_manifest(model_dir or default_model_dir())
    rig = load_rig(rig_file or default_rig_file())
    be, why = make_backend(manifest, backend, device, batch=len(rig.cameras), log=log)
    log(f"backend: {be.describe()} — {why}")
    pipe = SurroundPipeline(be, Preprocessor(manifest), manifest.min_depth, manifest.max_depth, cloud)
    store = get_typestore(Stores.ROS2_KILTED)
    T = store.types
    throttle = Throttle(5.0)

    def warn(key, text):
        if throttle(key) is not None:
            log("warning: " + text)

    with AnyReader([Path(in_bag)]) as reader:
        topics = {c.topic: c for c in reader.connections}
        compressed = all(f"/{c.name}/image_rect/compressed" in topics for c in rig.cameras)
        img_topics = [f"/{c.image_topic}" + ("/compressed" if compressed else "") for c in rig.cameras]
        info_topics = [f"/{c.camera_info_topic}" for c in rig.cameras]
        missing = [t for t in img_topics + info_topics if t not in topics]
        if missing:
            raise ValueError(f"{in_bag}: missing topics {missing} (has {sorted(topics)})")
        index = {t: i for i, t in enumerate(img_topics + info_topics)}
        views = ViewBuilder([c.name for c in rig.cameras], img_topics, info_topics, (manifest.height, manifest.width),
                            lambda frame, i: (rig.by_frame(frame).T_base_camera if rig.by_frame(frame) else None), warn)
        sets = []
        sync = ApproximateSync(len(index), queue_size, int(slop * 1e9), lambda *m: sets.append(m))
        conns = [topics[t] for t in index]
        n_msgs = sum(c.msgcount for c in conns)
        stats = {"sets": 0, "timings": []}
        out = Writer(Path(out_bag), version=9, storage_plugin=StoragePlugin.MCAP)
        out.open()
        oc = {}

        def write(topic, msgtype, msg, t_ns):
            if topic not in oc:
                oc[topic] = out.add_connection(topic, msgtype, typestore=store)
            out.write(oc[topic], t_ns, store.serialize_cdr(msg, msgtype))

        try:
            for conn, t, raw in tqdm(reader.messages(connections=conns), total=n_msgs, disable=not progress,
                                     desc="fsmde-offline", unit="msg"):
                msg = reader.deserialize(raw, conn.msgtype)
                sync.add(index[conn.topic], msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec, msg)
                while sets:
                    msgs = sets.pop(0)
                    n = len(rig.cameras)
                    imgs = msgs[:n]
                    res = pipe.process(views.build(imgs, msgs[n:]))
                    stats["timings"].append(res.timings)
                    stats["sets"] += 1
                    for i, cam in enumerate(rig.cameras):
                        if res.depth[i] is None:
                            continue
                        hdr = imgs[i].header
                        st = hdr.stamp.sec * 1_000_000_000 + hdr.stamp.nanosec
                        d = depth_to_32fc1(res.depth[i])
                        h, w = d.shape
                        write(f"/{cam.name}/depth/image", "sensor_msgs/msg/Image",
                              T["sensor_msgs/msg/Image"](header=hdr, height=h, width=w, encoding="32FC1",
                                                         is_bigendian=0, step=w * 4, data=d.view(np.uint8).reshape(-1)), st)
                        K = res.K_depth[i]
                        P = np.zeros((3, 4))
                        P[:, :3] = K
                        roi = T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                                   do_rectify=False)
                        write(f"/{cam.name}/depth/camera_info", "sensor_msgs/msg/CameraInfo",
                              T["sensor_msgs/msg/CameraInfo"](header=hdr, height=h, width=w, distortion_model="plumb_bob",
                                                              d=np.zeros(5), k=K.reshape(-1), r=np.eye(3).reshape(-1),
                                                              p=P.reshape(-1), binning_x=0, binning_y=0, roi=roi), st)
                    if res.cloud is not None:
                        hdr = imgs[0].header
                        st = hdr.stamp.sec * 1_000_000_000 + hdr.stamp.nanosec
                        F = T["sensor_msgs/msg/PointField"]
                        write("/points", "sensor_msgs/msg/PointCloud2", T["sensor_msgs/msg/PointCloud2"](
                            header=T["std_msgs/msg/Header"](stamp=hdr.stamp, frame_id=rig.base_frame), height=1,
                            width=len(res.cloud), fields=[F(name=n, offset=o, datatype=cloudlib.FLOAT32, count=1)
                                                          for n, o in cloudlib.FIELDS],
                            is_bigendian=False, point_step=16, row_step=16 * len(res.cloud),
                            data=res.cloud.view(np.uint8).reshape(-1), is_dense=True), st)
        finally:
            out.close()
    stats["bad_views"] = views.bad_views
    stats["unmatched"] = sync.evicted
    return stats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="fsmde-offline", description=__doc__.split("\n\n")[0])
    ap.add_argument("bag", help="input rosbag2 (from fsmde-nusc2bag or a recording)")
    ap.add_argument("out", help="output rosbag2 folder (must not exist)")
    ap.add_argument("--model", help="model folder (default: the installed demo model)")
    ap.add_argument("--rig", help="rig YAML (default: config/nuscenes_rig.yaml)")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--slop", type=float, default=0.06)
    a = ap.parse_args(argv)
    t0 = time.time()
    try:
        s = run_offline(a.bag, a.out, a.model, a.rig, a.backend, a.device, a.slop)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"fsmde-offline: error: {e}", file=sys.stderr)
        return 2
    infer = np.median([t["infer"] for t in s["timings"]]) * 1000 if s["timings"] else float("nan")
    print(f"{s['sets']} sets -> {a.out} in {time.time() - t0:.1f} s (infer p50 {infer:.0f} ms, "
          f"{s['bad_views']} bad views)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
