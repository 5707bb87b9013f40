"""The surround depth node: parameters -> QoS -> synced subscriptions -> batched inference -> publishers.

Thin by design: every algorithm lives in ``fsmde_ros.core`` (tested without ROS). Sync callbacks only put
the newest complete set in a one-slot mailbox; a worker thread runs the model, so a slow model never makes
stale sets queue up (a replaced set counts as a drop).
"""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, PointField

from .backends import BackendUnavailable, make_backend
from .core import cloud as cloudlib
from .core.codecs import colorize_depth, depth_to_16uc1, depth_to_32fc1, to_bytes_array
from .core.geometry import pose_matrix
from .core.manifest import ManifestError, load_manifest
from .core.pipeline import CloudConfig, SurroundPipeline, View
from .core.preprocess import Preprocessor
from .core.rig import load_rig
from .core.stats import NodeStats
from .core.throttle import Throttle
from .core.views import ViewBuilder
from .params import PARAMS, check_value, make_config
from .resources import default_model_dir, default_rig_file
from .spin import spin_until_shutdown

try:  # every ROS install has message_filters; pip-only installs use the in-package twin
    from message_filters import ApproximateTimeSynchronizer, Subscriber
except ImportError:  # pragma: no cover - depends on the install
    from .compat.message_filters import ApproximateTimeSynchronizer, Subscriber

try:
    import tf2_ros
except ImportError:  # pragma: no cover
    tf2_ros = None


def stamp_ns(header) -> int:
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


