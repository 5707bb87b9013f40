"""The GPU input path, in torch and without ROS: JPEG bytes -> nvJPEG decode on the GPU -> area resize and
normalisation straight into the model's input tensor; depth post-processing and the cloud's back-projection on
the GPU; one host copy of the outputs.

Everything here also runs on CPU tensors (same code, ``device="cpu"``), which is how CI checks it against the
numpy path (test/test_tensor_input.py); only the nvJPEG decoder needs CUDA. The one difference from the CPU
path, by design: nvJPEG decodes at full size and the resize is OpenCV's INTER_AREA box filter from there (as
the training data loader does), where the CPU path first reduces 2-8x inside libjpeg (DCT scaling).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .cloud import XYZRGB_DTYPE, sampled_rays
from .codecs import ImageError, check_compressed, decode_compressed
from .manifest import ModelManifest
from .preprocess import ModelGeometry


class GpuInputUnavailable(RuntimeError):
    """No GPU JPEG decoder here (no CUDA, or neither torchvision's nvJPEG nor nvImageCodec importable)."""


def nvjpeg_decoder(device: str = "cuda") -> Callable[[list[bytes]], list[torch.Tensor]]:
    """Batched JPEG decode on the GPU: bytes -> RGB uint8 [3, H, W] tensors on ``device``.

    torchvision.io.decode_jpeg (nvJPEG, one batched call) first, then NVIDIA nvImageCodec. Raises
    ``GpuInputUnavailable`` saying what is missing."""
    if not (device.startswith("cuda") and torch.cuda.is_available()):
        raise GpuInputUnavailable(f"GPU JPEG decode needs a CUDA device (device {device!r}, "
                                  f"torch.cuda.is_available() = {torch.cuda.is_available()})")
    why = []
    try:
        from torchvision.io import ImageReadMode, decode_jpeg

        def tv_decode(datas):
            blobs = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in datas]
            return decode_jpeg(blobs, mode=ImageReadMode.RGB, device=device)
        return tv_decode
    except Exception as e:  # noqa: BLE001 - a CPU-only torchvision fails at import with varying errors
        why.append(f"torchvision.io.decode_jpeg: {type(e).__name__}: {e}")
    try:
        from nvidia import nvimgcodec

        dec = nvimgcodec.Decoder()

        def nv_decode(datas):
            imgs = dec.decode([bytes(d) for d in datas])  # HWC RGB uint8 on the current GPU
            return [torch.as_tensor(im, device=device).permute(2, 0, 1) for im in imgs]
        return nv_decode
    except Exception as e:  # noqa: BLE001
        why.append(f"nvidia.nvimgcodec: {type(e).__name__}: {e}")
    raise GpuInputUnavailable("no GPU JPEG decoder: " + "; ".join(why))


class TensorPreprocessor(ModelGeometry):
    """Preprocessor's contract on tensors: any-size RGB -> model-size uint8 RGB [3, h, w] (kept for the cloud's
    colours) -> normalised float32 [N, 3, h, w], written into the backend's input tensor."""

    def __init__(self, manifest: ModelManifest, device: str = "cpu"):
        self.h, self.w, self.device = manifest.height, manifest.width, torch.device(device)
        std = torch.tensor(manifest.std, dtype=torch.float32)
        self.a = (manifest.scale / std).reshape(1, 3, 1, 1).to(self.device)
        self.b = (-torch.tensor(manifest.mean, dtype=torch.float32) / std).reshape(1, 3, 1, 1).to(self.device)
        self.canonical_focal = manifest.canonical_focal_px
        self.geometry_spec = manifest.geometry
        self._weights: dict[tuple[int, int], torch.Tensor] = {}

    def to_device(self, rgb) -> torch.Tensor:
        """numpy RGB [H, W, 3] (a raw Image, a PNG decoded on the CPU) or a tensor [3, H, W] -> [3, H, W] here."""
        if isinstance(rgb, np.ndarray):
            t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)
            return t.to(self.device, non_blocking=True)
        return rgb.to(self.device)

    def _area_weights(self, src: int, dst: int) -> torch.Tensor:
        """[dst, src] box-filter weights with exact fractional overlaps: OpenCV's INTER_AREA for any ratio
        (torch's ``mode="area"`` is adaptive average pooling, whole pixels only: up to 2.5 grey levels off)."""
        key = (src, dst)
        if key not in self._weights:
            s = src / dst
            lo = np.arange(dst)[:, None] * s
            j = np.arange(src)[None, :]
            overlap = np.clip(np.minimum(j + 1, lo + s) - np.maximum(j, lo), 0, None) / s
            self._weights[key] = torch.as_tensor(overlap, dtype=torch.float32, device=self.device)
        return self._weights[key]

    def fit(self, images: list[torch.Tensor]) -> list[torch.Tensor]:
        """RGB uint8 [3, H, W] each -> model-size uint8 [3, h, w]: as Preprocessor.resize, a box average down
        (two small matrix products, same-size images in one call) and bilinear up."""
        out: list[torch.Tensor | None] = [None] * len(images)
        groups: dict[tuple, list[int]] = {}
        for i, im in enumerate(images):
            groups.setdefault(tuple(im.shape), []).append(i)
        for shape, idx in groups.items():
            x = torch.stack([images[i] for i in idx])
            if shape[1:] != (self.h, self.w):
                x = x.float()
                if shape[1] > self.h:
                    x = self._area_weights(shape[1], self.h) @ x @ self._area_weights(shape[2], self.w).T
                else:
                    x = F.interpolate(x, size=(self.h, self.w), mode="bilinear", align_corners=False)
                x = x.round_().clamp_(0, 255).to(torch.uint8)
            for j, i in enumerate(idx):
                out[i] = x[j]
        return out

    def batch(self, small: list[torch.Tensor], out: torch.Tensor | None = None) -> torch.Tensor:
        x = torch.stack(small).float()
        if out is None:
            return torch.addcmul(self.b, x, self.a)
        return torch.addcmul(self.b, x, self.a, out=out)


