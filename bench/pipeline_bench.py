#!/usr/bin/env python3
"""The node's per-set work without DDS: the same ViewBuilder, SurroundPipeline and encoders the node runs.

Six JPEG cameras (1600x900 by default) -> decode (one reduced-size libjpeg decode per image) -> preprocess ->
infer (one batch) -> postprocess -> cloud -> output encoding (32FC1, colorized bgr8, message byte arrays).
Prints per-stage p50/p95, the overhead ratio (everything but infer) / infer, and the node's time against its
irreducible parts measured in the same loop: a bare DCT-scaled libjpeg decode of the images (same thread pool as
the node) plus a bare backend call on a ready batch. Also how the time grows with the number of cameras and the
camera resolution. DDS transport is bench/node_bench.py's job.

    python bench/pipeline_bench.py                         # CPU, the shipped model, backend auto
    python bench/pipeline_bench.py --device cuda --backend torch
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frames import CAMERAS, ROOT, ensure_world, load_frames  # noqa: E402

sys.path.insert(0, str(ROOT))
STAGES = ("decode", "preprocess", "infer", "postprocess", "cloud", "encode")


def messages(frame, n_cams):
    jpgs, Ks, (w, h) = frame
    imgs = [SimpleNamespace(format="rgb8; jpeg compressed bgr8", data=jpgs[i],
                            header=SimpleNamespace(frame_id=CAMERAS[i])) for i in range(n_cams)]
    infos = [SimpleNamespace(k=Ks[i].reshape(-1).tolist(), width=w, height=h) for i in range(n_cams)]
    return imgs, infos


def bare_decode(jpgs, model_hw, pool):
    """The irreducible decode: libjpeg at the largest DCT reduction that keeps the model size, nothing else."""
    import cv2

    from fsmde_ros.core.codecs import _REDUCED, compressed_size, jpeg_reduction

    def one(j):
        return cv2.imdecode(np.frombuffer(j, np.uint8), _REDUCED[jpeg_reduction(compressed_size(j), model_hw)])
    return list(pool.map(one, jpgs))


def run(frames, manifest, backend, n_cams, iters, warmup, rig, gpu_input=False):
    from concurrent.futures import ThreadPoolExecutor

    from fsmde_ros.core.codecs import colorize_depth, depth_to_32fc1, to_bytes_array
    from fsmde_ros.core.geometry_input import GeometryInputs
    from fsmde_ros.core.pipeline import CloudConfig, SurroundPipeline
    from fsmde_ros.core.preprocess import Preprocessor
    from fsmde_ros.core.views import ViewBuilder

    names = CAMERAS[:n_cams]
    T = {c.frame_id: c.T_base_camera for c in rig.cameras}
    import os

    pool = ThreadPoolExecutor(max_workers=max(1, min(n_cams, os.cpu_count() or 1)))  # as the node sizes it
    pre = Preprocessor(manifest)
    hw = (manifest.height, manifest.width)
    cloud_cfg = CloudConfig(True, 2, 1.0, 60.0, 0.0)
    geometry = (GeometryInputs(manifest.geometry, hw, manifest.canonical_focal_px) if manifest.geometry else None)
    if gpu_input:  # the node's GPU input path (gpu_decode): nvJPEG, fit/normalise/cloud on the device
        from fsmde_ros.core.tensor_input import (TensorDecoder, TensorPreprocessor, TensorSurroundPipeline,
                                                 nvjpeg_decoder)

        tp = TensorPreprocessor(manifest, "cuda")
        extra = dict(tensor_decoder=TensorDecoder(tp, nvjpeg_decoder("cuda")))
        pipe = TensorSurroundPipeline(backend, tp, manifest.min_depth, manifest.max_depth, cloud_cfg, geometry)
    else:
        extra = dict(map_fn=pool.map, fit_bgr=pre.fit_bgr)
        pipe = SurroundPipeline(backend, pre, manifest.min_depth, manifest.max_depth, cloud_cfg, map_fn=pool.map,
                                geometry=geometry)
    vb = ViewBuilder(names, [f"{c}/image" for c in names], [f"{c}/info" for c in names], hw, lambda f, i: T.get(f),
                     lambda k, m: print(m), **extra)
    ready = np.random.default_rng(0).standard_normal((n_cams, manifest.channels, *hw)).astype(np.float32)
    rows = []
    for k in range(warmup + iters):
        jpgs = frames[k % len(frames)][0][:n_cams]
        b0 = time.perf_counter()
        bare_decode(jpgs, hw, pool)
        b1 = time.perf_counter()
        backend.infer(ready)
        b2 = time.perf_counter()
        imgs, infos = messages(frames[k % len(frames)], n_cams)
        t0 = time.perf_counter()
        views = vb.build(imgs, infos)
        t1 = time.perf_counter()
        res = pipe.process(views)
        t2 = time.perf_counter()
        for d in res.depth:
            to_bytes_array(depth_to_32fc1(d))
            to_bytes_array(colorize_depth(d, manifest.min_depth, manifest.max_depth))
        to_bytes_array(res.cloud)
        t3 = time.perf_counter()
        if k >= warmup:
            rows.append(dict(res.timings, decode=t1 - t0, encode=t3 - t2, total=t3 - t0, points=len(res.cloud),
                             bare_decode=b1 - b0, bare_infer=b2 - b1))
    pool.shutdown()
    return rows


def summarize(rows):
    out = {}
    for s in STAGES + ("total",):
        a = np.array([r[s] for r in rows]) * 1000
        out[s] = (float(np.percentile(a, 50)), float(np.percentile(a, 95)))
    out["total_p99"] = float(np.percentile([r["total"] * 1000 for r in rows], 99))
    over = np.array([sum(r[s] for s in STAGES if s != "infer") / r["infer"] for r in rows])
    out["overhead_ratio"] = float(np.median(over))
    for s in ("bare_decode", "bare_infer"):
        out[s] = float(np.percentile([r[s] * 1000 for r in rows], 50))
    # node time per set / (bare decode + bare infer), per set then the median: both measured in the same loop
    out["vs_irreducible"] = float(np.median([r["total"] / (r["bare_decode"] + r["bare_infer"]) for r in rows]))
    out["points"] = int(np.median([r["points"] for r in rows]))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(ROOT / "models" / "fsmde_student"))
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--width", type=int, default=1600)
    ap.add_argument("--height", type=int, default=900)
    ap.add_argument("--world", default=None, help="nuScenes-format root with the frames (default: generate)")
    ap.add_argument("--iters", type=int, default=40)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--scaling", action="store_true", help="also 1 and 2 cameras, and half-resolution input")
    ap.add_argument("--gpu-input", action="store_true", help="the GPU input path (nvJPEG decode, preprocessing and "
                    "cloud on the device); needs --device cuda")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    from fsmde_ros.backends import make_backend
    from fsmde_ros.core.manifest import load_manifest
    from fsmde_ros.core.rig import load_rig

    iters = 10 if a.quick else a.iters
    world = Path(a.world) if a.world else ensure_world(ROOT / "out" / "bench" / f"world_{a.width}x{a.height}",
                                                        a.width, a.height, 0.5)
    frames = load_frames(world)
    manifest = load_manifest(a.model)
    rig = load_rig(ROOT / "config" / "nuscenes_rig.yaml")
    backend, why = make_backend(manifest, a.backend, a.device, a.threads, 6)
    backend.warmup(6, manifest.height, manifest.width, 3, manifest.channels)
    w, h = frames[0][2]
    cases = [("6 cameras", 6, frames)]
    if a.scaling:
        import cv2

        half = [([cv2.imencode(".jpg", cv2.resize(cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR),
                                                  (w // 2, h // 2), interpolation=cv2.INTER_AREA),
                               [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes() for j in jpgs],
                 [np.diag([0.5, 0.5, 1.0]) @ K for K in Ks], (w // 2, h // 2)) for jpgs, Ks, _ in frames]
        cases = [("1 camera", 1, frames), ("2 cameras", 2, frames)] + cases + [
            (f"6 cameras, {w // 2}x{h // 2} input", 6, half)]
    results = {}
    print(f"\n==== pipeline bench: {w}x{h} JPEG input, model {manifest.name} {manifest.width}x{manifest.height}, "
          f"{backend.describe()} ({why}), {'GPU' if a.gpu_input else 'CPU'} input path; p50/p95 ms over {iters} "
          f"sets (total p99 in the JSON) ====")
    print(f"{'case':28s} " + " ".join(f"{s:>13s}" for s in STAGES + ("total",))
          + "  overhead/infer  points  bare decode+infer  total/bare")
    for label, n, fr in cases:
        s = summarize(run(fr, manifest, backend, n, iters, 3, rig, a.gpu_input))
        results[label] = s
        print(f"{label:28s} " + " ".join(f"{s[k][0]:6.1f}/{s[k][1]:6.1f}" for k in STAGES + ("total",))
              + f"  {s['overhead_ratio']:13.2f}  {s['points']:6d}  {s['bare_decode']:6.1f} + {s['bare_infer']:6.1f}"
              + f"  {s['vs_irreducible']:10.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps(dict(backend=backend.describe(), input=[w, h], results=results), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
