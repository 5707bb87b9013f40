#!/usr/bin/env python3
"""Reduced-size JPEG decode of six camera images: OpenCV (what the node uses) vs the libjpeg-turbo bindings
simplejpeg and PyTurboJPEG, when installed (neither is a dependency: `pip install simplejpeg==1.9.0`).

Each decoder produces the same DCT-scaled image (checked); time per six images, single thread, median of runs.
Frames: the real nuScenes key frame in ../shared/real when present, else the bench's synthetic 1600x900 world.

    python bench/jpeg_bench.py [--iters 50]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frames import ROOT, ensure_world, load_frames  # noqa: E402

sys.path.insert(0, str(ROOT))


def jpegs():
    real = sorted((ROOT.parent / "shared" / "real" / "nuscenes_keyframe" / "imgs").glob("*.jpg"))
    if len(real) == 6:
        return [p.read_bytes() for p in real], "real nuScenes key frame (6 x 1600x900)"
    world = ensure_world(ROOT / "out" / "bench" / "world_1600x900", 1600, 900, 0.5)
    return load_frames(world)[0][0], "synthetic world (6 x 1600x900, q90)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--model-hw", type=int, nargs=2, default=(128, 224))
    a = ap.parse_args(argv)
    from fsmde_ros.core.codecs import _REDUCED, compressed_size, jpeg_reduction

    cv2.setNumThreads(1)
    data, what = jpegs()
    red = jpeg_reduction(compressed_size(data[0]), tuple(a.model_hw))
    decoders = {"opencv imdecode (node)": lambda d: cv2.imdecode(np.frombuffer(d, np.uint8), _REDUCED[red])[:, :, ::-1]}
    try:
        import simplejpeg

        decoders[f"simplejpeg {simplejpeg.__version__}"] = lambda d: simplejpeg.decode_jpeg(
            d, "RGB", min_height=a.model_hw[0], min_width=a.model_hw[1])
        decoders["simplejpeg fastdct+fastupsample"] = lambda d: simplejpeg.decode_jpeg(
            d, "RGB", fastdct=True, fastupsample=True, min_height=a.model_hw[0], min_width=a.model_hw[1])
    except ImportError:
        print("simplejpeg not installed: skipped")
    try:
        from turbojpeg import TurboJPEG

        tj = TurboJPEG()
        decoders["PyTurboJPEG"] = lambda d: tj.decode(d, scaling_factor=(1, red))[:, :, ::-1]
    except Exception as e:  # noqa: BLE001 - missing module or missing libturbojpeg.so
        print(f"PyTurboJPEG unavailable: {type(e).__name__}: {e}")
    ref = [decoders["opencv imdecode (node)"](d) for d in data]
    print(f"\n==== JPEG decode at 1/{red} (model input {a.model_hw[1]}x{a.model_hw[0]}), {what}, one thread ====")
    base = None
    for name, fn in decoders.items():
        out = [fn(d) for d in data]
        same = all(o.shape == r.shape for o, r in zip(out, ref))
        diff = max(int(np.abs(o.astype(int) - r).max()) for o, r in zip(out, ref)) if same else -1
        runs = []
        for _ in range(a.iters):
            t = time.perf_counter()
            for d in data:
                fn(d)
            runs.append(time.perf_counter() - t)
        ms = float(np.median(runs) * 1000)
        base = base or ms
        print(f"{name:34s} {ms:7.2f} ms per six images  ({ms / base:.2f}x opencv; max pixel diff {diff})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
