#!/usr/bin/env bash
# The GPU rows of BENCHMARKS.md, as run on a lent H100 (device tool): from the repo root of a CUDA machine with
# torch, transformers and onnxruntime (no ROS needed). The machine's torch may be older than the pinned one:
# the shipped student is re-exported there from its weights (out/gpucarry/student_state.pt, written by
#   python -c "import torch; torch.save(torch.export.load('models/fsmde_student/student.pt2').module().state_dict(), 'out/gpucarry/student_state.pt')"
# here) so the torch program matches that torch. Frames: out/gpucarry/frames1600 (bench/frames.py layout).
set -uo pipefail
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
export PYTHONPATH=$PWD:$PWD/training PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$OUT/env.txt"
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
python3 -m pytest -q -s -p no:cacheprovider test/test_gpu_backends.py 2>&1 | tee "$OUT/gpu_tests.log"
python3 bench/model_bench.py --device cuda --peak-tflops 989 --json "$OUT/model_cuda_224x448.json" 2>&1 | tee "$OUT/model_cuda.log"
python3 bench/model_bench.py --device cuda --hw 448 896 --peak-tflops 989 --json "$OUT/model_cuda_448x896.json" 2>&1 | tee -a "$OUT/model_cuda.log"
python3 bench/pipeline_bench.py --device cuda --backend torch --model out/gpu_model --world out/gpucarry/frames1600 \
  --scaling --json "$OUT/pipeline_cuda.json" 2>&1 | tee "$OUT/pipeline_cuda.log"
python3 bench/pipeline_bench.py --device cpu --backend onnxruntime --threads 16 --model out/gpu_model \
  --world out/gpucarry/frames1600 --json "$OUT/pipeline_cpu16.json" 2>&1 | tee "$OUT/pipeline_cpu16.log"
