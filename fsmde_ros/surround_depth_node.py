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

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, PointField

from .backends import BackendUnavailable, make_backend
from .core import health
from .core.extrinsics import Extrinsics
from .core.geometry import pose_matrix
from .core.manifest import ManifestError, check_model_files, load_manifest
from .core.motion import EgoMotion
from .core.messages import cloud_fields, colorized_fields, depth_image_fields, depth_info_fields
from .core.geometry_input import GeometryInputs
from .core.pipeline import CloudConfig, SurroundPipeline
from .core.preprocess import Preprocessor
from .core.rig import load_rig
from .core.sets import SetAssembler, classify_set_stamp, stamp_offsets
from .core.temporal import TemporalState
from .core.stats import NodeStats
from .core.throttle import Throttle
from .core.codecs import to_bytes_array
from .core.views import ViewBuilder
from .params import PARAMS, ConfigError, check_value, make_config
from .resources import default_model_dir, default_rig_file
from .spin import run_node

try:  # every ROS install has tf2_ros; on a pip-only install the rig file gives the extrinsics
    import tf2_ros
except ImportError:  # pragma: no cover - depends on the install
    tf2_ros = None
try:  # nav_msgs is in every ROS install and on PyPI (ros-nav-msgs); the cloud's motion compensation reads it
    from nav_msgs.msg import Odometry
except ImportError:  # pragma: no cover - depends on the install
    Odometry = None


def stamp_ns(header) -> int:
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


