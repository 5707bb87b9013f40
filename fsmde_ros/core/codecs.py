"""Image decoding and depth encoding (REP-118) on plain bytes/arrays: what cv_bridge would do, and checked.

Every failure raises ``ImageError`` with a message that says what was received and what was expected.
"""
from __future__ import annotations

import array

import cv2
import numpy as np

COLOR_ENCODINGS = {"rgb8": (3, False), "bgr8": (3, True), "rgba8": (4, False), "bgra8": (4, True)}


class ImageError(ValueError):
    pass


def decode_raw(encoding: str, height: int, width: int, step: int, data) -> np.ndarray:
    """sensor_msgs/Image fields -> RGB uint8 [H, W, 3] (a view when already rgb8 and tightly packed)."""
    enc = encoding.lower()
    if enc not in COLOR_ENCODINGS:
        raise ImageError(f"unsupported encoding '{encoding}': expected a colour image "
                         f"({', '.join(COLOR_ENCODINGS)})")
    ch, bgr = COLOR_ENCODINGS[enc]
    if height <= 0 or width <= 0:
        raise ImageError(f"empty image {width}x{height}")
    if step < width * ch:
        raise ImageError(f"step {step} is smaller than width*channels = {width * ch} for {encoding}")
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size != step * height:
        raise ImageError(f"data has {buf.size} bytes, expected step*height = {step}*{height} = {step * height}")
    img = buf.reshape(height, step)[:, : width * ch].reshape(height, width, ch)
    if ch == 4:
        img = img[:, :, :3]
    return np.ascontiguousarray(img[:, :, ::-1]) if bgr else img


def jpeg_reduction(src_hw: tuple[int, int] | None, target_hw: tuple[int, int]) -> int:
    """Largest libjpeg DCT-domain reduction (1, 2, 4, 8) that keeps the image >= the model input size."""
    if src_hw is None:
        return 1
    f = 1
    for r in (2, 4, 8):
        if src_hw[0] // r >= target_hw[0] and src_hw[1] // r >= target_hw[1]:
            f = r
    return f


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def compressed_size(data) -> tuple[int, int] | None:
    """(height, width) from a JPEG SOF or PNG IHDR header without decoding; None when not found.

    Reduced-size JPEG decoding rounds up (900 px / 8 -> 113 rows), so the source size must come from the header.
    """
    b = bytes(data[:65536]) if not isinstance(data, (bytes, bytearray)) else data[:65536]
    if b[:8] == b"\x89PNG\r\n\x1a\n" and len(b) >= 24:
        return int.from_bytes(b[20:24], "big"), int.from_bytes(b[16:20], "big")
    if b[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(b):
        if b[i] != 0xFF:
            return None
        marker = b[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        seg = int.from_bytes(b[i + 2:i + 4], "big")
        if marker in _SOF:
            return int.from_bytes(b[i + 5:i + 7], "big"), int.from_bytes(b[i + 7:i + 9], "big")
        i += 2 + seg
    return None


_REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}


PNG_MAGIC, JPEG_MAGIC = b"\x89PNG\r\n\x1a\n", b"\xff\xd8"


def check_compressed(fmt: str, data) -> str:
    """'jpeg' or 'png' for a usable CompressedImage payload, else ``ImageError`` saying what is wrong.

    The format string only has to name an image codec (jpeg or png); which one is decided by the data's magic
    bytes, since drivers label PNG as "jpeg" and the other way round."""
    f = fmt.lower()
    if not any(k in f for k in ("jpeg", "jpg", "png")):
        raise ImageError(f"unsupported compressed format '{fmt}': expected jpeg or png")
    n = len(data)
    if n == 0:
        raise ImageError("empty compressed image")
    head = bytes(data[:8])
    if head.startswith(PNG_MAGIC):
        return "png"
    if head.startswith(JPEG_MAGIC):
        if b"\xff\xd9" not in bytes(data[-64:]):
            raise ImageError(f"corrupt or truncated JPEG ({n} bytes, SOI/EOI markers missing)")
        return "jpeg"
    raise ImageError(f"corrupt or truncated image ({n} bytes, neither JPEG (SOI/EOI markers missing) "
                     f"nor PNG magic bytes; format says '{fmt}')")


def decode_compressed(fmt: str, data, reduction: int = 1, bgr: bool = False) -> np.ndarray:
    """sensor_msgs/CompressedImage -> RGB uint8 (``bgr``: libjpeg's contiguous BGR), optionally decoded at
    1/2, 1/4 or 1/8 size (JPEG only: libpng has no reduced decode, the preprocessor resizes)."""
    if check_compressed(fmt, data) == "png":
        reduction = 1
    buf = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(buf, _REDUCED.get(reduction, cv2.IMREAD_COLOR))
    if img is None:
        raise ImageError(f"could not decode {fmt} data ({buf.size} bytes)")
    return img if bgr else img[:, :, ::-1]


def depth_to_32fc1(depth: np.ndarray) -> np.ndarray:
    """REP-118 32FC1: float32 metres, NaN for invalid (``depth`` <= 0 or non-finite)."""
    d = depth.astype(np.float32, copy=True)
    d[~(d > 0) | ~np.isfinite(d)] = np.nan
    return d


def depth_to_16uc1(depth: np.ndarray) -> np.ndarray:
    """REP-118 16UC1: uint16 millimetres, 0 for invalid or beyond 65.535 m."""
    mm = np.nan_to_num(depth.astype(np.float64) * 1000.0, nan=0.0, posinf=0.0, neginf=0.0)
    mm = np.round(mm)
    mm[(mm <= 0) | (mm > 65535)] = 0
    return mm.astype(np.uint16)


_TURBO_LUT: np.ndarray | None = None


def _turbo_lut() -> np.ndarray:
    """OpenCV's TURBO colormap as a [1, 256, 3] BGR table (applyColorMap rebuilds it on every call)."""
    global _TURBO_LUT
    if _TURBO_LUT is None:
        ramp = np.arange(256, dtype=np.uint8).reshape(1, 256)
        _TURBO_LUT = cv2.applyColorMap(ramp, cv2.COLORMAP_TURBO).reshape(1, 256, 3)
    return _TURBO_LUT


def colorize_depth(depth: np.ndarray, min_depth: float, max_depth: float) -> np.ndarray:
    """bgr8 visualisation (inverse depth, near = bright; invalid black): RViz's Image display has no colormap.

    float32 in place and a cached lookup table: ~4x cheaper than the plain numpy + applyColorMap version,
    with identical pixels (test_codecs)."""
    d = np.asarray(depth, np.float32)
    valid = d > 0  # False for NaN too
    lo, hi = 1.0 / max_depth, 1.0 / max(min_depth, 1e-3)
    inv = np.maximum(d, np.float32(1e-3), where=valid, out=np.full(d.shape, np.inf, np.float32))
    np.reciprocal(inv, out=inv)  # invalid: 1 / inf = 0 -> clipped to the far colour, then blacked out
    inv -= np.float32(lo)
    inv *= np.float32(1.0 / (hi - lo))
    np.clip(inv, 0, 1, out=inv)
    np.sqrt(inv, out=inv)
    inv *= np.float32(255)
    u8 = inv.astype(np.uint8)
    out = cv2.LUT(cv2.merge((u8, u8, u8)), _turbo_lut())
    out[~valid] = 0
    return out


def to_bytes_array(arr: np.ndarray) -> array.array:
    """Message ``data`` without rclpy's per-element path (measured: 0.3 ms instead of 434 ms for 4 MB)."""
    out = array.array("B")
    out.frombytes(memoryview(np.ascontiguousarray(arr)).cast("B"))
    return out
