"""Offline mode: the node's pipeline over a bag, without DDS: input bag -> depth images and clouds -> output bag.

Same set assembly (core/sets.py: images synchronised, CameraInfo cached), same checks (core/views.py), same
pipeline, backends and message layouts (core/messages.py) as the node. Extrinsics come from the bag's own
/tf_static (the rig file is the fallback for frames it lacks); when the rig file's topics are not in the bag, the
rig is read from the bag itself (fsmde-rig --from-bag), so a bag in other naming conventions needs no editing.
The cloud is motion-compensated as the node does (core/motion.py) from the bag's ego motion: nav_msgs/Odometry on
/odom, else /tf's transforms into the base frame.
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
from ..core.extrinsics import Extrinsics
from ..core.manifest import check_model_files, load_manifest
from ..core.motion import EgoMotion, PoseHistory
from ..core.messages import cloud_fields, depth_image_fields, depth_info_fields
from ..core.geometry_input import GeometryInputs
from ..core.pipeline import CloudConfig, SurroundPipeline
from ..core.preprocess import Preprocessor
from ..core.rig import Rig, load_rig
from ..core.sets import SetAssembler
from ..core.throttle import Throttle
from ..core.views import ViewBuilder
from ..resources import default_model_dir, default_rig_file
from .rig_tool import read_static_tf, rig_from_bag


def _input_topics(rig: Rig, topics: set[str]) -> tuple[list[str], str] | None:
    """(image topics, transport) when every camera of ``rig`` is in the bag (compressed preferred), else None."""
    for transport in ("compressed", "raw"):
        imgs = ["/" + c.input_topic(transport).lstrip("/") for c in rig.cameras]
        infos = ["/" + c.camera_info_topic.lstrip("/") for c in rig.cameras]
        if all(t in topics for t in imgs + infos):
            return imgs, transport
    return None


def _stamp(hdr) -> int:
    return hdr.stamp.sec * 1_000_000_000 + hdr.stamp.nanosec


def read_ego_motion(reader, base_frame: str, odom_topic: str = "/odom") -> tuple[PoseHistory, str]:
    """The bag's ego motion as one PoseHistory over the whole bag: nav_msgs/Odometry on ``odom_topic`` when the
    bag has it, else /tf's dynamic transforms whose child is ``base_frame``; (history, what it came from)."""
    hist = PoseHistory(span_s=1e9, loop_s=1e9)
    odom = [c for c in reader.connections if c.topic == odom_topic and c.msgtype == "nav_msgs/msg/Odometry"]
    tf = [c for c in reader.connections if c.topic == "/tf"]
    for conn, _, raw in reader.messages(connections=odom or tf):
        msg = reader.deserialize(raw, conn.msgtype)
        if odom:
            p, q = msg.pose.pose.position, msg.pose.pose.orientation
            hist.add(_stamp(msg.header), [p.x, p.y, p.z], [q.w, q.x, q.y, q.z])
            continue
        for ts in msg.transforms:
            if ts.child_frame_id.lstrip("/") == base_frame:
                t, q = ts.transform.translation, ts.transform.rotation
                hist.add(_stamp(ts.header), [t.x, t.y, t.z], [q.w, q.x, q.y, q.z])
    src = f"{odom_topic} (nav_msgs/Odometry)" if odom else f"/tf -> {base_frame}"
    return hist, src


