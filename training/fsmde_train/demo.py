"""The data half of the demo: synthetic world -> nuScenes folder -> rosbag2, with a one-screen summary.

    python -m fsmde_train.demo --out out/demo [--preset small --duration 4]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from . import CAMERAS
from .convert import ConvertConfig, convert, load_nuscenes
from .convert.baginfo import summarize
from .synth import SynthConfig, generate_dataset, load_dense_depth
from .synth.rig import PRESETS


def depth_to_bgr(depth: np.ndarray, max_depth: float = 80.0) -> np.ndarray:
    """Inverse-depth colour map (near = bright); 0 (sky/invalid) is black."""
    inv = np.where(depth > 0, 1.0 / np.maximum(depth, 1e-3), 0.0)
    scaled = np.clip(inv / (1.0 / 2.0), 0, 1) * 255  # 2 m and nearer saturate
    out = cv2.applyColorMap(scaled.astype(np.uint8), cv2.COLORMAP_MAGMA)
    out[depth <= 0] = 0
    return out


def keyframe_mosaic(root: Path, nusc, sample) -> np.ndarray:
    """Images over depth, cameras laid out as the rig: front row FL F FR, back row BL B BR."""
    order = [["CAM_FRONT_LEFT", "CAM_FRONT", "CAM_FRONT_RIGHT"], ["CAM_BACK_LEFT", "CAM_BACK", "CAM_BACK_RIGHT"]]
    rows = []
    for row in order:
        imgs, deps = [], []
        for cam in row:
            sd = nusc.get("sample_data", sample["data"][cam])
            imgs.append(cv2.imread(str(root / sd["filename"])))
            deps.append(depth_to_bgr(load_dense_depth(root, sd["filename"])))
        rows += [np.concatenate(imgs, 1), np.concatenate(deps, 1)]
    return np.concatenate(rows, 0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="out/demo")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="small")
    ap.add_argument("--scenes", type=int, default=1)
    ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    out = Path(a.out)
    w, h = PRESETS[a.preset]
    t0 = time.time()
    world = generate_dataset(SynthConfig(out=str(out / "world"), scenes=a.scenes, duration=a.duration, width=w,
                                         height=h, seed=a.seed))
    t1 = time.time()
    reports = convert(world, "v1.0-synth", out / "bags", None, ConvertConfig(overwrite=True))
    t2 = time.time()
    nusc = load_nuscenes(world, "v1.0-synth")
    mosaic = out / "keyframe_mosaic.png"
    cv2.imwrite(str(mosaic), keyframe_mosaic(world, nusc, nusc.sample[0]))
    n_cam = sum(sd["sensor_modality"] == "camera" for sd in nusc.sample_data)
    print("\n==== fsmde demo (data) ====")
    print(f"world     {world}  ({len(nusc.scene)} scene(s), {len(nusc.sample)} key frames, {n_cam} camera images "
          f"{w}x{h} with dense depth, rendered in {t1 - t0:.1f} s)")
    print(f"          load it with NuScenes(version='v1.0-synth', dataroot='{world}')")
    for r in reports:
        print(summarize(r.bag))
        if r.skipped:
            print(f"  {len(r.skipped)} sample(s) skipped, see {r.bag}.report.json")
    print(f"converted in {t2 - t1:.1f} s;  key frame mosaic (images over depth): {mosaic}")
    print(f"replay in a ROS 2 install:  ros2 bag play {reports[0].bag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
