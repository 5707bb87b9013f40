#!/usr/bin/env python3
"""Model benchmark: the student vs the Depth-Anything-V2-Small architecture on the same six-view batch.

Both networks take the same [6, 3, H, W] batch (H, W multiples of 32 and of 14: 224x448 by default), with
random weights (the teacher's real weights are not reachable here; speed does not depend on them). Per backend:
median latency of one six-view batch, the teacher/student ratio measured in the same run, params and FLOPs
(torch.utils.flop_counter, multiply-add = 2 FLOPs), achieved TFLOP/s. On CUDA also fp16, channels_last and
CUDA-graph replay, and the student's FLOP floor at a given peak.

    python bench/model_bench.py                   # CPU: torch fp32, torch bf16, ONNX Runtime fp32
    python bench/model_bench.py --device cuda     # GPU: fp32, fp16, fp16+channels_last, +CUDA graph
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training"))  # runs from a checkout without installing fsmde_train too

DA_V2_SMALL = dict(  # depth-anything/Depth-Anything-V2-Small-hf config.json (24.8 M parameters)
    backbone_config=dict(model_type="dinov2", hidden_size=384, num_attention_heads=6, num_hidden_layers=12,
                         mlp_ratio=4, patch_size=14, image_size=518, layerscale_value=1.0,
                         out_indices=[9, 10, 11, 12], out_features=["stage9", "stage10", "stage11", "stage12"],
                         reshape_hidden_states=False),
    fusion_hidden_size=64, head_hidden_size=32, head_in_index=-1, neck_hidden_sizes=[48, 96, 192, 384],
    patch_size=14, reassemble_factors=[4, 2, 1, 0.5], reassemble_hidden_size=384, depth_estimation_type="relative")


def build_teacher():
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation

    return DepthAnythingForDepthEstimation(DepthAnythingConfig(**DA_V2_SMALL)).eval()


class TeacherDepth(torch.nn.Module):
    """Tensor in, tensor out (predicted_depth), so both nets export and capture alike."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(pixel_values=x).predicted_depth


def build_student(manifest: Path):
    from fsmde_train.networks import StudentConfig, build_student as build

    cfg = json.loads((manifest / "manifest.json").read_text())["architecture"]["config"]
    cfg["blocks"] = tuple(cfg["blocks"])
    return build(StudentConfig(**cfg)).eval()


def count_flops(model, x) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    return float(fc.get_total_flops())


def timeit(fn, iters: int, warmup: int, cuda: bool) -> float:
    """Median milliseconds of ``fn()`` over ``iters`` runs after ``warmup``."""
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        if cuda:
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
        else:
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def cpu_backends(nets, xs, iters, warmup, threads):
    import numpy as np
    import onnxruntime as ort

    rows = {}
    for name, net in nets.items():
        x = xs[name]
        with torch.inference_mode():
            rows.setdefault("torch eager fp32", {})[name] = timeit(lambda: net(x), iters, warmup, False)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                rows.setdefault("torch eager bf16 (autocast)", {})[name] = timeit(lambda: net(x), iters, warmup, False)
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / f"{name}.onnx"
            torch.onnx.export(net, (x,), str(path), input_names=["x"], output_names=["y"], opset_version=17,
                              dynamo=False)
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
            xn = x.numpy().astype(np.float32)
            rows.setdefault("onnxruntime fp32 (CPU EP)", {})[name] = timeit(lambda: sess.run(None, {"x": xn}), iters,
                                                                           warmup, False)
    return rows