class SurroundDepthLogic:
    """Shared by the plain and the lifecycle node: configure / activate / deactivate / cleanup.

    Wiring only: set assembly, partial-set policy and health live in ``core`` (sets.py, health.py), extrinsics
    in core/extrinsics.py, message layouts in core/messages.py.
    """

    # defaults, so a node whose construction failed half-way can still be destroyed cleanly
    _running = False
    _worker = None
    _pool = None
    tf_listener = None
    tf_buffer = None
    pipeline = backend = _tensor_decoder = temporal = motion = None

    def _declare(self):
        for p in PARAMS:
            constraints = (f"one of {list(p.choices)}" if p.choices else
                           f"[{p.min}, {p.max}]" if p.min is not None else "")
            if isinstance(p.default, list):  # typed: an empty list has no type of its own
                self.declare_parameter(p.name, Parameter.Type.STRING_ARRAY, ParameterDescriptor(
                    description=p.description, read_only=p.read_only, additional_constraints=constraints))
            else:  # dynamic typing: our own check gives one clear line for a wrong type (and takes 1 for 1.0)
                self.declare_parameter(p.name, p.default, ParameterDescriptor(
                    description=p.description, read_only=p.read_only, additional_constraints=constraints,
                    dynamic_typing=True))
        values = {p.name: self._param_value(p.name) for p in PARAMS}
        try:
            self.cfg = make_config(values)
        except ConfigError as e:
            self.get_logger().error(str(e))
            raise
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.throttle = Throttle(5.0)
        self._subs, self._pubs = [], {}
        self._cv = threading.Condition()
        self._pending = None
        self._last_set_ns = None

    def _param_value(self, name):
        try:
            return self.get_parameter(name).value
        except ParameterUninitializedException:  # a typed list left at its (empty) default
            return []

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
            self.cams = [by_name[n] for n in c.cameras] if c.cameras else list(self.rig.cameras)
            self.base_frame = c.base_frame or self.rig.base_frame
            if c.motion_compensation == "odometry" and Odometry is None:
                raise ValueError("motion_compensation 'odometry' needs nav_msgs (ros-nav-msgs), which is not "
                                 "importable here; use auto, tf or off")
            if c.motion_compensation == "tf" and tf2_ros is None:
                raise ValueError("motion_compensation 'tf' needs tf2_ros, which is not importable here (a pip-only "
                                 "install); use odometry (nav_msgs/Odometry on odom_topic), auto or off")
            model_dir = Path(c.model_path).expanduser() if c.model_path else default_model_dir()
            log.info(f"model folder: {model_dir.resolve()}  rig file: {rig_path.resolve()} "
                     f"({len(self.cams)} cameras: {[cam.name for cam in self.cams]})")
            self.manifest = load_manifest(model_dir)
            self.manifest.check_cameras([cam.name for cam in self.cams])
            check_model_files(self.manifest)
            self.backend, why = make_backend(self.manifest, c.backend, c.device, c.threads, len(self.cams),
                                             c.engine_cache_dir, log=log.info)
            log.info(f"backend: {self.backend.describe()} — {why}")
            self.backend.warmup(len(self.cams), self.manifest.height, self.manifest.width,
                                   channels=self.manifest.channels)
        except (ManifestError, BackendUnavailable, OSError, ValueError) as e:
            log.error(f"configure failed: {e}")
            self.backend = None
            return False
        self.pre = Preprocessor(self.manifest)
        # decode and resize of the views run in parallel (libjpeg/OpenCV release the GIL)
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(len(self.cams), os.cpu_count() or 1)),
                                        thread_name_prefix="fsmde_views")
        self.geometry = (GeometryInputs(self.manifest.geometry, (self.manifest.height, self.manifest.width),
                                        self.manifest.canonical_focal_px, c.ground_height)
                         if self.manifest.geometry else None)
        if self.geometry is not None:
            log.info(f"model input: RGB + camera-aware channels {list(self.geometry.names)} from CameraInfo and the "
                     f"extrinsics ({self.base_frame}'s origin {c.ground_height:.2f} m above the road: ground_height)")
        # a temporal model (manifest fusion.state): each camera's state from the previous set (core/temporal.py)
        self.temporal = (TemporalState(len(self.cams), self.manifest.state_shape, c.temporal_max_gap)
                         if self.manifest.state_shape else None)
        if self.temporal is not None:
            log.info(f"model keeps temporal state per camera across sets; dropped after a gap over "
                     f"{c.temporal_max_gap:g} s (temporal_max_gap), on stamps that do not move forward, per missing view")
        self.pipeline = SurroundPipeline(self.backend, self.pre, self.manifest.min_depth, self.manifest.max_depth,
                                         self._cloud_cfg(), map_fn=self._pool.map, geometry=self.geometry,
                                         temporal=self.temporal)
        self._tensor_decoder = None
        if self.backend.device == "cuda":
            if self.temporal is None:
                self._gpu_input(log)
            else:
                log.info("input path: CPU decode and preprocessing (the GPU input path does not carry a temporal "
                         "model's state yet)")
        lookup = None
        motion_tf = tf2_ros is not None and c.motion_compensation in ("auto", "tf")
        if tf2_ros is not None and (c.use_tf or motion_tf) and self.tf_listener is None:
            # one listener per configured node; cleanup() removes it
            self.tf_buffer = tf2_ros.Buffer()
            self.tf_listener = tf2_ros.TransformListener(self.tf_buffer, self)
        if c.use_tf and tf2_ros is not None:
            lookup = self._tf_lookup
            log.info(f"camera extrinsics: TF ({self.base_frame} <- camera frames), looked up per set; "
                     f"fallback: the rig file {rig_path}")
        else:
            why = "use_tf is false" if not c.use_tf else "tf2_ros is not importable"
            log.info(f"camera extrinsics: the rig file {rig_path} ({why})")
        self.extrinsics = Extrinsics(self.rig, self.base_frame, lookup, self._warn, log.info)
        self.motion = EgoMotion(c.motion_compensation, self._tf_between if motion_tf else None, self._warn)
        log.info(self._motion_text())
        return True

    def _motion_text(self) -> str:
        c = self.cfg
        if c.motion_compensation == "none":
            return "cloud motion compensation: none (every view at its static extrinsics)"
        srcs = []
        if c.motion_compensation in ("auto", "odometry") and Odometry is not None and c.odom_topic:
            srcs.append(f"odometry poses on '{c.odom_topic}'")
        if self.motion.tf_between is not None:
            srcs.append(f"TF {self.base_frame} through '{c.odom_frame}'")
        return (f"cloud motion compensation ({c.motion_compensation}): each view moved to the set's first stamp by "
                f"the ego motion from {' or else '.join(srcs) if srcs else 'nothing available here'}")

    def _gpu_input(self, log) -> None:
        """The GPU input path (core/tensor_input.py) when asked for and possible; otherwise say why not."""
        if not self.cfg.gpu_decode:
            log.info("input path: CPU decode and preprocessing (gpu_decode is false)")
            return
        from .core.tensor_input import (GpuInputUnavailable, TensorDecoder, TensorPreprocessor,
                                        TensorSurroundPipeline, nvjpeg_decoder)

        try:
            tp = TensorPreprocessor(self.manifest, "cuda")
            self._tensor_decoder = TensorDecoder(tp, nvjpeg_decoder("cuda"))
        except GpuInputUnavailable as e:
            log.info(f"input path: CPU decode and preprocessing ({e})")
            return
        self.pipeline = TensorSurroundPipeline(self.backend, tp, self.manifest.min_depth, self.manifest.max_depth,
                                               self._cloud_cfg(), self.geometry)
        log.info("input path: GPU (nvJPEG decode, resize + normalise into the model input, back-projection on the "
                 "GPU, one host copy of depth + cloud)")

    def _tf_lookup(self, target: str, source: str):
        tf = self.tf_buffer.lookup_transform(target, source, rclpy.time.Time())
        r, t = tf.transform.rotation, tf.transform.translation
        return pose_matrix([t.x, t.y, t.z], [r.w, r.x, r.y, r.z])

    def _tf_between(self, t_ref_ns: int, t_ns: int):
        """T_base(t_ref) <- base(t) through the fixed odom_frame (tf2 interpolates /tf; no extrapolation)."""
        tf = self.tf_buffer.lookup_transform_full(self.base_frame, rclpy.time.Time(nanoseconds=t_ref_ns),
                                                  self.base_frame, rclpy.time.Time(nanoseconds=t_ns), self.cfg.odom_frame)
        r, t = tf.transform.rotation, tf.transform.translation
        return pose_matrix([t.x, t.y, t.z], [r.w, r.x, r.y, r.z])

    def _on_odom(self, msg) -> None:
        st = stamp_ns(msg.header)
        child = msg.child_frame_id.lstrip("/")
        if child and child != self.base_frame:
            self._warn("odom_child", f"{self.cfg.odom_topic}: odometry of '{child}', the cloud is in "
                                     f"'{self.base_frame}': its motion is used as the base frame's (exact when the "
                                     f"two are rigidly aligned; a lever arm adds ~yaw rate x 40 ms x arm)", period=1e9)
        if st == 0:
            self._warn("odom_zero", f"{self.cfg.odom_topic}: header.stamp is 0; pose ignored")
            return
        p, q = msg.pose.pose.position, msg.pose.pose.orientation
        try:
            self.motion.add_odometry(st, [p.x, p.y, p.z], [q.w, q.x, q.y, q.z])
        except ValueError as e:
            self._warn("odom_bad", f"{self.cfg.odom_topic}: {e}; pose ignored")

    def activate(self) -> None:
        c = self.cfg
        if self.temporal is not None:  # a reactivated node starts a new drive
            self.temporal.reset()
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=c.qos_depth, durability=DurabilityPolicy.VOLATILE,
                         reliability=(ReliabilityPolicy.RELIABLE if c.qos_reliability == "reliable"
                                      else ReliabilityPolicy.BEST_EFFORT))
        img_type = CompressedImage if c.image_transport == "compressed" else Image
        self.img_topics = [cam.input_topic(c.image_transport) for cam in self.cams]
        self.info_topics = [cam.camera_info_topic for cam in self.cams]
        n = len(self.cams)
        self.stats = NodeStats(self.img_topics + self.info_topics)
        self.views = ViewBuilder([cam.name for cam in self.cams], self.img_topics, self.info_topics,
                                 (self.manifest.height, self.manifest.width),
                                 lambda frame, i: self.extrinsics.get(frame, self.img_topics[i]), self._warn,
                                 map_fn=self._pool.map, fit_bgr=self.pre.fit_bgr,
                                 tensor_decoder=self._tensor_decoder)
        self.sets = SetAssembler(n, c.sync_queue_size, int(round(c.sync_slop * 1e9)),
                                 history=min(c.sync_queue_size, 4))
        self._served_at: list[float | None] = [None] * n
        self._depth_published = [0] * n  # 32FC1 images handed to DDS per camera (diagnostics)
        self._zero_stamps = [0] * n
        self._first_image_at: list[float | None] = [None] * n
        self._all_heard = False
        self._deferred = None  # a set waiting for its cameras' first CameraInfo
        self._future_at = None  # when a set was last dropped as stamped too far ahead
        self._set_at = None  # when a set last went to the worker (health: sets form, or not)
        self._failed = None  # (when, message) of the newest processing error (health names it)
        # images and CameraInfo use one QoS; only the images are synchronised (core/sets.py says why). CameraInfo
        # subscriptions come first: the executor serves ready subscriptions in creation order, so an image's info
        # that arrived with it is cached before the image completes a set.
        self._subs = [self.create_subscription(CameraInfo, t, lambda m, i=i: self._on_info(m, i), qos)
                      for i, t in enumerate(self.info_topics)]
        self.motion.reset()  # a reactivated node starts a new drive
        if c.motion_compensation in ("auto", "odometry") and Odometry is not None and c.odom_topic:
            # best effort hears both reliable and best-effort odometry publishers
            odom_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, durability=DurabilityPolicy.VOLATILE,
                                  reliability=ReliabilityPolicy.BEST_EFFORT)
            self._subs.append(self.create_subscription(Odometry, c.odom_topic, self._on_odom, odom_qos))
        self._subs += [self.create_subscription(img_type, t, lambda m, i=i: self._on_image(m, i), qos)
                       for i, t in enumerate(self.img_topics)]
        for cam in self.cams:
            nm = cam.name
            self._pubs[nm] = {
                "depth": self.create_publisher(Image, f"{nm}/depth/image", 5),
                "info": self.create_publisher(CameraInfo, f"{nm}/depth/camera_info", 5),
                "depth16": self.create_publisher(Image, f"{nm}/depth/image_16uc1", 5),
                "color": self.create_publisher(Image, f"{nm}/depth/colorized", 5),
            }
        self.cloud_pub = self.create_publisher(PointCloud2, "points", 5)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.diag_timer = self.create_timer(c.diagnostics_period, self._publish_diagnostics)
        self.log_timer = self.create_timer(c.log_period, self._log_stats) if c.log_period > 0 else None
        self._active_since = self._last_complete = self._stream_since = time.monotonic()
        self._last_input = -1e9
        self.partial_timer = (self.create_timer(min(0.1, c.partial_set_timeout / 2), self._partial_set)
                              if c.partial_set_timeout > 0 else None)
        self.defer_timer = self.create_timer(0.05, self._release_deferred)  # a set waiting for CameraInfo
        self._running = True
        self._worker = threading.Thread(target=self._work, name="fsmde_infer", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"active: waiting for {n} cameras on {self.img_topics} (+ camera_info; {c.image_transport}, "
            f"QoS {c.qos_reliability}/{c.qos_depth}), sync queue {c.sync_queue_size} slop {c.sync_slop:.3f} s, "
            f"model {self.manifest.name} {self.manifest.width}x{self.manifest.height}, cloud in {self.base_frame}")

    def deactivate(self) -> None:
        self._running = False
        with self._cv:
            self._pending = None  # a set taken before deactivation must not come out after re-activation
            self._cv.notify_all()
        self._deferred = None
        if self._worker is not None:
            self._worker.join(timeout=10)
            self._worker = None
        for s in self._subs:
            self.destroy_subscription(s)
        self._subs = []
        for pubs in self._pubs.values():
            for p in pubs.values():
                self.destroy_publisher(p)
        self._pubs = {}
        for p in (getattr(self, "cloud_pub", None), getattr(self, "diag_pub", None)):
            if p is not None:
                self.destroy_publisher(p)
        for t in (getattr(self, "diag_timer", None), getattr(self, "log_timer", None),
                  getattr(self, "partial_timer", None), getattr(self, "defer_timer", None)):
            if t is not None:
                self.destroy_timer(t)
        self._last_set_ns = None

    def cleanup(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self.tf_listener is not None:
            unregister = getattr(self.tf_listener, "unregister", None)
            if unregister is not None:
                unregister()
            self.tf_listener = self.tf_buffer = None
        self.pipeline = self.backend = self._tensor_decoder = self.temporal = None

    # ---- callbacks -------------------------------------------------------------------------------------
    def _on_image(self, msg, i):
        now = time.monotonic()
        if now - self._last_input > self.cfg.partial_set_timeout:  # input (re)starts after a silence
            self._stream_since = now
        self._last_input = now
        self.stats.inputs[self.img_topics[i]].tick()
        st = stamp_ns(msg.header)
        if st == 0:  # an unstamped driver: no sync, no TF, and "backwards" jumps against stamped sets
            self._zero_stamps[i] += 1
            self._error(("zero", i), f"{self.img_topics[i]}: header.stamp is 0; image dropped (it cannot be "
                                     f"synchronised or placed in TF; the camera driver must stamp its images)")
            return
        self._zero_stamps[i] = 0
        if self._first_image_at[i] is None:
            self._first_image_at[i] = now
        if not self._all_heard and all(self.stats.inputs[t].last_age() is not None for t in self.img_topics):
            self._all_heard = True
            self.get_logger().info(f"receiving all {len(self.cams)} cameras")
        out = self.sets.add_image(i, st, msg)
        self.stats.queue_max = max(self.stats.queue_max, max(self.sets.sync.pending()))
        if out is not None:
            self._last_complete = now
            self._on_set(out)

    def _on_info(self, msg, i):
        self.stats.inputs[self.info_topics[i]].tick()
        change = self.sets.add_info(i, msg)
        if change is not None and not change.first:
            self.get_logger().info(f"{self.info_topics[i]}: {change.text}; applied from the next set")
        self._release_deferred()

    def _release_deferred(self, force=False):
        if self._deferred is not None:
            self._submit(self._deferred[0], force=force)

    def _on_set(self, imgs, partial=False):
        """Stamp checks, then the one-slot mailbox (executor thread)."""
        first = next(m for m in imgs if m is not None)
        st = stamp_ns(first.header)
        topic = self.img_topics[imgs.index(first)]
        verdict, secs = classify_set_stamp(st, self._last_set_ns, self.get_clock().now().nanoseconds,
                                           self.cfg.max_future_stamp)
        if verdict == "future":
            self.stats.future_sets += 1
            self.stats.future_ahead, self._future_at = secs, time.monotonic()
            self._warn("future", f"{topic}: set stamped {secs:.1f} s ahead of the node clock "
                                 f"(max_future_stamp {self.cfg.max_future_stamp:g} s): dropped, check the sensor "
                                 f"clock ({self.stats.future_sets} so far)")
            return
        if verdict == "duplicate":
            self._warn("dup", f"duplicate set stamp {st * 1e-9:.3f} s on {topic}: ignored")
            return
        if verdict == "backwards":
            self._warn("back", f"stamps went backwards by {secs:.2f} s on {topic} (bag loop or restart?): resetting")
            self.sets.reset()
            self.extrinsics.reset()
        self._last_set_ns = st
        self._submit(imgs)

    def _partial_set(self):
        """Timer: while complete sets stop (a camera died, or its stamps do not fit) but others are live, serve
        the newest window of the live cameras' images that holds the most of them (core/sets.py)."""
        c, n = self.cfg, len(self.cams)
        now = time.monotonic()
        if now - max(self._last_complete, self._stream_since) < c.partial_set_timeout:
            return  # complete sets are flowing, or input (re)started too recently to call a camera dead
        ages = [self.stats.inputs[t].last_age() for t in self.img_topics]
        live = [i for i in range(n) if ages[i] is not None and ages[i] < c.partial_set_timeout
                and self.sets.infos[i] is not None]
        if not live:
            return
        after = self._last_set_ns
        newest = max((s for i in live for s, _ in self.sets.recent[i]), default=None)
        if after is not None and newest is not None and newest < after - 1_000_000_000:
            after = None  # stamps went backwards (bag loop): _on_set logs it and resets
        got = self.sets.partial(live, after)
        if got is None:
            return
        imgs, _ = got
        missing = [self.cams[i].name for i in range(n) if imgs[i] is None]
        if missing:
            self.stats.partial_sets += 1
            self._warn("partial", f"no complete set for > {c.partial_set_timeout:g} s: serving partial sets without "
                                  f"{missing} ({self.stats.partial_sets} so far)")
        self._on_set(tuple(imgs), partial=True)

    def _submit(self, imgs, force=False):
        """Put a set in the one-slot mailbox (replacing an unprocessed one: a drop), with its CameraInfo.

        An image's CameraInfo may still be in flight behind it: a set waits (``_release_deferred``) for the infos
        ``SetAssembler.awaited_infos`` names, up to 0.1 s for a camera whose infos carry the image's stamp, up to
        ``stale_input_timeout`` after a camera's first image for its first info; then it goes with what is cached
        (a camera without any CameraInfo is skipped, logged) and the camera is no longer waited for."""
        now = time.monotonic()
        if self._deferred is not None and self._deferred[0] is not imgs:
            self._release_deferred(force=True)  # a newer set came: the older one goes as it is
        awaited = [] if force else self.sets.awaited_infos(imgs)
        if any(now - self._first_image_at[i] < self.cfg.stale_input_timeout if self.sets.infos[i] is None
               else now - (self._deferred[1] if self._deferred else now) < 0.1 for i in awaited):
            if self._deferred is None:
                self._deferred = (imgs, now)
            return
        self._deferred = None
        self.sets.note_pairing(imgs)
        infos = self.sets.infos_for(imgs)
        self.stats.sets_in.tick()
        self._set_at = now
        with self._cv:
            if self._pending is not None:
                self.stats.drops += 1
                self._warn("drop", f"input sets arrive faster than inference: {self.stats.drops} sets dropped so "
                                   f"far (the newest set is always the one processed; rates in /diagnostics)",
                           period=60.0)  # a steady overload is a state, not news every 5 s
            self._pending = (imgs, infos, time.perf_counter())
            self._cv.notify()

    def _work(self):
        while self._running:
            with self._cv:
                while self._pending is None and self._running:
                    self._cv.wait(0.5)
                if not self._running:
                    return
                imgs, infos, t_arrival = self._pending
                self._pending = None
                self.stats.busy = True
            try:
                self._process(imgs, infos, t_arrival)
            except Exception as e:  # noqa: BLE001 - the node keeps serving whatever one set did
                self.stats.errors += 1
                self._failed = (time.monotonic(), f"{type(e).__name__}: {e}")
                self._error("process", f"processing a set failed: {self._failed[1]}")
            finally:
                self.stats.busy = False

    def idle(self) -> bool:
        """No set waiting and none being processed (tests and tools that count every set)."""
        with self._cv:
            return self._pending is None and not self.stats.busy

    # ---- one set ---------------------------------------------------------------------------------------
    def _process(self, imgs, infos, t_arrival):
        t0 = time.perf_counter()
        views = self.views.build(imgs, infos)
        self.stats.bad_views = self.views.bad_views
        t1 = time.perf_counter()
        if all(v.rgb is None for v in views):
            self._warn("allbad", "no usable view in this set; nothing published")
            return
        # lazy outputs: nothing is built for a topic nobody subscribes to (image_transport's convention)
        first = next(m for m in imgs if m is not None)
        want_cloud = self.cloud_pub.get_subscription_count() > 0
        t_motion = time.perf_counter()
        if want_cloud and self.cfg.cloud_enabled:  # the cloud is stamped with the first camera: move views there
            stamps = [stamp_ns(m.header) if m is not None and v.T_base_cam is not None else None
                      for m, v in zip(imgs, views)]
            for v, M in zip(views, self.motion.motions(stamps, stamp_ns(first.header), self.cfg.motion_wait)):
                v.T_motion = M
        t_motion = time.perf_counter() - t_motion  # motion_wait included: odometry that trails the images
        res = self.pipeline.process(views, cloud=want_cloud, stamp_ns=stamp_ns(first.header))
        for i, why in res.skipped.items():
            self._warn(("geometry", i), f"{self.cams[i].name}: {why}; skipping this view")
        t2 = time.perf_counter()
        self._publish(imgs, res)
        t3 = time.perf_counter()
        timings = dict(res.timings, decode=t1 - t0, motion=t_motion, publish=t3 - t2, total=t3 - t_arrival)
        self.stats.add_latency(timings)
        self.stats.sets_out.tick()
        now = time.monotonic()
        for i, d in enumerate(res.depth):
            if d is not None:
                self._served_at[i] = now

    def _publish(self, imgs, res):
        c = self.cfg
        for i, cam in enumerate(self.cams):
            d = res.depth[i]
            if d is None:
                continue
            hdr = imgs[i].header
            pubs = self._pubs[cam.name]
            if pubs["depth"].get_subscription_count():
                pubs["depth"].publish(self._image(hdr, depth_image_fields(d, "32FC1")))
                self._depth_published[i] += 1
            f = depth_info_fields(res.K_depth[i], *d.shape)
            pubs["info"].publish(CameraInfo(header=hdr, height=f["height"], width=f["width"],
                                            distortion_model=f["distortion_model"], d=f["d"].tolist(),
                                            k=f["k"].tolist(), r=f["r"].tolist(), p=f["p"].tolist()))
            if c.publish_depth_16uc1 and pubs["depth16"].get_subscription_count():
                pubs["depth16"].publish(self._image(hdr, depth_image_fields(d, "16UC1")))
            if c.publish_colorized and pubs["color"].get_subscription_count():
                pubs["color"].publish(self._image(hdr, colorized_fields(d, self.manifest.min_depth,
                                                                        self.manifest.max_depth)))
        if res.cloud is not None:
            hdr = next(m for m in imgs if m is not None).header
            f = cloud_fields(res.cloud)
            msg = PointCloud2(height=f["height"], width=f["width"], is_bigendian=f["is_bigendian"],
                              point_step=f["point_step"], row_step=f["row_step"], is_dense=f["is_dense"],
                              fields=[PointField(name=nm, offset=off, datatype=dt, count=cnt)
                                      for nm, off, dt, cnt in f["fields"]])
            msg.header.stamp = hdr.stamp
            msg.header.frame_id = self.base_frame
            msg.data = to_bytes_array(f["data"])
            self.cloud_pub.publish(msg)

    @staticmethod
    def _image(header, f):
        m = Image(header=header, height=f["height"], width=f["width"], encoding=f["encoding"],
                  is_bigendian=f["is_bigendian"], step=f["step"])
        m.data = to_bytes_array(f["data"])
        return m

    # ---- diagnostics -----------------------------------------------------------------------------------
    def _health(self) -> tuple[int, str]:
        c, now = self.cfg, time.monotonic()
        offsets = stamp_offsets([[s for s, _ in r] for r in self.sets.recent])
        cams = tuple(health.CameraHealth(
            cam.name, self.img_topics[i], self.info_topics[i], self.stats.inputs[self.img_topics[i]].last_age(),
            self.stats.inputs[self.info_topics[i]].last_age(),
            None if self._served_at[i] is None else now - self._served_at[i], self._zero_stamps[i], offsets[i])
            for i, cam in enumerate(self.cams))
        recent = self._future_at is not None and now - self._future_at < c.stale_input_timeout
        recent_future = self.stats.future_sets if recent else 0
        failed = self._failed if self._failed and now - self._failed[0] < c.stale_input_timeout else None
        return health.assess(health.HealthInput(cams, now - self._active_since, c.stale_input_timeout, c.sync_slop,
                                                c.partial_set_timeout, recent_future, self.stats.future_ahead,
                                                None if self._set_at is None else now - self._set_at,
                                                failed and failed[1]))

    def _status(self) -> tuple[int, str, list[tuple[str, str]]]:
        s = self.stats
        vals = [("backend", self.backend.describe() if self.backend else "none"),
                ("input set rate (Hz)", f"{s.sets_in.rate():.2f}"), ("output set rate (Hz)", f"{s.sets_out.rate():.2f}"),
                ("sets served", str(s.sets_out.count)), ("dropped sets", str(s.drops)), ("bad views", str(s.bad_views)), ("errors", str(s.errors)),
                ("future-stamped sets dropped", str(s.future_sets)), ("partial sets", str(s.partial_sets)),
                ("unmatched images", str(self.sets.sync.evicted)),
                ("sync queue depths", str(self.sets.sync.pending())),
                ("sync queue depth max", str(s.queue_max)), ("sync queue size", str(self.cfg.sync_queue_size)),
                ("depth images published", str(self._depth_published))]
        if self.motion is not None:
            m = self.motion
            vals.append(("cloud motion compensation", f"{m.last_source or 'none'} (last set); sets compensated "
                                                      f"{m.sets_compensated}, uncompensated {m.sets_uncompensated}"))
        if self.temporal is not None:
            r = self.temporal.resets
            vals.append(("temporal state resets first/backwards/gap", f"{r['first']}/{r['backwards']}/{r['gap']}"))
        for stage, (p50, p95) in s.latency_summary().items():
            vals.append((f"latency {stage} p50/p95 (ms)", f"{p50:.1f}/{p95:.1f}"))
        for t, m in s.inputs.items():
            vals.append((f"rate {t} (Hz)", f"{m.rate():.2f}"))
        level, message = self._health()
        return level, message, vals

    def _publish_diagnostics(self):
        level, message, vals = self._status()
        if level != health.OK and not message.startswith("waiting for"):
            self._warn(("health", health.code(message)), message)
        st = DiagnosticStatus(level=bytes([level]), name=f"{self.get_name()}: surround depth", message=message,
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
            raise ConfigureFailed("surround_depth: configure failed (see the log line above)")
        self.activate()

    def destroy_node(self):
        if self._running:
            self.deactivate()
        self.cleanup()
        return Node.destroy_node(self)


class ConfigureFailed(RuntimeError):
    """The node cannot serve (model, backend, rig); the reason is already logged."""


def main(args=None):
    return run_node(SurroundDepthNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
