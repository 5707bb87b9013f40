"""The node's processing of one synchronised set, without ROS: preprocess -> infer -> postprocess -> cloud.

Inputs are already decoded RGB views with their CameraInfo K; outputs are metric depth maps at the model
resolution with the matching K, and the fused cloud in the base frame. Stage timings are recorded so the
node can report them (decode and publish are timed by the node, which owns the messages).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import cloud as cloudlib
from .geometry_input import GeometryError, GeometryInputs
from .preprocess import Preprocessor
from .temporal import TemporalState


@dataclass
class View:
    name: str
    # RGB uint8 [H, W, 3] at any size, or on the GPU path a torch tensor [3, H, W] (tensor_input); None when the
    # view could not be decoded
    rgb: object
    K: np.ndarray  # 3x3 at the rgb's original (source) resolution
    src_wh: tuple[int, int]  # width, height that K refers to
    T_base_cam: np.ndarray | None  # 4x4; None when the extrinsics are unknown (no cloud points)
    # 4x4 T_base(set stamp) <- base(this view's stamp): the vehicle's motion between this exposure and the cloud's
    # stamp (core/motion.py); None = placed at the static extrinsics. Only the cloud uses it: the camera-aware
    # input channels describe the mount, which the motion does not change.
    T_motion: np.ndarray | None = None


@dataclass(frozen=True)
class CloudConfig:
    enabled: bool = True
    stride: int = 2
    min_range: float = 1.0
    max_range: float = 60.0
    voxel_size: float = 0.0


@dataclass
class SetResult:
    depth: list[np.ndarray | None]  # per view, float32 [h, w] metres (NaN invalid), None for skipped views
    K_depth: list[np.ndarray | None]
    rgb_small: list[np.ndarray | None]
    cloud: np.ndarray | None  # structured XYZRGB_DTYPE array in the base frame
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    skipped: dict[int, str] = field(default_factory=dict)  # view index -> why it was dropped after decoding
    temporal_reset: str | None = None  # a temporal model: why the previous set's state was not used (None: it was)


def default_geometry(pre) -> GeometryInputs | None:
    """The channels a model declares, for a base frame on the road (ground_height 0, nuScenes' ego frame); the node
    passes its own with the ground_height parameter."""
    spec = pre.geometry_spec
    return GeometryInputs(spec, (pre.h, pre.w), pre.canonical_focal) if spec else None


def camera_inputs(geometry: GeometryInputs | None, Ks: list, views: list) -> tuple[list, dict[int, str]]:
    """The camera-aware channels per live view (None where the view is absent), and the views that cannot have
    them (no extrinsics, a camera below the road...) with the reason: those are dropped, never fed zeros."""
    if geometry is None:
        return [None] * len(Ks), {}
    out, skipped = [], {}
    for i, (K, v) in enumerate(zip(Ks, views)):
        g = None
        if K is not None:
            try:
                g = geometry.for_view(K, v.T_base_cam)
            except GeometryError as e:
                skipped[i] = str(e)
        out.append(g)
    return out, skipped


class SurroundPipeline:
    def __init__(self, backend, pre: Preprocessor, min_depth: float, max_depth: float,
                 cloud: CloudConfig = CloudConfig(), map_fn=map, geometry: GeometryInputs | None = None,
                 temporal: TemporalState | None = None):
        self.backend, self.pre, self.cloud_cfg, self.map = backend, pre, cloud, map_fn
        self.temporal = temporal  # a temporal model's state across sets (core/temporal.py), else None
        self.geometry = geometry or default_geometry(pre)  # the model's camera-aware channels (None: RGB only)
        self.min_depth, self.max_depth = min_depth, max_depth
        self._buf: np.ndarray | None = None
        self.fuser = cloudlib.CloudFuser()

    def process(self, views: list[View], cloud: bool | None = None, stamp_ns: int | None = None) -> SetResult:
        """``cloud``: build the fused cloud (default: ``cloud_cfg.enabled``; the node skips it without subscribers);
        ``stamp_ns``: the set's stamp (needed by a temporal model, which carries state to the next set)."""
        t0 = time.perf_counter()
        n = len(views)
        big = sum(v.rgb.size for v in views if v.rgb is not None) > (1 << 21)  # parallel only where it pays
        small = list((self.map if big else map)(
            lambda v: self.pre.resize(v.rgb) if v.rgb is not None else None, views))
        Ks = [self.pre.model_intrinsics(v.K, v.src_wh) if s is not None else None for v, s in zip(views, small)]
        geo, skipped = camera_inputs(self.geometry, Ks, views)
        for i in skipped:
            small[i] = Ks[i] = None
        # A view that failed to decode still takes its slot (zeros), so the batch shape stays fixed (TensorRT).
        blank = np.zeros((self.pre.h, self.pre.w, 3), np.uint8)
        if self._buf is None or self._buf.shape[0] != n:
            self._buf = self.backend.input_buffer((n, self.pre.channels, self.pre.h, self.pre.w))
        batch = self.pre.batch([s if s is not None else blank for s in small], out=self._buf)
        if self.geometry is not None:
            for i, g in enumerate(geo):
                batch[i, 3:] = g if g is not None else 0.0
        t1 = time.perf_counter()
        reset = None
        if self.temporal is not None:
            if stamp_ns is None:
                raise ValueError("a model with temporal state needs the set's stamp (process(..., stamp_ns=...))")
            prev, valid, reset = self.temporal.inputs(stamp_ns)
            pred, state = self.backend.infer_state(batch, prev, valid)
            self.temporal.update(state, stamp_ns, [s is not None for s in small])
        else:
            pred = self.backend.infer(batch)
        t2 = time.perf_counter()
        depths = []
        for i, v in enumerate(views):
            if small[i] is None:
                depths.append(None)
                continue
            K = Ks[i]
            d = pred[i, 0] * np.float32(self.pre.focal_scale(K))
            d[(d < self.min_depth) | (d > self.max_depth) | ~np.isfinite(d)] = np.nan
            depths.append(d)
        t3 = time.perf_counter()
        want = self.cloud_cfg.enabled if cloud is None else cloud and self.cloud_cfg.enabled
        points = self.fuse(depths, Ks, small, views) if want else None
        t4 = time.perf_counter()
        return SetResult(depths, Ks, small, points,
                         {"preprocess": t1 - t0, "infer": t2 - t1, "postprocess": t3 - t2, "cloud": t4 - t3}, skipped,
                         reset)

    def fuse(self, depths, Ks, rgbs, views) -> np.ndarray:
        c = self.cloud_cfg
        return self.fuser.fuse(depths, Ks, rgbs, [v.T_base_cam for v in views], c.stride, c.min_range, c.max_range,
                               c.voxel_size, [v.T_motion for v in views])
