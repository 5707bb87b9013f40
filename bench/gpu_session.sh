#!/usr/bin/env bash
# Every GPU row of BENCHMARKS.md in one call on a lent H100 (device tool), from the repo root, after
# bench/gpu_carry.sh's parts were copied to /tmp/carry in earlier calls (each optional: a missing group skips
# its rows, saying so). The machine's torch may be older than the pinned one: the shipped student is re-exported
# there from its weights (out/gpucarry/student_state.pt) so the torch program matches that torch.
# Frames: out/gpucarry/frames1600 (bench/frames.py layout). Figures land in $OUT (default out/gpu).
set -uo pipefail
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
export PYTHONPATH=$PWD:$PWD/training PYTHONUNBUFFERED=1
# carried wheels: reassemble each group's parts and install into /tmp/site
for g in trt ort ros; do
  if ls /tmp/carry/$g.tar.part-* >/dev/null 2>&1; then
    mkdir -p /tmp/whl/$g && cat /tmp/carry/$g.tar.part-* | tar -C /tmp/whl/$g -xf - &&
      python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site /tmp/whl/$g/*.whl &&
      echo "installed carried group $g: $(ls /tmp/whl/$g | tr '\n' ' ')" | tee -a "$OUT/env.txt"
  else
    echo "carried group $g: not present (its rows are skipped)" | tee -a "$OUT/env.txt"
  fi
done
export PYTHONPATH=$PYTHONPATH:/tmp/site
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee -a "$OUT/env.txt"
python3 - <<'PY' 2>&1 | tee -a "$OUT/env.txt"
import sys, torch, onnxruntime as ort, transformers
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "cudnn",
      torch.backends.cudnn.version(), "onnxruntime", ort.__version__, ort.get_available_providers(),
      "transformers", transformers.__version__)
for m in ("tensorrt", "tensorrt_lean", "tensorrt_rtx"):
    try:
        __import__(m)
        print(m, "importable")
    except Exception as e:
        print(m, "not importable:", e)
PY
python3 - <<'PY' 2>&1 | tee "$OUT/reexport.log"
import json, torch
from fsmde_train.export import export_model
from fsmde_train.networks import StudentConfig, build_student
from fsmde_train.networks.student import DepthOnly
m = json.load(open("models/fsmde_student/manifest.json"))
cfg = dict(m["architecture"]["config"], blocks=tuple(m["architecture"]["config"]["blocks"]))
net = build_student(StudentConfig(**cfg))
DepthOnly(net).load_state_dict(torch.load("out/gpucarry/student_state.pt", weights_only=True))
man = export_model(net.eval(), "out/gpu_model", name=m["name"], input_hw=(m["input"]["height"], m["input"]["width"]),
                   canonical_focal_px=m["canonical_focal_px"], cameras=m["cameras"])
print("re-exported the shipped student with torch", torch.__version__, "parity", man["parity"])
PY
python3 -m pytest -q -s -p no:cacheprovider test/test_gpu_backends.py test/test_tensor_input.py test/test_tensorrt_cache.py 2>&1 | tee "$OUT/gpu_tests.log"
python3 bench/model_bench.py --device cuda --peak-tflops 989 --json "$OUT/model_cuda_224x448.json" 2>&1 | tee "$OUT/model_cuda.log"
python3 bench/model_bench.py --device cuda --hw 448 896 --peak-tflops 989 --json "$OUT/model_cuda_448x896.json" 2>&1 | tee -a "$OUT/model_cuda.log"
W=out/gpucarry/frames1600
for path in cpu gpu; do  # the same frames through the CPU input path and the GPU input path (nvJPEG)
  flag=$([ $path = gpu ] && echo --gpu-input || true)
  python3 bench/pipeline_bench.py --device cuda --backend torch --model out/gpu_model --world $W --scaling $flag \
    --iters 200 --json "$OUT/pipeline_cuda_torch_$path.json" 2>&1 | tee -a "$OUT/pipeline_cuda.log"
done
for be in tensorrt onnxruntime; do  # each skips with its reason when it cannot run here
  python3 bench/pipeline_bench.py --device cuda --backend $be --model out/gpu_model --world $W --gpu-input \
    --iters 200 --json "$OUT/pipeline_cuda_$be.json" 2>&1 | tee -a "$OUT/pipeline_cuda.log"
done
python3 bench/pipeline_bench.py --device cpu --backend onnxruntime --threads 16 --model out/gpu_model \
  --world $W --json "$OUT/pipeline_cpu16.json" 2>&1 | tee "$OUT/pipeline_cpu16.log"
# the node over DDS on this machine (needs the carried ros group): 12 Hz, six 1600x900 JPEG cameras
if python3 -c "import rclpy" 2>/dev/null; then
  python3 bench/drive.py --duration 40 --warmup 10 --world $W --model out/gpu_model --param device:=cuda \
    --out /tmp/drive --json "$OUT/node_dds_gpu.json" 2>&1 | tail -40 | tee "$OUT/node_dds_gpu.log"
else
  echo "rclpy not importable: node-over-DDS row skipped" | tee "$OUT/node_dds_gpu.log"
fi