def run_offline(in_bag, out_bag, model_dir=None, rig_file=None, backend="auto", device="auto", slop=0.06,
                queue_size=10, cloud: CloudConfig = CloudConfig(), log=print, progress=True,
                ground_height: float = 0.0, motion_compensation: bool = True) -> dict:
    manifest = load_manifest(model_dir or default_model_dir())
    check_model_files(manifest)
    in_bag = Path(in_bag)
    if not in_bag.exists():
        raise FileNotFoundError(f"input bag {in_bag} does not exist")
    store = get_typestore(Stores.ROS2_KILTED)
    T = store.types
    throttle = Throttle(5.0)

    def warn(key, text):
        if throttle(key) is not None:
            log("warning: " + text)

    with AnyReader([in_bag]) as reader:
        topics = {c.topic: c for c in reader.connections}
        rig = load_rig(rig_file or default_rig_file())
        found = _input_topics(rig, set(topics))
        if found is None and rig_file is None:  # the default rig does not fit: take the bag's own conventions
            rig = rig_from_bag(in_bag)
            log(f"rig from the bag's camera_info topics and /tf_static: {[c.name for c in rig.cameras]}, "
                f"base frame {rig.base_frame}")
            found = _input_topics(rig, set(topics))
        if found is None:
            need = [c.input_topic("compressed") for c in rig.cameras] + [c.camera_info_topic for c in rig.cameras]
            raise ValueError(f"{in_bag}: the rig file's topics are not in the bag (expected {need}; has "
                             f"{sorted(topics)}); write a rig file for it with fsmde-rig --from-bag")
        img_topics, transport = found
        info_topics = ["/" + c.camera_info_topic.lstrip("/") for c in rig.cameras]
        tree = read_static_tf(reader)
        lookup = tree.lookup if tree.parent else None
        log(f"extrinsics: {'the bag' + chr(39) + 's /tf_static, rig file as fallback' if lookup else 'the rig file'}"
            f" ({transport} images, {len(rig.cameras)} cameras)")
        be, why = make_backend(manifest, backend, device, batch=len(rig.cameras), log=log)
        log(f"backend: {be.describe()} — {why}")
        pre = Preprocessor(manifest)
        geometry = (GeometryInputs(manifest.geometry, (manifest.height, manifest.width), manifest.canonical_focal_px,
                                   ground_height) if manifest.geometry else None)
        pipe = SurroundPipeline(be, pre, manifest.min_depth, manifest.max_depth, cloud, geometry=geometry)
        ext = Extrinsics(rig, rig.base_frame, lookup, warn, log)
        motion = None
        if motion_compensation:
            hist, src = read_ego_motion(reader, rig.base_frame)
            motion = EgoMotion("odometry", history=hist, warn=warn)
            log(f"cloud motion compensation: {len(hist)} ego poses from {src}" if len(hist) else
                "cloud motion compensation: the bag has no /odom and no /tf into the base frame; views placed "
                "uncompensated")
        views = ViewBuilder([c.name for c in rig.cameras], img_topics, info_topics, (manifest.height, manifest.width),
                            lambda frame, i: ext.get(frame, img_topics[i]), warn, fit_bgr=pre.fit_bgr)
        n = len(rig.cameras)
        assembler = SetAssembler(n, queue_size, int(round(slop * 1e9)))
        index = {t: i for i, t in enumerate(img_topics)}
        info_index = {t: i for i, t in enumerate(info_topics)}
        conns = [topics[t] for t in img_topics + info_topics]
        stats = {"sets": 0, "timings": [], "no_info": 0}
        out = Writer(Path(out_bag), version=9, storage_plugin=StoragePlugin.MCAP)
        out.open()
        oc = {}

        def write(topic, msgtype, msg, t_ns):
            if topic not in oc:
                oc[topic] = out.add_connection(topic, msgtype, typestore=store)
            out.write(oc[topic], t_ns, store.serialize_cdr(msg, msgtype))

        def serve(imgs):
            infos = assembler.infos_for(imgs)
            vs = views.build(imgs, infos)
            if motion is not None and len(motion.history):
                stamps = [_stamp(m.header) if m is not None and v.T_base_cam is not None else None
                          for m, v in zip(imgs, vs)]
                t_ref = _stamp(next(m for m in imgs if m is not None).header)
                for v, M in zip(vs, motion.motions(stamps, t_ref)):
                    v.T_motion = M
            res = pipe.process(vs)
            for i, why in res.skipped.items():
                warn(("geometry", i), f"{rig.cameras[i].name}: {why}; skipping this view")
            stats["timings"].append(res.timings)
            stats["sets"] += 1
            for i, cam in enumerate(rig.cameras):
                if res.depth[i] is None:
                    continue
                hdr = imgs[i].header
                write(f"/{cam.name}/depth/image", "sensor_msgs/msg/Image",
                      T["sensor_msgs/msg/Image"](header=hdr, **depth_image_fields(res.depth[i])), _stamp(hdr))
                f = depth_info_fields(res.K_depth[i], *res.depth[i].shape)
                roi = T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
                write(f"/{cam.name}/depth/camera_info", "sensor_msgs/msg/CameraInfo",
                      T["sensor_msgs/msg/CameraInfo"](header=hdr, binning_x=0, binning_y=0, roi=roi, **f), _stamp(hdr))
            if res.cloud is not None:
                hdr = next(m for m in imgs if m is not None).header
                f = cloud_fields(res.cloud)
                F = T["sensor_msgs/msg/PointField"]
                f["fields"] = [F(name=nm, offset=o, datatype=dt, count=c) for nm, o, dt, c in f["fields"]]
                write("/points", "sensor_msgs/msg/PointCloud2", T["sensor_msgs/msg/PointCloud2"](
                    header=T["std_msgs/msg/Header"](stamp=hdr.stamp, frame_id=rig.base_frame), **f), _stamp(hdr))

        formed = []  # sets whose CameraInfo (recorded at the same time, possibly after the image) may still come

        def flush(before_ns=None):
            while formed and (before_ns is None or formed[0][0] < before_ns):
                serve(formed.pop(0)[1])

        try:
            for conn, t_ns, raw in tqdm(reader.messages(connections=conns), total=sum(c.msgcount for c in conns),
                                        disable=not progress, desc="fsmde-offline", unit="msg"):
                flush(t_ns)
                msg = reader.deserialize(raw, conn.msgtype)
                if conn.topic in info_index:
                    assembler.add_info(info_index[conn.topic], msg)
                    continue
                got = assembler.add_image(index[conn.topic], _stamp(msg.header), msg)
                if got is not None:
                    formed.append((t_ns, got))
            flush()
        finally:
            out.close()
    stats["bad_views"] = views.bad_views
    stats["unmatched"] = assembler.sync.evicted
    stats["rig"] = rig
    stats["sets_motion_compensated"] = motion.sets_compensated if motion is not None else 0
    return stats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="fsmde-offline", description=__doc__.split("\n\n")[0])
    ap.add_argument("bag", help="input rosbag2 (from fsmde-nusc2bag or a recording)")
    ap.add_argument("out", help="output rosbag2 folder (must not exist)")
    ap.add_argument("--model", help="model folder (default: the installed demo model)")
    ap.add_argument("--rig", help="rig YAML (default: config/nuscenes_rig.yaml, or the bag's own when that "
                                  "does not fit)")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--slop", type=float, default=0.06)
    ap.add_argument("--ground-height", type=float, default=0.0,
                    help="height of the rig's base frame origin above the road, m (the node's ground_height)")
    ap.add_argument("--no-motion-compensation", action="store_true",
                    help="place every view at its static extrinsics (the node's motion_compensation:=none)")
    a = ap.parse_args(argv)
    t0 = time.time()
    try:
        s = run_offline(a.bag, a.out, a.model, a.rig, a.backend, a.device, a.slop, ground_height=a.ground_height,
                        motion_compensation=not a.no_motion_compensation)
    except (ValueError, OSError, RuntimeError) as e:
        print(f"fsmde-offline: error: {e}", file=sys.stderr)
        return 2
    infer = np.median([t["infer"] for t in s["timings"]]) * 1000 if s["timings"] else float("nan")
    print(f"{s['sets']} sets -> {a.out} in {time.time() - t0:.1f} s (infer p50 {infer:.0f} ms, "
          f"{s['bad_views']} bad views, {s['sets_motion_compensated']} clouds motion-compensated)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
