"""Render the validation world (make data/weights/val's command) with the photographed detail of train-dr10, its
photographs scaled by K on the surfaces (K = 1: as in training; 2: every grain, stain and patch twice as large):
does the PT student read distance from the size of the photographs' detail? (issue 11 probe; synthetic only.)
Only the key frames are rendered; the sweeps' files are written blank (the probe evaluates key frames only).
From training/:  python results/photo_texture/render_val.py K OUT
then  fsmde-eval --model EXPORT --data-root OUT --out DIR   (no --sweeps)"""
import sys
from collections import Counter

import numpy as np
import torch

from fsmde_train.synth import cli, writer
from fsmde_train.synth import photo_texture as PT
from fsmde_train.synth.render import SKY_ID

torch.set_num_threads(1)
k, out = float(sys.argv[1]), sys.argv[2]
_sample, _render, _lidar = PT.sample, writer.render_image, writer.lidar_sweep
PT.sample = lambda name, u, v, tile, foot: _sample(name, u, v, tile * k, foot)  # in-process: --workers 1
calls = Counter()


def render_key_only(world, prims, T, cam, gen, style, material=None, **kw):
    calls[cam.channel] += 1
    if (calls[cam.channel] - 1) % 6:  # 12 Hz cameras, 2 Hz key frames: the writer's per_sample
        if material is not None:
            material["material"] = np.full((cam.height, cam.width), SKY_ID, np.uint8)
        return np.zeros((cam.height, cam.width, 3), np.uint8), np.zeros((cam.height, cam.width), np.float32)
    return _render(world, prims, T, cam, gen, style, material=material, **kw)


def lidar_key_only(world, prims, T, sensor, rng):
    calls["LIDAR_TOP"] += 1
    return _lidar(world, prims, T, sensor, rng) if (calls["LIDAR_TOP"] - 1) % 10 == 0 else np.zeros((0, 5), np.float32)


writer.render_image, writer.lidar_sweep = render_key_only, lidar_key_only
sys.exit(cli.main(["--out", out, "--workers", "1", "--quiet", "--scenes", "2", "--duration", "4", "--width", "320",
                   "--height", "180", "--seed", "200", "--photo-textures", "1.0"]))