class SurroundDepthLogic:
    """Shared by the plain and the lifecycle node: configure / activate / deactivate / cleanup."""

    def _declare(self):
        for p in PARAMS:
            desc = ParameterDescriptor(description=p.description, read_only=p.read_only,
                                       additional_constraints=(f"one of {list(p.choices)}" if p.choices else
                                                               f"[{p.min}, {p.max}]" if p.min is not None else ""))
            self.declare_parameter(p.name, p.default, desc)
        values = {p.name: self.get_parameter(p.name).value for p in PARAMS}
        try:
            self.cfg = make_config(values)
        except ValueError as e:
            self.get_logger().error(str(e))
            raise
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.throttle = Throttle(5.0)
        self.pipeline = None
        self.backend = None
        self._subs, self._pubs = [], {}
        self._running = False
        self._worker = None
        self._cv = threading.Condition()
        self._pending = None
        self._last_set_ns = None
        self._extrinsics_cache: dict[str, np.ndarray] = {}

    # ---- logging helpers -------------------------------------------------------------------------------
    def _warn(self, key, msg, period=None):
        n = self.throttle(key, period)
        if n is not None:
            self.get_logger().warning(msg + (f" ({n} similar suppressed)" if n else ""))

    def _error(self, key, msg):
        n = self.throttle(key)
        if n is not None:
            self.get_logger().error(msg + (f" ({n} similar suppressed)" if n else ""))

    # ---- parameters at runtime -------------------------------------------------------------------------
    def _on_set_parameters(self, params):
        values = {p.name: getattr(self.cfg, p.name) for p in PARAMS}
        values["cameras"] = list(values["cameras"])
        for p in params:
            if p.name not in values:
                continue
            why = check_value(p.name, p.value)
            if why:
                self.get_logger().warning(f"rejected parameter change: {why}")
                return SetParametersResult(successful=False, reason=why)
            values[p.name] = p.value
        try:
            new = make_config(values)
        except ValueError as e:
            self.get_logger().warning(f"rejected parameter change: {e}")
            return SetParametersResult(successful=False, reason=str(e))
        self.cfg = new
        if self.pipeline is not None:
            self.pipeline.cloud_cfg = self._cloud_cfg()
        return SetParametersResult(successful=True)

    def _cloud_cfg(self) -> CloudConfig:
        c = self.cfg
        return CloudConfig(c.cloud_enabled, c.cloud_stride, c.cloud_min_range, c.cloud_max_range, c.cloud_voxel_size)

    # ---- lifecycle steps -------------------------------------------------------------------------------
    def configure(self) -> bool:
        """Load rig, manifest and backend (builds/loads a TensorRT engine); False with a clear log on failure."""
        c = self.cfg
        log = self.get_logger()
        try:
            rig_path = Path(c.rig_file).expanduser() if c.rig_file else default_rig_file()
            self.rig = load_rig(rig_path)
            by_name = {cam.name: cam for cam in self.rig.cameras}
            unknown = [n for n in c.cameras if n not in by_name]
            if unknown:
                raise ValueError(f"cameras {unknown} are not in the rig file {rig_path} (has {list(by_name)})")
            self.cams = [by_name[n] for n in c.cameras]
            model_dir = Path(c.model_path).expanduser() if c.model_path else default_model_dir()
            log.info(f"model folder: {model_dir.resolve()}  rig file: {rig_path.resolve()}")
            self.manifest = load_manifest(model_dir)
            self.backend, why = make_backend(self.manifest, c.backend, c.device, c.threads, len(self.cams),
                                             c.engine_cache_dir, log=log.info)
            log.info(f"backend: {self.backend.describe()} — {why}")
            self.backend.warmup(len(self.cams), self.manifest.height, self.manifest.width)
        except (ManifestError, BackendUnavailable, FileNotFoundError, ValueError) as e:
            log.error(f"configure failed: {e}")
            self.backend = None
            return False
        self.pre = Preprocessor(self.manifest)
        # decode and resize of the views run in parallel (libjpeg/OpenCV release the GIL)
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(len(self.cams), os.cpu_count() or 1)),
                                        thread_name_prefix="fsmde_views")
        self.pipeline = SurroundPipeline(self.backend, self.pre, self.manifest.min_depth, self.manifest.max_depth,
                                         self._cloud_cfg(), map_fn=self._pool.map)
        self.tf_buffer = None
        if c.use_tf and tf2_ros is not None:
            self.tf_buffer = tf2_ros.Buffer()
            self.tf_listener = tf2_ros.TransformListener(self.tf_buffer, self)
        elif c.use_tf:
            log.info("tf2_ros is not importable: camera extrinsics come from the rig file")
        return True

    def activate(self) -> None:
        c = self.cfg
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=c.qos_depth, durability=DurabilityPolicy.VOLATILE,
                         reliability=(ReliabilityPolicy.RELIABLE if c.qos_reliability == "reliable"
                                      else ReliabilityPolicy.BEST_EFFORT))
        img_type = CompressedImage if c.image_transport == "compressed" else Image
        self.img_topics = [cam.image_topic + ("/compressed" if c.image_transport == "compressed" else "")
                           for cam in self.cams]
        self.info_topics = [cam.camera_info_topic for cam in self.cams]
        self.stats = NodeStats(self.img_topics + self.info_topics)
        self.views = ViewBuilder([cam.name for cam in self.cams], self.img_topics, self.info_topics,
                                 (self.manifest.height, self.manifest.width), self._extrinsics, self._warn,
                                 map_fn=self._pool.map)
        filters = [Subscriber(self, img_type, t, qos_profile=qos) for t in self.img_topics]
        filters += [Subscriber(self, CameraInfo, t, qos_profile=qos) for t in self.info_topics]
        self._latest: list = [None] * len(filters)  # newest message per input (partial sets)
        for i, (f, t) in enumerate(zip(filters, self.img_topics + self.info_topics)):
            f.registerCallback(self._count_input, t, i)
        self.sync = ApproximateTimeSynchronizer(filters, c.sync_queue_size, c.sync_slop)
        self.sync.registerCallback(self._on_set)
        self._subs = filters
        for cam in self.cams:
            n = cam.name
            self._pubs[n] = {
                "depth": self.create_publisher(Image, f"{n}/depth/image", 5),
                "info": self.create_publisher(CameraInfo, f"{n}/depth/camera_info", 5),
                "depth16": self.create_publisher(Image, f"{n}/depth/image_16uc1", 5),
                "color": self.create_publisher(Image, f"{n}/depth/colorized", 5),
            }
        self.cloud_pub = self.create_publisher(PointCloud2, "points", 5)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.diag_timer = self.create_timer(c.diagnostics_period, self._publish_diagnostics)
        self.log_timer = self.create_timer(c.log_period, self._log_stats) if c.log_period > 0 else None
        self._last_complete = self._stream_since = time.monotonic()
        self._last_input = -1e9
        self._last_partial_ns = None
        self.partial_timer = (self.create_timer(min(0.1, c.partial_set_timeout / 2), self._partial_set)
                              if c.partial_set_timeout > 0 else None)
        self._running = True
        self._worker = threading.Thread(target=self._work, name="fsmde_infer", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"active: {len(self.cams)} cameras ({c.image_transport}, QoS {c.qos_reliability}/{c.qos_depth}), "
            f"sync queue {c.sync_queue_size} slop {c.sync_slop:.3f} s, model {self.manifest.name} "
            f"{self.manifest.width}x{self.manifest.height}")

    def deactivate(self) -> None:
        self._running = False
        with self._cv:
            self._cv.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=10)
        for f in self._subs:
            self.destroy_subscription(f.sub)
        self._subs = []
        for pubs in self._pubs.values():
            for p in pubs.values():
                self.destroy_publisher(p)
        self._pubs = {}
        for p in (getattr(self, "cloud_pub", None), getattr(self, "diag_pub", None)):
            if p is not None:
                self.destroy_publisher(p)
        for t in (getattr(self, "diag_timer", None), getattr(self, "log_timer", None),
                  getattr(self, "partial_timer", None)):
            if t is not None:
                self.destroy_timer(t)

    def cleanup(self) -> None:
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.pipeline = self.backend = None

    # ---- callbacks -------------------------------------------------------------------------------------
    def _count_input(self, msg, topic, index):
        now = time.monotonic()
        if now - self._last_input > self.cfg.partial_set_timeout:  # input (re)starts after a silence
            self._stream_since = now
        self._last_input = now
        self.stats.inputs[topic].tick()
        self._latest[index] = msg
        queues = getattr(self.sync, "queues", None)  # message_filters and the fallback both keep dicts per input
        if queues:
            self.stats.queue_max = max(self.stats.queue_max, max(len(q) for q in queues))

    def _on_set(self, *msgs):
        """Called by the synchronizer (executor thread): keep only the newest complete set."""
        st = stamp_ns(msgs[0].header)
        now = self.get_clock().now().nanoseconds
        ahead = (st - now) * 1e-9
        if now > 0 and self.cfg.max_future_stamp > 0 and ahead > self.cfg.max_future_stamp:
            # a broken sensor clock: serving it would hand consumers stamps TF cannot resolve
            self.stats.future_sets += 1
            self._warn("future", f"{self.img_topics[0]}: set stamped {ahead:.1f} s ahead of the node clock "
                                 f"(max_future_stamp {self.cfg.max_future_stamp:g} s): dropped, check the sensor "
                                 f"clock ({self.stats.future_sets} so far)")
            return
        if self._last_set_ns is not None:
            if st == self._last_set_ns:
                self._warn("dup", f"duplicate set stamp {st * 1e-9:.3f} s on {self.img_topics[0]}: ignored")
                return
            if st < self._last_set_ns - 1_000_000_000:
                self._warn("back", f"stamps went backwards by {(self._last_set_ns - st) * 1e-9:.2f} s on "
                                   f"{self.img_topics[0]} (bag loop or restart?): resetting")
                self._extrinsics_cache.clear()
        self._last_set_ns = st
        self._last_complete = time.monotonic()
        self._submit(msgs)

    def _partial_set(self):
        """Timer: while complete sets stop (a camera died) but others are live, serve the live cameras.

        A camera is live when its image and CameraInfo both arrived within ``partial_set_timeout``; the set is
        the live cameras' newest images within ``sync_slop`` of the newest one, each with its CameraInfo of the
        same stamp. Absent cameras publish nothing; the rest is the normal path.
        """
        c, n = self.cfg, len(self.cams)
        if time.monotonic() - max(self._last_complete, self._stream_since) < c.partial_set_timeout:
            return  # complete sets are flowing, or input (re)started too recently to call a camera dead
        ages = [self.stats.inputs[t].last_age() for t in self.img_topics + self.info_topics]
        live = [i for i in range(n) if all(a is not None and a < c.partial_set_timeout for a in (ages[i], ages[n + i]))]
        if not live or len(live) == n:
            return  # nothing to serve, or everything live but not matching: the synchronizer's job
        newest = max(stamp_ns(self._latest[i].header) for i in live)
        if self._last_partial_ns is not None and newest <= self._last_partial_ns:
            return
        slop = int(c.sync_slop * 1e9)
        imgs, infos = [None] * n, [None] * n
        for i in live:
            im, info = self._latest[i], self._latest[n + i]
            if newest - stamp_ns(im.header) <= slop and stamp_ns(info.header) == stamp_ns(im.header):
                imgs[i], infos[i] = im, info
        if not any(imgs):
            return
        self._last_partial_ns = newest
        self.stats.partial_sets += 1
        missing = [self.cams[i].name for i in range(n) if imgs[i] is None]
        self._warn("partial", f"no complete set for > {c.partial_set_timeout:g} s: serving partial sets without "
                              f"{missing} ({self.stats.partial_sets} so far)")
        self._submit(tuple(imgs) + tuple(infos))

    def _submit(self, msgs):
        """Put a set in the one-slot mailbox (replacing an unprocessed one: a drop)."""
        self.stats.sets_in.tick()
        with self._cv:
            if self._pending is not None:
                self.stats.drops += 1
                self._warn("drop", f"input sets arrive faster than inference: {self.stats.drops} sets dropped so "
                                   f"far (the newest set is always the one processed; rates in /diagnostics)",
                           period=60.0)  # a steady overload is a state, not news every 5 s
            self._pending = (msgs, time.perf_counter())
            self._cv.notify()

    def _work(self):
        while self._running:
            with self._cv:
                while self._pending is None and self._running:
                    self._cv.wait(0.5)
                if not self._running:
                    return
                msgs, t_arrival = self._pending
                self._pending = None
            try:
                self._process(msgs, t_arrival)
            except Exception as e:  # noqa: BLE001 - the node keeps serving whatever one set did
                self.stats.errors += 1
                self._error("process", f"processing a set failed: {type(e).__name__}: {e}")

    # ---- one set ---------------------------------------------------------------------------------------
    def _extrinsics(self, frame_id: str, i: int) -> np.ndarray | None:
        if frame_id in self._extrinsics_cache:
            return self._extrinsics_cache[frame_id]
        T = None
        if self.tf_buffer is not None:
            try:
                tf = self.tf_buffer.lookup_transform(self.cfg.base_frame, frame_id, rclpy.time.Time())
                r, t = tf.transform.rotation, tf.transform.translation
                T = pose_matrix([t.x, t.y, t.z], [r.w, r.x, r.y, r.z])
            except Exception as e:  # noqa: BLE001 - tf2 raises several exception types
                self._warn(("tf", frame_id), f"no TF {self.cfg.base_frame} <- '{frame_id}' ({e}); using the rig file")
        if T is None:
            rc = self.rig.by_frame(frame_id)
            if rc is None:
                self._warn(("frame", frame_id), f"{self.img_topics[i]}: frame_id '{frame_id}' is unknown to TF and "
                           f"to the rig file; its points are left out of the cloud")
                return None
            T = rc.T_base_camera
        self._extrinsics_cache[frame_id] = T
        return T

    def _process(self, msgs, t_arrival):
        n = len(self.cams)
        imgs, infos = msgs[:n], msgs[n:]
        t0 = time.perf_counter()
        views = self.views.build(imgs, infos)
        self.stats.bad_views = self.views.bad_views
        t1 = time.perf_counter()
        if all(v.rgb is None for v in views):
            self._warn("allbad", "no usable view in this set; nothing published")
            return
        # lazy outputs: nothing is built for a topic nobody subscribes to (image_transport's convention)
        res = self.pipeline.process(views, cloud=self.cloud_pub.get_subscription_count() > 0)
        t2 = time.perf_counter()
        self._publish(imgs, res)
        t3 = time.perf_counter()
        timings = dict(res.timings, decode=t1 - t0, publish=t3 - t2, total=t3 - t_arrival)
        self.stats.add_latency(timings)
        self.stats.sets_out.tick()

    def _publish(self, imgs, res):
        c = self.cfg
        for i, cam in enumerate(self.cams):
            d = res.depth[i]
            if d is None:
                continue
            hdr = imgs[i].header
            pubs = self._pubs[cam.name]
            h, w = d.shape
            if pubs["depth"].get_subscription_count():
                pubs["depth"].publish(self._image(hdr, depth_to_32fc1(d), "32FC1", w * 4))
            info = CameraInfo(header=hdr, height=h, width=w, distortion_model="plumb_bob", d=[0.0] * 5)
            K = res.K_depth[i]
            info.k = K.reshape(-1).tolist()
            info.r = np.eye(3).reshape(-1).tolist()
            P = np.zeros((3, 4))
            P[:, :3] = K
            info.p = P.reshape(-1).tolist()
            pubs["info"].publish(info)
            if c.publish_depth_16uc1 and pubs["depth16"].get_subscription_count():
                pubs["depth16"].publish(self._image(hdr, depth_to_16uc1(d), "16UC1", w * 2))
            if c.publish_colorized and pubs["color"].get_subscription_count():
                pubs["color"].publish(self._image(hdr, colorize_depth(d, self.manifest.min_depth,
                                                                      self.manifest.max_depth), "bgr8", w * 3))
        if res.cloud is not None:
            hdr = next(m for m in imgs if m is not None).header
            msg = PointCloud2()
            msg.header.stamp = hdr.stamp
            msg.header.frame_id = c.base_frame
            msg.height, msg.width = 1, len(res.cloud)
            msg.fields = [PointField(name=nm, offset=off, datatype=cloudlib.FLOAT32, count=1) for nm, off in cloudlib.FIELDS]
            msg.is_bigendian, msg.point_step = False, cloudlib.XYZRGB_DTYPE.itemsize
            msg.row_step = msg.point_step * msg.width
            msg.is_dense = True
            msg.data = to_bytes_array(res.cloud)
            self.cloud_pub.publish(msg)

    @staticmethod
    def _image(header, arr, encoding, step):
        m = Image(header=header, height=arr.shape[0], width=arr.shape[1], encoding=encoding, is_bigendian=0, step=step)
        m.data = to_bytes_array(arr)
        return m

    # ---- diagnostics -----------------------------------------------------------------------------------
    def _status(self) -> tuple[int, str, list[tuple[str, str]]]:
        s = self.stats
        vals = [("backend", self.backend.describe() if self.backend else "none"),
                ("input set rate (Hz)", f"{s.sets_in.rate():.2f}"), ("output set rate (Hz)", f"{s.sets_out.rate():.2f}"),
                ("dropped sets", str(s.drops)), ("bad views", str(s.bad_views)), ("errors", str(s.errors)),
                ("future-stamped sets dropped", str(s.future_sets)), ("partial sets", str(s.partial_sets)),
                ("sync queue depths", str(self.sync.queues and [len(q) for q in self.sync.queues])),
                ("sync queue depth max", str(s.queue_max)), ("sync queue size", str(self.cfg.sync_queue_size))]
        for stage, (p50, p95) in s.latency_summary().items():
            vals.append((f"latency {stage} p50/p95 (ms)", f"{p50:.1f}/{p95:.1f}"))
        silent, ages = [], {}
        for t, m in s.inputs.items():
            vals.append((f"rate {t} (Hz)", f"{m.rate():.2f}"))
            ages[t] = m.last_age()
        timeout = self.cfg.stale_input_timeout
        heard = [a for a in ages.values() if a is not None]
        if not heard:
            return DiagnosticStatus.WARN, "no input yet", vals
        if min(heard) > timeout:
            return (DiagnosticStatus.WARN, f"all {len(ages)} inputs silent for {min(heard):.1f} s "
                    f"(> stale_input_timeout {timeout:g} s): nothing to publish", vals)
        silent = [t for t, a in ages.items() if a is None or a > timeout]
        if silent:
            fallback = (f"serving partial sets of the other cameras after {self.cfg.partial_set_timeout:g} s"
                        if self.cfg.partial_set_timeout > 0 else "nothing published until they return")
            return (DiagnosticStatus.WARN, f"no messages for > {timeout:g} s on {silent}: no complete sets, "
                    f"{fallback}", vals)
        return DiagnosticStatus.OK, "running", vals

    def _publish_diagnostics(self):
        level, message, vals = self._status()
        if level != DiagnosticStatus.OK and message != "no input yet":
            self._warn(("silent", message.split(" ")[0]), message)
        st = DiagnosticStatus(level=level, name=f"{self.get_name()}: surround depth", message=message,
                              hardware_id=self.backend.describe() if self.backend else "none",
                              values=[KeyValue(key=k, value=v) for k, v in vals])
        arr = DiagnosticArray(status=[st])
        arr.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(arr)

    def _log_stats(self):
        s = self.stats
        lat = s.latency_summary()
        parts = ", ".join(f"{k} {v[0]:.0f}" for k, v in lat.items())
        self.get_logger().info(f"sets in {s.sets_in.rate():.1f} Hz, out {s.sets_out.rate():.1f} Hz, drops {s.drops}, "
                               f"bad views {s.bad_views}; p50 ms: {parts}")


class SurroundDepthNode(SurroundDepthLogic, Node):
    """The plain node: configures and activates itself on construction (composable on any executor)."""

    def __init__(self, node_name: str = "surround_depth", **kwargs):
        Node.__init__(self, node_name, **kwargs)
        self._declare()
        if not self.configure():
            raise RuntimeError("surround_depth: configure failed (see the log line above)")
        self.activate()

    def destroy_node(self):
        if self._running:
            self.deactivate()
        self.cleanup()
        return Node.destroy_node(self)


def main(args=None):
    rclpy.init(args=args)
    try:
        node = SurroundDepthNode()
    except (RuntimeError, ValueError) as e:
        print(e)
        rclpy.try_shutdown()
        return 1
    return spin_until_shutdown(node)


if __name__ == "__main__":
    raise SystemExit(main())
