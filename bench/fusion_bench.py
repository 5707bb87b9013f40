#!/usr/bin/env python3
"""What fusion (issue 14 item 3) costs: the shipped student's architecture plain, with cross-view attention
(model.cross_view) and with temporal fusion of the previous set's state (model.temporal), on the node's six-view
batch, in one run (the ratios are what to read; absolute ms move with the machine's load).

    python bench/fusion_bench.py                  # CPU: torch eager fp32 and ONNX Runtime fp32, 2 threads
    python bench/fusion_bench.py --device cuda    # GPU: torch eager fp32 and fp16
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import statistics
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
    plain = build_student(dataclasses.replace(cfg, cross_view=False, temporal=False)).eval()
    fused = build_student(dataclasses.replace(cfg, cross_view=True, temporal=False)).eval()
    temporal = build_student(dataclasses.replace(cfg, cross_view=False, temporal=True)).eval()
    fused.load_state_dict(plain.state_dict(), strict=False)
    temporal.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        fused.cross_view.gate.fill_(1.0)  # an open gate (a trained one is not 0; the cost is the same anyway)
    return {"plain": plain, "cross_view": fused, "temporal": temporal}


def example(net, x):
    """The network's inputs: the image, plus for a temporal net a previous state (all views valid)."""
    if not net.cfg.temporal:
        return (x,)
    h, w = x.shape[-2:]
    return x, torch.randn(x.shape[0], net.encoder.channels[-1], h // 32, w // 32), torch.ones(x.shape[0])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--model", default=str(ROOT / "models" / "fsmde_student"), help="architecture source")
    ap.add_argument("--hw", type=int, nargs=2, default=None, help="input height width (default: the manifest's)")
    ap.add_argument("--iters", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=10, help="interleaved rounds (the median of their medians)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    man = json.loads((Path(a.model) / "manifest.json").read_text())
    h, w = a.hw or (man["input"]["height"], man["input"]["width"])
    cuda = a.device == "cuda"
    iters, warmup = a.iters or (200 if cuda else 100), (10 if cuda else 2)
    nets = nets_from(Path(a.model))
    x = torch.randn(6, nets["plain"].cfg.in_channels, h, w)
    params = {k: sum(p.numel() for p in n.parameters()) for k, n in nets.items()}
    flops = {k: count_flops(lambda t, n=n: n(*t), example(n, x)) for k, n in nets.items()}
    calls = {}  # (backend, net) -> a callable running one batch
    keep = []  # ONNX sessions' temp folders stay alive until timed
    for name, net in nets.items():
        args = example(net, x)
        if cuda:
            net, xd = net.cuda(), tuple(t.cuda() for t in args)
            calls[("torch eager fp32", name)] = lambda net=net, xd=xd: net(*xd)
            half = copy.deepcopy(net).half()
            xh = tuple(t.half() for t in xd)
            calls[("torch eager fp16", name)] = lambda half=half, xh=xh: half(*xh)
            continue
        calls[("torch eager fp32", name)] = lambda net=net, args=args: net(*args)
        import onnxruntime as ort

        from fsmde_train.networks.student import DepthOnly

        d = tempfile.TemporaryDirectory()
        keep.append(d)
        path = Path(d.name) / "m.onnx"
        names = ["x", "p", "v"][:len(args)]
        torch.onnx.export(DepthOnly(net), args, str(path), input_names=names, opset_version=17, dynamo=False)
        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        feed = {k: v.numpy() for k, v in zip(names, args)}
        calls[("onnxruntime fp32 (CPU EP)", name)] = lambda sess=sess, feed=feed: sess.run(None, feed)
    # interleaved rounds: machine load and allocator warm-up then hit every variant alike (timing each variant in
    # one block made the first one measured up to 25 % slower)
    samples: dict = {k: [] for k in calls}
    with torch.inference_mode():
        for _ in range(a.rounds):
            for k, fn in calls.items():
                samples[k].append(timeit(fn, max(1, iters // a.rounds), warmup, cuda))
    rows = {}
    for (backend, name), v in samples.items():
        rows.setdefault(backend, {})[name] = statistics.median(v)
    for d in keep:
        d.cleanup()
    dev = torch.cuda.get_device_name() if cuda else f"CPU, {a.threads} threads"
    print(f"\n==== fusion cost: 6 x {x.shape[1]} x {h} x {w} on {dev}, {a.rounds} interleaved rounds of {max(1, iters // a.rounds)} ====")
    for k in nets:
        print(f"{k:11s} params {params[k] / 1e6:.3f} M  FLOPs {flops[k] / 1e9:.3f} G (x{flops[k] / flops['plain']:.3f})")
    print(f"{'backend':28s} {'plain ms':>10s} {'cross-view ms':>14s} {'ratio':>7s} {'temporal ms':>12s} {'ratio':>7s}")
    out = []
    for backend, r in rows.items():
        print(f"{backend:28s} {r['plain']:10.2f} {r['cross_view']:14.2f} {r['cross_view'] / r['plain']:7.3f} "
              f"{r['temporal']:12.2f} {r['temporal'] / r['plain']:7.3f}")
        out.append(dict(backend=backend, plain_ms=r["plain"], cross_view_ms=r["cross_view"],
                        temporal_ms=r["temporal"], cross_view_ratio=r["cross_view"] / r["plain"],
                        temporal_ratio=r["temporal"] / r["plain"]))
    if a.json:
        Path(a.json).write_text(json.dumps(dict(device=dev, input=list(x.shape), params=params, flops=flops,
                                                iters=iters, rows=out), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
