"""Render the validation world (make data/weights/val's command) with the photographed detail of train-dr10, its
photographs scaled by K on the surfaces (K = 1: as in training; 2: every grain, stain and patch twice as large):
does the PT student read distance from the size of the photographs' detail? (issue 11 probe; synthetic only.)
From training/:  python results/photo_texture/render_val.py K OUT
then  fsmde-eval --model EXPORT --data-root OUT --out DIR"""
import sys

from fsmde_train.synth import cli
from fsmde_train.synth import photo_texture as PT

k, out = float(sys.argv[1]), sys.argv[2]
_sample = PT.sample
PT.sample = lambda name, u, v, tile, foot: _sample(name, u, v, tile * k, foot)  # in-process: --workers 1
sys.exit(cli.main(["--out", out, "--workers", "1", "--quiet", "--scenes", "2", "--duration", "4", "--width", "320",
                   "--height", "180", "--seed", "200", "--photo-textures", "1.0"]))
