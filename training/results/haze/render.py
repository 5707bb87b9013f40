"""Render the validation world (make data/weights/val's command) with another haze distance: is distance haze a depth
cue the student learned? (issue 11 probe; synthetic only.) The synthetic haze (shading.Style.haze_m: 350 m in the
plain world, 120-1500 m log-uniform in the randomised training worlds) puts 16-39 % haze on a surface 60 m away; clear
real air (visibility 10-20 km, haze distance ~2.5-5 km) about 1-2 %. From training/:
python results/haze/render.py HAZE_M OUT   then   fsmde-eval --model ../models/fsmde_student --data-root OUT --sweeps"""
import functools
import sys

from fsmde_train.synth import cli, shading, writer

haze_m, out = float(sys.argv[1]), sys.argv[2]
writer.Style = functools.partial(shading.Style, haze_m=haze_m)  # the plain world's Style() (in-process: --workers 1)
sys.exit(cli.main(["--out", out, "--workers", "1", "--quiet", "--scenes", "2", "--duration", "4", "--width", "320",
                   "--height", "180", "--seed", "200"]))
