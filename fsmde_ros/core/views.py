"""Messages of one synchronised set -> pipeline Views, with every input check the node promises.

Works on any objects with the sensor_msgs field names (rclpy messages in the node, rosbags messages in the
offline tool), so both paths share one implementation. Problems go to ``warn(key, text)``; a bad view is
kept as ``rgb=None`` so the healthy cameras are still served.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .codecs import ImageError, compressed_size, decode_compressed, decode_raw, jpeg_reduction
from .geometry import check_intrinsics, scale_intrinsics
from .pipeline import View


def is_compressed(msg) -> bool:
    return hasattr(msg, "format") and not hasattr(msg, "encoding")


# Below this many source pixels per set, thread hand-offs (and the GIL, shared with the executor's threads) cost
# more than parallel decoding saves: measured 33 ms vs ~3 ms for six 320x180 JPEGs (0.35 MP) in a composed
# process. Counted in pixels, not bytes: six 800x450 JPEGs are only ~0.4 MB but decode 2x faster on two threads.
PARALLEL_MIN_PIXELS = 1_000_000


def source_pixels(msg) -> int:
    """Pixels of the full-size image a message carries (JPEG/PNG header, or height x width), 0 if unknown."""
    if is_compressed(msg):
        hw = compressed_size(msg.data)
        return hw[0] * hw[1] if hw else 0
    return int(msg.height) * int(msg.width)


class ViewBuilder:
    def __init__(self, names, img_topics, info_topics, model_hw: tuple[int, int],
                 extrinsics: Callable[[str, int], np.ndarray | None], warn: Callable[[object, str], None],
                 map_fn=map, fit_bgr: Callable[[np.ndarray], np.ndarray] | None = None, tensor_decoder=None):
        self.names, self.img_topics, self.info_topics = list(names), list(img_topics), list(info_topics)
        self.model_hw, self.extrinsics, self.warn = model_hw, extrinsics, warn
        self.map = map_fn  # e.g. a thread pool's map: libjpeg and OpenCV release the GIL
        # Preprocessor.fit_bgr: compressed views come out at model size (decode -> resize -> RGB in one task);
        # None keeps the decoded size (the pipeline resizes)
        self.fit_bgr = fit_bgr
        # tensor_input.TensorDecoder: the GPU input path; views come out as device tensors [3, H, W] (JPEGs decoded
        # in one batched nvJPEG call, raw images uploaded) for TensorSurroundPipeline
        self.tensor_decoder = tensor_decoder
        self.src_hw: dict[int, tuple[int, int]] = {}  # last source size per camera (to report size changes)
        self.bad_views = 0

    def _bad(self, key, text):
        self.bad_views += 1
        self.warn(key, text)

    def decode(self, i, msg):
        """-> (RGB image or None, source (height, width)); compressed images are decoded reduced when the
        model input is much smaller (libjpeg DCT scaling, one decode per image)."""
        try:
            if is_compressed(msg):
                src = compressed_size(msg.data)
                red = jpeg_reduction(src, self.model_hw)
                img = decode_compressed(msg.format, msg.data, red, bgr=self.fit_bgr is not None)
                hw = src or img.shape[:2]
                return (self.fit_bgr(img) if self.fit_bgr is not None else img), hw
            rgb = decode_raw(msg.encoding, msg.height, msg.width, msg.step, msg.data)
            return rgb, rgb.shape[:2]
        except ImageError as e:
            self._bad(("img", i), f"{self.img_topics[i]}: {e}; skipping this view, the other cameras are still served")
            return None, None

    def decode_to_device(self, imgs) -> list[tuple]:
        """The GPU path's decode: [(tensor [3, H, W] or None, source (height, width) or None)] per message."""
        out: list[tuple] = [(None, None)] * len(imgs)
        comp = [i for i, m in enumerate(imgs) if m is not None and is_compressed(m)]
        for i, res in zip(comp, self.tensor_decoder.decode_many([(imgs[i].format, imgs[i].data) for i in comp])):
            if isinstance(res, ImageError):
                self._bad(("img", i), f"{self.img_topics[i]}: {res}; skipping this view, the other cameras are "
                                      f"still served")
            else:
                out[i] = (res, compressed_size(imgs[i].data) or tuple(res.shape[1:]))
        for i, m in enumerate(imgs):
            if m is not None and not is_compressed(m):
                rgb, hw = self.decode(i, m)
                out[i] = (self.tensor_decoder.pre.to_device(rgb), hw) if rgb is not None else (None, None)
        return out

    def build(self, imgs, infos) -> list[View]:
        views = []
        big = sum(source_pixels(m) for m in imgs if m is not None) > PARALLEL_MIN_PIXELS
        if self.tensor_decoder is not None:
            decoded = self.decode_to_device(imgs)
        else:
            decoded = list((self.map if big else map)(
                lambda i: self.decode(i, imgs[i]) if imgs[i] is not None else (None, None), range(len(imgs))))
        for i, (im, info) in enumerate(zip(imgs, infos)):
            if im is None or info is None:  # a camera absent from a partial set, or without CameraInfo yet
                if im is not None:
                    self._bad(("noinfo", i), f"{self.info_topics[i]}: no CameraInfo received yet; skipping this "
                                             f"view of {self.img_topics[i]}")
                views.append(View(self.names[i], None, np.eye(3), (0, 0), None))
                continue
            rgb, hw = decoded[i]
            K = np.asarray(info.k, dtype=np.float64).reshape(3, 3)
            src_wh = (int(info.width), int(info.height))
            if rgb is not None:
                h, w = hw
                prev = self.src_hw.get(i)
                if prev is not None and prev != (h, w):
                    self.warn(("resize", i), f"{self.img_topics[i]}: image size changed from {prev[1]}x{prev[0]} "
                                             f"to {w}x{h}; following it (K from this set's CameraInfo)")
                self.src_hw[i] = (h, w)
                why = check_intrinsics(K, *src_wh) if src_wh[0] > 0 and src_wh[1] > 0 else "width/height are 0"
                if why:
                    self._bad(("K", i), f"{self.info_topics[i]}: unusable CameraInfo ({why}); skipping this view")
                    rgb = None
                elif (w, h) != src_wh and abs(w / h - src_wh[0] / src_wh[1]) > 0.01:
                    self._bad(("size", i), f"{self.img_topics[i]}: image {w}x{h} does not match CameraInfo "
                                           f"{src_wh[0]}x{src_wh[1]} (aspect differs); skipping this view")
                    rgb = None
                elif (w, h) != src_wh:
                    self.warn(("scale", i), f"{self.img_topics[i]}: image {w}x{h} vs CameraInfo {src_wh[0]}x"
                                            f"{src_wh[1]}: scaling K to the image")
                    K, src_wh = scale_intrinsics(K, src_wh, (w, h)), (w, h)
            frame = im.header.frame_id
            if not frame:
                self.warn(("noframe", i), f"{self.img_topics[i]}: empty frame_id; no cloud points for this view")
            T = self.extrinsics(frame, i) if frame else None
            views.append(View(self.names[i], rgb, K, src_wh, T))
        return views
