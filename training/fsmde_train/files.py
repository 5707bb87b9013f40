"""Checked reads of dataset files shared by the converter and the dataset: a bad file raises ``BadFile`` naming
the path and what was expected, so callers can skip that sample and report it."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np


class BadFile(ValueError):
    pass


def atomic_write_text(path, text: str) -> None:
    """Write through a temporary file and a rename: a reader sees the old file or the new one, never a part."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def jpeg_ok(data: bytes) -> bool:
    """Both JPEG markers present (libjpeg decodes a truncated file into grey rows with only a warning)."""
    return len(data) > 4 and data[:2] == b"\xff\xd8" and data.rstrip(b"\x00")[-2:] == b"\xff\xd9"


def read_rgb(path) -> np.ndarray:
    """RGB uint8 [H, W, 3] of a JPEG/PNG file."""
    p = Path(path)
    if not p.is_file():
        raise BadFile(f"image {p} is missing")
    data = p.read_bytes()
    if p.suffix.lower() in (".jpg", ".jpeg") and not jpeg_ok(data):
        raise BadFile(f"image {p} is a corrupt or truncated JPEG ({len(data)} bytes)")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise BadFile(f"image {p} could not be decoded")
    return img[:, :, ::-1]
