"""What motion compensation costs the cloud: CloudFuser.fuse over six views with and without per-view ego motions.

Six views at the shipped model's depth resolution (128x224), the node's default stride (2) and range (1-60 m); the
motions are what a set at 15 m/s with nuScenes-like exposure offsets gives. Prints the median time of each and their
ratio, measured in one run (python bench/cloud_motion_bench.py [--iters 300]).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from fsmde_ros.core.cloud import CloudFuser
from fsmde_ros.core.geometry import pose_matrix

OFFSETS_MS = (25, 33, 40, 0, 10, 17)  # nuScenes-like exposure offsets; the cloud's stamp is the first camera's


def views(h=128, w=224, seed=0):
    rng = np.random.default_rng(seed)
    K = np.array([[160.0, 0, w / 2], [0, 160.0, h / 2], [0, 0, 1]])
    depths = [rng.uniform(2, 80, (h, w)).astype(np.float32) for _ in OFFSETS_MS]
    rgbs = [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in OFFSETS_MS]
    Ts = []
    for k in range(len(OFFSETS_MS)):
        yaw = k * np.pi / 3
        # optical frame (z forward, x right, y down) turned to look along yaw in the base frame
        R_look = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]], float)
        R_yaw = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = R_yaw @ R_look, [1.0, 0.0, 1.6]
        Ts.append(T)
    motions = [pose_matrix([15.0 * (off - OFFSETS_MS[0]) * 1e-3, 0, 0], [1, 0, 0, 0]) for off in OFFSETS_MS]
    return depths, [K] * len(OFFSETS_MS), rgbs, Ts, motions


def timed(fn, iters):
    for _ in range(10):
        fn()
    out = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return float(np.median(out))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iters", type=int, default=300)
    a = ap.parse_args(argv)
    depths, Ks, rgbs, Ts, motions = views()
    fuser = CloudFuser()
    static = timed(lambda: fuser.fuse(depths, Ks, rgbs, Ts, 2, 1.0, 60.0), a.iters)
    moved = timed(lambda: fuser.fuse(depths, Ks, rgbs, Ts, 2, 1.0, 60.0, motions=motions), a.iters)
    n = len(fuser.fuse(depths, Ks, rgbs, Ts, 2, 1.0, 60.0))
    print(f"six views 128x224, stride 2, {n} points: static {static * 1e3:.3f} ms, motion-compensated "
          f"{moved * 1e3:.3f} ms, ratio {moved / static:.2f} (medians of {a.iters})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