class TensorCloudFuser:
    """CloudFuser on tensors: rays cached per (K, T, shape, stride) on the device; returns the packed [M, 4]
    float32 rows (x, y, z, rgb bits) on the device, or the host structured array from ``to_host``."""

    def __init__(self, device: str = "cpu", max_cached: int = 64):
        self.device, self.max_cached = torch.device(device), max_cached
        self._rays: dict = {}

    def rays(self, K: np.ndarray, T: np.ndarray, shape: tuple[int, int], stride: int):
        key = (K.tobytes(), T.tobytes(), shape, stride)
        hit = self._rays.get(key)
        if hit is None:
            dirs, norms, origin = (torch.as_tensor(np.asarray(a, np.float32), device=self.device)
                                   for a in sampled_rays(K, T, shape, stride))
            if len(self._rays) > self.max_cached:
                self._rays.clear()
            hit = self._rays[key] = (dirs, norms, origin)
        return hit

    def fuse(self, depth: torch.Tensor, Ks, rgb: torch.Tensor, Ts, stride: int = 2, min_range: float = 1.0,
             max_range: float = 60.0, motions=None) -> torch.Tensor:
        """depth [N, h, w] float32 metres (NaN invalid); Ks / Ts per view (None: view left out); rgb [N, 3, h, w]
        uint8; motions: per view T_base(cloud stamp)<-base(exposure) or None (CloudFuser.fuse). Returns float32
        [M, 4] on the device: x, y, z in the base frame and the 0x00RRGGBB bits."""
        rows = []
        motions = [None] * len(Ts) if motions is None else motions
        for i, (K, T, M) in enumerate(zip(Ks, Ts, motions)):
            if K is None or T is None:
                continue
            dirs, norms, origin = self.rays(K, T, tuple(depth.shape[1:]), stride)
            z = depth[i, ::stride, ::stride].reshape(-1)
            r = z * norms
            keep = (z > 0) & (r >= min_range) & (r <= max_range)  # NaN compares False
            c = rgb[i, :, ::stride, ::stride].reshape(3, -1).to(torch.int32)
            bits = ((c[0] << 16) | (c[1] << 8) | c[2]).view(torch.float32)
            xyz = dirs * z[:, None] + origin
            if M is not None:
                Mt = torch.as_tensor(np.asarray(M, np.float32), device=self.device)
                xyz = xyz @ Mt[:3, :3].T + Mt[:3, 3]
            rows.append(torch.cat([xyz, bits[:, None]], 1)[keep])
        if not rows:
            return torch.empty((0, 4), dtype=torch.float32, device=self.device)
        return torch.cat(rows)

    @staticmethod
    def to_host(rows: torch.Tensor) -> np.ndarray:
        return rows.cpu().numpy().view(XYZRGB_DTYPE).reshape(-1)


class TensorDecoder:
    """Decodes the compressed views of one set for the GPU path: JPEGs in one batched GPU call, anything else
    (PNG, a JPEG the GPU decoder refuses) with libjpeg/libpng on the CPU and uploaded. A bad image raises
    ``ImageError`` for that view only (``decode_many`` returns it in place of the tensor)."""

    def __init__(self, pre: TensorPreprocessor, gpu_decode: Callable[[list[bytes]], list[torch.Tensor]] | None):
        self.pre, self.gpu_decode = pre, gpu_decode

    def decode_many(self, items: list[tuple[str, bytes]]) -> list[torch.Tensor | ImageError]:
        out: list = [None] * len(items)
        jpeg_idx = []
        for k, (fmt, data) in enumerate(items):
            try:
                if check_compressed(fmt, data) == "jpeg" and self.gpu_decode is not None:
                    jpeg_idx.append(k)
                else:
                    out[k] = self.pre.to_device(decode_compressed(fmt, data))
            except ImageError as e:
                out[k] = e
        if jpeg_idx:
            try:
                imgs = self.gpu_decode([items[k][1] for k in jpeg_idx])
            except Exception:  # noqa: BLE001 - one bad image fails the batch: decode one by one to find it
                imgs = [self._one(*items[k]) for k in jpeg_idx]
            for k, im in zip(jpeg_idx, imgs):
                out[k] = im
        return out

    def _one(self, fmt, data):
        try:
            return self.gpu_decode([data])[0]
        except Exception:  # noqa: BLE001 - nvJPEG rejects some valid files (e.g. arithmetic coding): use libjpeg
            try:
                return self.pre.to_device(decode_compressed(fmt, data))
            except ImageError as e:
                return e




