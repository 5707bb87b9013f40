#!/usr/bin/env bash
# The render-resolution probe (PLAN.md): one world rendered at three sizes, the shipped model on each. From training/.
set -euo pipefail
for wh in 320x180 640x360 1600x900; do
  w=${wh%x*}; h=${wh#*x}
  fsmde-synth --out /tmp/rw$w --scenes 1 --duration 1 --width $w --height $h --seed 200 --workers 1 --quiet
  fsmde-eval --model ../models/fsmde_student --data-root /tmp/rw$w --sweeps --out /tmp/ev$w
  cp /tmp/ev$w/metrics.json results/render_resolution/metrics_$w.json
done
