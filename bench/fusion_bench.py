#!/usr/bin/env python3
"""What cross-view fusion (model.cross_view, issue 14 item 3) costs: the shipped student's architecture with and
without it, on the node's six-view batch, in one run (the ratio is what to read; absolute ms move with the
machine's load).

    python bench/fusion_bench.py                  # CPU: torch eager fp32 and ONNX Runtime fp32, 2 threads
    python bench/fusion_bench.py --device cuda    # GPU: torch eager fp32 and fp16
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training"))
sys.path.insert(0, str(ROOT / "bench"))

from model_bench import count_flops, timeit  # noqa: E402


def nets_from(manifest_dir: Path) -> dict:
    from fsmde_train.networks import StudentConfig, build_student

    cfg = json.loads((manifest_dir / "manifest.json").read_text())["architecture"]["config"]
    cfg = StudentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})
    plain = build_student(dataclasses.replace(cfg, cross_view=False)).eval()
    fused = build_student(dataclasses.replace(cfg, cross_view=True)).eval()
    fused.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        fused.cross_view.gate.fill_(1.0)  # an open gate (a trained one is not 0; the cost is the same anyway)
    return {"plain": plain, "cross_view": fused}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--model", default=str(ROOT / "models" / "fsmde_student"), help="architecture source")
    ap.add_argument("--hw", type=int, nargs=2, default=None, help="input height width (default: the manifest's)")
    ap.add_argument("--iters", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    man = json.loads((Path(a.model) / "manifest.json").read_text())
    h, w = a.hw or (man["input"]["height"], man["input"]["width"])
    cuda = a.device == "cuda"
    iters, warmup = a.iters or (50 if cuda else 20), (10 if cuda else 3)
    nets = nets_from(Path(a.model))
    x = torch.randn(6, nets["plain"].cfg.in_channels, h, w)
    params = {k: sum(p.numel() for p in n.parameters()) for k, n in nets.items()}
    flops = {k: count_flops(n, x) for k, n in nets.items()}
    rows = {}
    for name, net in nets.items():
        if cuda:
            net, xd = net.cuda(), x.cuda()
            with torch.inference_mode():
                rows.setdefault("torch eager fp32", {})[name] = timeit(lambda: net(xd), iters, warmup, True)
                half, xh = net.half(), xd.half()
                rows.setdefault("torch eager fp16", {})[name] = timeit(lambda: half(xh), iters, warmup, True)
            continue
        with torch.inference_mode():
            rows.setdefault("torch eager fp32", {})[name] = timeit(lambda: net(x), iters, warmup, False)
        import onnxruntime as ort

        from fsmde_train.networks.student import DepthOnly

        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "m.onnx"
            torch.onnx.export(DepthOnly(net), (x,), str(path), input_names=["x"], output_names=["y"],
                              opset_version=17, dynamo=False)
            so = ort.SessionOptions()
            so.intra_op_num_threads = a.threads
            sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
            xn = x.numpy()
            rows.setdefault("onnxruntime fp32 (CPU EP)", {})[name] = timeit(lambda: sess.run(None, {"x": xn}),
                                                                           iters, warmup, False)
    dev = torch.cuda.get_device_name() if cuda else f"CPU, {a.threads} threads"
    print(f"\n==== cross-view fusion cost: 6 x {x.shape[1]} x {h} x {w} on {dev}, median of {iters} ====")
    print(f"params  plain {params['plain'] / 1e6:.3f} M  cross-view {params['cross_view'] / 1e6:.3f} M   "
          f"FLOPs plain {flops['plain'] / 1e9:.3f} G  cross-view {flops['cross_view'] / 1e9:.3f} G "
          f"(x{flops['cross_view'] / flops['plain']:.3f})")
    print(f"{'backend':28s} {'plain ms':>10s} {'cross-view ms':>14s} {'ratio':>7s}")
    out = []
    for backend, r in rows.items():
        print(f"{backend:28s} {r['plain']:10.2f} {r['cross_view']:14.2f} {r['cross_view'] / r['plain']:7.3f}")
        out.append(dict(backend=backend, plain_ms=r["plain"], cross_view_ms=r["cross_view"],
                        ratio=r["cross_view"] / r["plain"]))
    if a.json:
        Path(a.json).write_text(json.dumps(dict(device=dev, input=list(x.shape), params=params, flops=flops,
                                                iters=iters, rows=out), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
