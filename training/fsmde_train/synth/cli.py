"""fsmde-synth: render synthetic surround drives into a nuScenes-format folder."""
from __future__ import annotations

import argparse
import sys
import time

from .rig import PRESETS
from .world import LAYOUTS, PALETTES
from .writer import SynthConfig, generate_dataset


def _share(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not 0.0 < v <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share in (0, 1], got {text!r}")
    return v


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="fsmde-synth", description=__doc__)
    ap.add_argument("--out", required=True, help="dataroot to write (created; existing files are overwritten)")
    ap.add_argument("--scenes", type=int, default=2, help="number of scenes (default 2)")
    ap.add_argument("--duration", type=float, default=8.0, help="seconds per scene, multiple of 0.5 (default 8)")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="full",
                    help="resolution preset: " + ", ".join(f"{k}={w}x{h}" for k, (w, h) in PRESETS.items()))
    ap.add_argument("--width", type=int, help="override the preset width (keep 16:9 for nuScenes-like K)")
    ap.add_argument("--height", type=int, help="override the preset height")
    ap.add_argument("--seed", type=int, default=0, help="base seed; scene i uses seed*1000+i (default 0)")
    ap.add_argument("--version", default="v1.0-synth", help="table folder name (NuScenes(version=...))")
    ap.add_argument("--jpeg-quality", type=int, default=90)
    ap.add_argument("--randomize", action="store_true",
                    help="domain randomisation per scene: rig mounting and focal, lighting, exposure, noise, blur, "
                         "JPEG quality, more object classes (the worlds the shipped weights train on)")
    ap.add_argument("--layout", choices=LAYOUTS, default="street",
                    help="street layout: street (buildings both sides; training and validation worlds) or boulevard "
                         "(tree-lined median, a park on one side; the held-out test world)")
    ap.add_argument("--palette", choices=sorted(PALETTES), default="default",
                    help="paint and facade colours: default, or alt (the learned stand-in teacher's world)")
    ap.add_argument("--speed-change", type=float, default=0.0, metavar="A",
                    help="m/s^2: each scene accelerates or brakes at a rate drawn from U(-A, A) (default 0: one speed "
                         "per scene); the street and start speed of a seed stay the same")
    ap.add_argument("--shadows", action="store_true", help="primitives cast sun shadows (shadow rays)")
    ap.add_argument("--car-detail", action="store_true", help="vehicles have wheels on the road and lamps")
    ap.add_argument("--close-traffic", action="store_true",
                    help="the ego lane's traffic also drives 2-10 m ahead and behind (default: >= 12 m)")
    ap.add_argument("--vehicle-looks", type=_share, nargs="?", const=1.0, default=0.0, metavar="SHARE",
                    help="vehicles get their own random paint and pattern (plain, two-tone, stripe, blotches) and "
                         "paint and glass reflect the sky and the sun; SHARE in (0, 1]: that share of the vehicles "
                         "(default without SHARE: all), the others keep the palette's matte paint")
    ap.add_argument("--open-streets", action="store_true",
                    help="half the scenes are open suburban streets: low buildings set back behind yards, trees and "
                         "parking lots, long sight lines and wide sky (default: urban canyons)")
    ap.add_argument("--vehicle-types", action="store_true",
                    help="vehicles are sedans, SUVs, pick-ups and vans (taller, higher off the road; default: sedans)")
    ap.add_argument("--cross-streets", action="store_true",
                    help="one or two streets cross each scene's street, 50-140 m long each way (default: none)")
    ap.add_argument("--photo-textures", type=float, default=0.0, metavar="CONTRAST",
                    help="real photographed grain (scikit-image's brick, gravel and grass photographs) on road, "
                         "pavement, grass, façades and trunks at this contrast, 1 = as photographed (default 0: none)")
    ap.add_argument("--device", default="cpu", help="torch device for ray casting (cpu, cuda)")
    ap.add_argument("--workers", type=int, default=1,
                    help="render this many scenes at once, one process each (default 1); the output is the same")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    a = ap.parse_args(argv)
    w, h = PRESETS[a.preset]
    cfg = SynthConfig(out=a.out, scenes=a.scenes, duration=a.duration, width=a.width or w, height=a.height or h,
                      seed=a.seed, version=a.version, jpeg_quality=a.jpeg_quality, device=a.device,
                      randomize=a.randomize, layout=a.layout, palette=a.palette,
                      speed_change=a.speed_change, shadows=a.shadows, car_detail=a.car_detail,
                      close_traffic=a.close_traffic, open_streets=a.open_streets,
                      vehicle_looks=a.vehicle_looks, vehicle_types=a.vehicle_types, cross_streets=a.cross_streets,
                      photo_textures=a.photo_textures)
    t0 = time.time()
    try:
        root = generate_dataset(cfg, progress=not a.quiet, workers=a.workers)
    except ValueError as e:
        print(f"fsmde-synth: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {cfg.scenes} scene(s) at {cfg.width}x{cfg.height} to {root} "
          f"(version {cfg.version}) in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