class TensorSurroundPipeline:
    """SurroundPipeline's contract (``process(views) -> SetResult``) for views whose ``rgb`` are tensors
    [3, H, W] uint8 on the device (TensorViewBuilder's output): fit + normalise, ``backend.infer_tensor``,
    focal rescale and validity, cloud, then **one** device->host copy of depth and cloud together.

    Stage times synchronise the device at each boundary (a few microseconds), so they are real, not launch times.
    ``rgb_small`` stays on the device and is not returned (None per view): nothing on the host needs it."""

    def __init__(self, backend, pre: TensorPreprocessor, min_depth: float, max_depth: float, cloud=None,
                 geometry=None):
        from .pipeline import CloudConfig

        from .pipeline import default_geometry

        self.backend, self.pre, self.geometry = backend, pre, geometry or default_geometry(pre)
        self.cloud_cfg = cloud if cloud is not None else CloudConfig()
        self.min_depth, self.max_depth = min_depth, max_depth
        self.fuser = TensorCloudFuser(str(pre.device))
        self._buf: torch.Tensor | None = None
        self._sync = torch.cuda.synchronize if pre.device.type == "cuda" else (lambda: None)

    def _now(self) -> float:
        import time

        self._sync()
        return time.perf_counter()

    @torch.inference_mode()
    def process(self, views, cloud: bool | None = None, stamp_ns: int | None = None):
        """``stamp_ns`` is taken for SurroundPipeline's call and unused: no temporal model runs on this path."""
        from .pipeline import SetResult, camera_inputs

        t0 = self._now()
        n, h, w = len(views), self.pre.h, self.pre.w
        live = [i for i, v in enumerate(views) if v.rgb is not None]
        Ks = [self.pre.model_intrinsics(v.K, v.src_wh) if v.rgb is not None else None for v in views]
        geo, skipped = camera_inputs(self.geometry, Ks, views)
        live = [i for i in live if i not in skipped]
        for i in skipped:
            Ks[i] = None
        fitted = dict(zip(live, self.pre.fit([views[i].rgb for i in live])))
        blank = torch.zeros((3, h, w), dtype=torch.uint8, device=self.pre.device)  # fixed batch shape (TensorRT)
        small = [fitted.get(i, blank) for i in range(n)]
        c_in = 3 + (len(self.geometry) if self.geometry is not None else 0)
        if self._buf is None or self._buf.shape[0] != n:
            self._buf = torch.empty((n, c_in, h, w), dtype=torch.float32, device=self.pre.device)
        x = self.pre.batch(small, out=self._buf[:, :3])
        if self.geometry is not None:
            self._buf[:, 3:] = torch.from_numpy(np.stack([g if g is not None else np.zeros((c_in - 3, h, w),
                                                          np.float32) for g in geo])).to(self.pre.device)
            x = self._buf
        t1 = self._now()
        pred = self.backend.infer_tensor(x)
        t2 = self._now()
        scale = torch.tensor([self.pre.focal_scale(K) if K is not None else 0.0 for K in Ks],
                             dtype=torch.float32).to(self.pre.device).reshape(n, 1, 1)
        d = pred[:, 0] * scale
        d = torch.where((d >= self.min_depth) & (d <= self.max_depth), d, torch.full_like(d, float("nan")))
        t3 = self._now()
        want = self.cloud_cfg.enabled if cloud is None else cloud and self.cloud_cfg.enabled
        c = self.cloud_cfg
        rows = (self.fuser.fuse(d, Ks, torch.stack(small), [v.T_base_cam for v in views], c.stride, c.min_range,
                                c.max_range, [v.T_motion for v in views]) if want else None)
        # one host copy of everything the node publishes
        flat = torch.cat([d.reshape(-1)] + ([rows.reshape(-1)] if rows is not None else [])).cpu().numpy()
        depth_host = flat[:n * h * w].reshape(n, h, w)
        points = None
        if rows is not None:
            points = flat[n * h * w:].reshape(-1, 4)
            if c.voxel_size > 0 and len(points):
                keys = np.floor(points[:, :3] / c.voxel_size).astype(np.int64)
                points = points[np.sort(np.unique(keys, axis=0, return_index=True)[1])]
            points = np.ascontiguousarray(points).view(XYZRGB_DTYPE).reshape(-1)
        t4 = self._now()
        depths = [depth_host[i] if i in fitted else None for i in range(n)]
        return SetResult(depths, Ks, [None] * n, points,
                         {"preprocess": t1 - t0, "infer": t2 - t1, "postprocess": t3 - t2, "cloud": t4 - t3}, skipped)


__all__ = ["GpuInputUnavailable", "TensorCloudFuser", "TensorDecoder", "TensorPreprocessor", "TensorSurroundPipeline",
           "nvjpeg_decoder"]