def cuda_backends(nets, xs, iters, warmup):
    rows = {}
    for name, net in nets.items():
        net = net.cuda()
        xc = xs[name].cuda()
        with torch.inference_mode():
            rows.setdefault("torch eager fp32 (TF32 off)", {})[name] = timeit(lambda: net(xc), iters, warmup, True)
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
            rows.setdefault("torch eager fp32 (TF32 on)", {})[name] = timeit(lambda: net(xc), iters, warmup, True)
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
            half = net.half()
            xh = xc.half()
            rows.setdefault("torch eager fp16", {})[name] = timeit(lambda: half(xh), iters, warmup, True)
            cl = half.to(memory_format=torch.channels_last)
            xcl = xh.contiguous(memory_format=torch.channels_last)
            rows.setdefault("torch eager fp16 channels_last", {})[name] = timeit(lambda: cl(xcl), iters, warmup, True)
            static_x = xcl.clone()
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(3):
                    cl(static_x)
            torch.cuda.current_stream().wait_stream(s)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                cl(static_x)
            rows.setdefault("torch fp16 channels_last + CUDA graph", {})[name] = timeit(g.replay, iters, warmup, True)
            del g
        net.float().to(memory_format=torch.contiguous_format).cpu()
        torch.cuda.empty_cache()
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--hw", type=int, nargs=2, default=(224, 448), help="input height width (multiples of 224/7)")
    ap.add_argument("--views", type=int, default=6)
    ap.add_argument("--iters", type=int, default=None, help="timed runs per cell (default 10 CPU, 50 CUDA)")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for torch and ONNX Runtime (default 2)")
    ap.add_argument("--model", default=str(ROOT / "models" / "fsmde_student"), help="student architecture source")
    ap.add_argument("--peak-tflops", type=float, default=None, help="dense fp16 peak for the FLOP floor")
    ap.add_argument("--quick", action="store_true", help="fewer runs (make bench)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    h, w = a.hw
    if h % 32 or w % 32 or h % 14 or w % 14:
        ap.error("--hw must be multiples of 32 (student) and 14 (teacher patches): e.g. 224 448, 448 896")
    cuda = a.device == "cuda"
    iters = a.iters or (50 if cuda else (3 if a.quick else 10))
    warmup = 10 if cuda else (1 if a.quick else 2)
    nets = {"student": build_student(Path(a.model)), "teacher": TeacherDepth(build_teacher())}
    # the student takes RGB + its camera-aware channels (manifest input.channels), the teacher RGB
    xs = {"student": torch.randn(a.views, nets["student"].cfg.in_channels, h, w), "teacher": torch.randn(a.views, 3, h, w)}
    params = {k: sum(p.numel() for p in v.parameters()) for k, v in nets.items()}
    flops = {k: count_flops(v, xs[k]) for k, v in nets.items()}
    rows = cuda_backends(nets, xs, iters, warmup) if cuda else cpu_backends(nets, xs, iters, warmup, a.threads)
    dev = torch.cuda.get_device_name() if cuda else f"CPU, {a.threads} threads"
    print(f"\n==== model bench: {a.views} x {nets['student'].cfg.in_channels}/3 x {h} x {w} on {dev} (torch {torch.__version__}), median of {iters} ====")
    print(f"params  student {params['student'] / 1e6:.2f} M   teacher (DA-V2-Small arch) {params['teacher'] / 1e6:.2f} M")
    print(f"FLOPs   student {flops['student'] / 1e9:.1f} G   teacher {flops['teacher'] / 1e9:.1f} G per {a.views}-view "
          f"batch   (ratio {flops['teacher'] / flops['student']:.1f})")
    print(f"{'backend':40s} {'student ms':>11s} {'teacher ms':>11s} {'teacher/student':>16s} {'student TFLOP/s':>16s}")
    out_rows = []
    for backend, r in rows.items():
        s, t = r["student"], r["teacher"]
        tf = flops["student"] / (s / 1000) / 1e12
        print(f"{backend:40s} {s:11.2f} {t:11.2f} {t / s:16.1f} {tf:16.3f}")
        out_rows.append(dict(backend=backend, student_ms=s, teacher_ms=t, ratio=t / s, student_tflops=tf))
    fig = dict(device=dev, torch=torch.__version__, input=[a.views, nets["student"].cfg.in_channels, h, w], params=params, flops=flops,
               iters=iters, rows=out_rows)
    if a.peak_tflops:
        floor_ms = flops["student"] / (a.peak_tflops * 1e12) * 1000
        best = min(r["student_ms"] for r in out_rows)
        fig.update(peak_tflops=a.peak_tflops, student_floor_ms=floor_ms, achieved_fraction=floor_ms / best)
        print(f"student FLOP floor at {a.peak_tflops:g} TFLOP/s: {floor_ms:.3f} ms; best measured {best:.3f} ms "
              f"-> {100 * floor_ms / best:.1f} % of peak")
    if a.json:
        Path(a.json).write_text(json.dumps(fig, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
