#!/usr/bin/env bash
# Wheels the lent GPU machine lacks (it has torch 2.11 cu130, torchvision 0.26 with nvJPEG, onnxruntime CPU,
# Python 3.12, no ROS, no TensorRT, no network), fetched HERE and cut into parts that fit one device call's carry
# (64 MiB with the working tree, itself ~16 MiB), under .whl/ (ignored by git):
#   .whl/<group>-<n>/<group>.tar.part-NN   one part per device call (ros: rclpy + messages for Python 3.12, 2 parts;
#                                          trt: TensorRT-RTX, 3; ort: onnxruntime-gpu, 8)
# The calls of 2026-12-04 (H200), each within the 30 s a machine stays warm after the one before:
#   run(carry=["out/gpucarry", ".whl/ros-1"], command="bash bench/gpu_session.sh core")  # stashes its part, GPU rows
#   run(carry=[".whl/ros-2"], command="bash bench/gpu_session.sh dds")  # installs the ROS group, node over DDS
# TensorRT-RTX (the one TensorRT builder on the reachable index) supports compute capability 7.5/8.6/8.9/12.0 (its
# support matrix), not the Hopper (9.0) machines lent here; the full TensorRT is not on the reachable index.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .git/info && { grep -qx "/.whl/" .git/info/exclude 2>/dev/null || echo "/.whl/" >> .git/info/exclude; }
PIP=${PIP:-python3 -m pip}
dl() {  # dl DIR NAME==VERSION...
  local d=$1; shift
  mkdir -p "$d"
  $PIP download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform linux_x86_64 -d "$d" "$@"
}
rm -rf .whl/src && mkdir -p .whl/src
dl .whl/src/trt tensorrt-rtx-cu13-libs==1.7.1.116 tensorrt-rtx-cu13-bindings==1.7.1.116
dl .whl/src/ort onnxruntime-gpu==1.31.1
# rclpy + the message packages the node and the tools import, with what they need (resolved for Python 3.12;
# empy, needed by ros-rosidl-adapter, is an sdist only: built into a pure-Python wheel here first)
$PIP wheel -q --no-deps -w .whl/src/ros "empy<4"
$PIP download -q --only-binary=:all: --find-links .whl/src/ros --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any -d .whl/src/ros \
  "ros-rclpy[fastrtps]" ros-sensor-msgs ros-std-msgs ros-geometry-msgs ros-diagnostic-msgs rosbags mcap \
  "numpy>=2" 2>&1 | grep -v "is ignored" || true
rm -f .whl/src/ros/numpy-*  # the machine's own numpy stays
for g in trt ort ros; do
  tar -C .whl/src/$g -cf .whl/src/$g.tar .
  rm -rf .whl/$g-*
  split -b 32M -d .whl/src/$g.tar .whl/src/$g.tar.part-
  i=0
  for p in .whl/src/$g.tar.part-*; do
    i=$((i + 1)); mkdir -p .whl/$g-$i; mv "$p" .whl/$g-$i/
  done
done
rm -rf .whl/src
du -sh .whl/*-* | sed 's/^/carry one call each: /'

# What gpu_session.sh reads from out/gpucarry (carried in its own call): the shipped student's weights (re-exported
# there with the machine's torch) and 1600x900 camera frames (tables + JPEGs only, no dense depth: ~10 MB).
python3 - <<'PY'
import shutil, sys
from pathlib import Path
sys.path[:0] = ["bench", "training", "."]
import torch
from frames import ROOT, ensure_world
out = ROOT / "out" / "gpucarry"
out.mkdir(parents=True, exist_ok=True)
torch.save(torch.export.load(str(ROOT / "models/fsmde_student/student.pt2")).module().state_dict(), out / "student_state.pt")
world = ensure_world(ROOT / "out" / "bench" / "world_1600x900", 1600, 900, 0.5)
dst = out / "frames1600"
shutil.rmtree(dst, ignore_errors=True)
shutil.copytree(world / "v1.0-synth", dst / "v1.0-synth")
for jpg in list(world.glob("samples/CAM_*/*.jpg")) + list(world.glob("sweeps/CAM_*/*.jpg")):
    (dst / jpg.relative_to(world)).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(jpg, dst / jpg.relative_to(world))
print("out/gpucarry:", sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) // 2**20, "MiB")
PY
