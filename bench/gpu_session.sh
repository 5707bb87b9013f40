#!/usr/bin/env bash
# Every GPU row of BENCHMARKS.md on a lent GPU machine (device tool), from the repo root, in two calls:
#   bash bench/gpu_session.sh core   # carry out/gpucarry (+ one wheel part): GPU tests, model, pipeline, fusion
#   bash bench/gpu_session.sh dds    # after all of a group's parts sit in /tmp/carry: the node over DDS on the GPU
# bench/gpu_carry.sh makes out/gpucarry and the wheel parts (.whl/<group>-<n>/<group>.tar.part-NN); each call
# copies the parts it carries to /tmp/carry, which a warm machine keeps between calls. A group whose parts are not
# all there is skipped, saying so. The machine's torch differs from the pinned one: the shipped student is
# re-exported there from its weights (out/gpucarry/student_state.pt) so the torch program matches that torch.
# Every step has its own time limit, so one hang costs only its own rows. Figures land in $OUT (default out/gpu).
set -uo pipefail
STAGE=${1:-core}
OUT=${OUT:-out/gpu}
mkdir -p "$OUT" /tmp/carry
export PYTHONPATH=$PWD:$PWD/training PYTHONUNBUFFERED=1
cp .whl/*/*.tar.part-* /tmp/carry/ 2>/dev/null && echo "stashed: $(ls /tmp/carry | tr '\n' ' ')"
W=out/gpucarry/frames1600
M=/tmp/gpu_model

install_group() {  # install_group NAME: reassemble /tmp/carry/NAME.tar.part-* into the venv /tmp/env_NAME
  local g=$1
  ls /tmp/carry/$g.tar.part-* >/dev/null 2>&1 || { echo "group $g: no parts here"; return 1; }
  mkdir -p /tmp/whl/$g && cat /tmp/carry/$g.tar.part-* | tar -C /tmp/whl/$g -xf - || {
    echo "group $g: incomplete ($(ls /tmp/carry/$g.tar.part-* | wc -l) parts)"; return 1; }
  # a venv over the machine's packages, not pip --target: the ROS wheels put their libraries under the
  # environment's prefix and find them from sys.prefix (ros_wheels_bootstrapper)
  python3 -m venv --system-site-packages --without-pip /tmp/env_$g &&
    { python3 -m pip --python /tmp/env_$g/bin/python install -q --no-index --no-deps --no-compile --no-cache-dir \
        /tmp/whl/$g/*.whl || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --prefix /tmp/env_$g /tmp/whl/$g/*.whl; } &&
    # python3 may itself be a venv, whose packages --system-site-packages does not reach: a .pth does
    python3 -c "import site; print(*site.getsitepackages(), sep='\n')" > \
      "$(/tmp/env_$g/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/machine_site.pth" && echo "installed group $g into /tmp/env_$g: $(ls /tmp/whl/$g | wc -l) wheels"
}

reexport() {
  [ -f $M/manifest.json ] && return 0
  timeout 180 python3 - <<'PY' 2>&1 | grep -v "UserWarning\|frombuffer" | tee -a "$OUT/env.txt"
import json, torch
from fsmde_train.export import export_model
from fsmde_train.networks import StudentConfig, build_student
from fsmde_train.networks.student import DepthOnly
m = json.load(open("models/fsmde_student/manifest.json"))
cfg = dict(m["architecture"]["config"])
cfg = {**cfg, "blocks": tuple(cfg["blocks"]), "geometry_inputs": tuple(cfg.get("geometry_inputs", ()))}
net = build_student(StudentConfig(**cfg))
DepthOnly(net).load_state_dict(torch.load("out/gpucarry/student_state.pt", weights_only=True))
man = export_model(net.eval(), "/tmp/gpu_model", name=m["name"], input_hw=(m["input"]["height"], m["input"]["width"]),
                   canonical_focal_px=m["canonical_focal_px"], cameras=m["cameras"], training=m.get("training"),
                   metrics=m.get("metrics"))
print("re-exported the shipped student with torch", torch.__version__, "parity", man["parity"])
PY
}

if [ "$STAGE" = core ]; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$OUT/env.txt"
  python3 - <<'PY' 2>&1 | tee -a "$OUT/env.txt"
import os, sys, torch, torchvision, onnxruntime as ort, transformers
print("python", sys.version.split()[0], "torch", torch.__version__, "torchvision", torchvision.__version__, "cuda",
      torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "onnxruntime", ort.__version__,
      ort.get_available_providers(), "transformers", transformers.__version__, "cpus", os.cpu_count())
for m in ("tensorrt", "tensorrt_rtx"):
    try:
        __import__(m); print(m, "importable")
    except Exception as e:
        print(m, "not importable:", e)
PY
  reexport
  timeout 300 python3 -m pytest -q -rs -s -p no:cacheprovider test/test_gpu_backends.py test/test_tensor_input.py \
    test/test_tensorrt_cache.py training/tests/test_gpu_training.py > "$OUT/gpu_tests.log" 2>&1
  echo "gpu tests rc=$?"; tail -25 "$OUT/gpu_tests.log"
  # at most 8 files come back from $OUT: tables in logs, JSON only where the log lacks a figure (total p99)
  timeout 120 python3 bench/model_bench.py --device cuda --peak-tflops 989 > "$OUT/model_cuda.log" 2>&1
  grep -v "%|" "$OUT/model_cuda.log" | tail -12
  for path in cpu gpu; do  # the same frames through the CPU input path and the GPU input path (nvJPEG)
    flag=$([ $path = gpu ] && echo --gpu-input || true)
    timeout 150 python3 bench/pipeline_bench.py --device cuda --backend torch --model $M --world $W --scaling $flag \
      --iters 200 --json "$OUT/pipeline_torch_$path.json"
  done > "$OUT/pipeline_cuda.log" 2>&1; grep -v "%|" "$OUT/pipeline_cuda.log" | tail -30
  timeout 150 python3 bench/fusion_bench.py --device cuda 2>&1 | grep -v "%|" | tail -12 | tee "$OUT/fusion_cuda.log"
fi

if [ "$STAGE" = dds ]; then
  install_group ros
  reexport
  PY=/tmp/env_ros/bin/python
  if $PY -c "import rclpy, sensor_msgs.msg" 2>"$OUT/rclpy_import.log"; then
    timeout 200 $PY bench/drive.py --duration 40 --warmup 10 --world $W --model $M --param device:=cuda --probe \
      --out /tmp/drive --json "$OUT/node_dds_gpu.json" > "$OUT/node_dds_gpu.log" 2>&1
    echo "drive rc=$?"; grep -v "%|" "$OUT/node_dds_gpu.log" | tail -45
    grep -v "UserWarning\|frombuffer" /tmp/drive/node.log > "$OUT/node.log"  # the node's own log: its errors
  else
    echo "rclpy not importable: node-over-DDS row skipped"; cat "$OUT/rclpy_import.log"
  fi
fi
