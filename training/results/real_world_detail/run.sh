#!/usr/bin/env bash
# One row of PLAN.md: the shipped config (as make weights) on WORLD with SEED, exported, then the real frames and the
# val world evaluated once. Usage (from training/): results/real_world_detail/run.sh NAME WORLD SEED [EXPERIMENT [KEY=VALUE...]]
# (EXPERIMENT: the results/ and runs/ folder, default real_world_detail; KEY=VALUE: more config overrides)
set -euo pipefail
# the CPU kernels make weights pins (Makefile ISA_PIN): without them a run on another CPU kind is another draw
export ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_CBWR=AVX2
name=$1 world=$2 seed=$3 exp=${4:-real_world_detail}
shift $(($# < 4 ? $# : 4))
out=runs/$exp/$name
../.venv/bin/python -m fsmde_train.engine.trainer --quiet \
  --config configs/synthetic_method.yaml configs/ablation/ci_vr_kd_two_hot.yaml configs/shipped.yaml \
  --set name=$name out_dir=$out export_dir=$out/export seed=$seed threads=1 data.root=../data/weights/$world "$@"
../.venv/bin/fsmde-eval --model $out/export --real ../../shared/real --out results/$exp/$name/real
../.venv/bin/fsmde-eval --model $out/export --data-root ../data/weights/val --sweeps \
  --out results/$exp/$name/val
