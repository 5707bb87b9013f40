"""How good, and how wrong in which way, a relative-depth teacher is on a synthetic world with dense GT.

The teacher's ``rel`` of each view is fitted to metric depth on the view's sparse LiDAR (``align_to_metric``,
exactly what training does), then compared with the world's dense depth in (0.5, 80) m:

- AbsRel, δ1 per image (mean over images)
- by distance band: AbsRel and the median log ratio fitted/GT (< 0 = compressed: far things read nearer)
- near depth edges (within 2 px of a > 20 % depth jump in the GT) vs elsewhere: edge bleeding

python -m fsmde_train.eval.teacher_eval --teacher ../data/teacher/learned --data-root ../data/weights/test \
    --out results/teacher   (``--teacher standin`` evaluates the GT + noise diagnostic)
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..losses.distill import align_to_metric

BANDS = ((0.5, 10.0), (10.0, 20.0), (20.0, 40.0), (40.0, 80.0))


def edge_mask(gt: torch.Tensor, jump: float = 0.2, radius: int = 2) -> torch.Tensor:
    """[B, 1, H, W] dense depth -> bool mask of pixels within ``radius`` px of a relative depth jump > ``jump``."""
    logd = torch.log(gt.clamp_min(1e-3))
    e = torch.zeros_like(gt, dtype=torch.bool)
    e[..., :, 1:] |= (logd[..., :, 1:] - logd[..., :, :-1]).abs() > np.log1p(jump)
    e[..., 1:, :] |= (logd[..., 1:, :] - logd[..., :-1, :]).abs() > np.log1p(jump)
    k = 2 * radius + 1
    return F.max_pool2d(e.float(), k, 1, radius) > 0


def evaluate_teacher(teacher, ds, max_sets: int | None = None, progress: bool = False, keep_views: int = 6) -> dict:
    """Metrics of ``teacher`` on ``ds`` (a SurroundDataset with gt="lidar" and dense depth); also returns up to
    ``keep_views`` (image, fitted, gt) examples for ``error_figure``."""
    n = len(ds) if max_sets is None else min(max_sets, len(ds))
    stride = max(1, len(ds) // n)
    absrel, d1 = [], []
    band_err = {b: [] for b in BANDS}
    band_logr = {b: [] for b in BANDS}
    edge_err, flat_err, examples = [], [], []
    unfit = 0
    for i in tqdm(range(0, stride * n, stride), desc="teacher eval", disable=not progress):
        b = ds[i]
        img = b["image"][:, :3]
        out = teacher(img, {"depth_dense": b["depth_dense"], "n_cam": img.shape[0],
                            "index": torch.full((img.shape[0],), i, dtype=torch.int64)})
        fitted, ok = align_to_metric(out["rel"], b["depth"], 0.5, 100.0)
        gt = b["depth_dense"]
        edges = edge_mask(gt)
        for v in range(img.shape[0]):
            if not bool(ok[v]):  # too few LiDAR points, or a fit with negative scale (the teacher is inverted)
                unfit += 1
                continue
            m = (gt[v] > 0.5) & (gt[v] < 80)
            if int(m.sum()) < 100:
                continue
            p, g = fitted[v][m], gt[v][m]
            rel = (p - g).abs() / g
            absrel.append(float(rel.mean()))
            d1.append(float((torch.maximum(p / g, g / p) < 1.25).float().mean()))
            logr = torch.log(p / g)
            for lo, hi in BANDS:
                s = (g >= lo) & (g < hi)
                if int(s.sum()) >= 20:
                    band_err[(lo, hi)].append(float(rel[s].mean()))
                    band_logr[(lo, hi)].append(float(logr[s].median()))
            e = edges[v][m]
            if int(e.sum()) >= 20 and int((~e).sum()) >= 20:
                edge_err.append(float(rel[e].mean()))
                flat_err.append(float(rel[~e].mean()))
            if len(examples) < keep_views and v == len(examples) % img.shape[0]:
                examples.append((img[v], fitted[v, 0], gt[v, 0]))
    mean = lambda x: float(np.mean(x)) if x else float("nan")  # noqa: E731
    return {
        "images": len(absrel), "unfit_images": unfit, "abs_rel": mean(absrel), "delta1": mean(d1),
        "by_distance": [{"band_m": [lo, hi], "abs_rel": mean(band_err[(lo, hi)]),
                         "median_log_ratio": mean(band_logr[(lo, hi)])} for lo, hi in BANDS],
        "abs_rel_near_edges": mean(edge_err), "abs_rel_elsewhere": mean(flat_err),
        "examples": examples,
    }


def error_figure(examples, mean, std, path) -> None:
    """One row per view: image | fitted teacher depth | dense GT | |error| / GT (0 black .. >= 30 % white)."""
    from ..engine.tb import colorize

    rows = []
    for img, fitted, gt in examples:
        rgb = (img.permute(1, 2, 0).numpy() * np.asarray(std) + np.asarray(mean)).clip(0, 1)
        rgb = (rgb * 255).astype(np.uint8)
        f, g = fitted.numpy(), gt.numpy()
        err = np.where((g > 0.5) & (g < 80), np.abs(f - g) / np.maximum(g, 1e-3), 0)
        e8 = cv2.applyColorMap((np.clip(err / 0.3, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[:, :, ::-1]
        rows.append(np.concatenate([rgb, colorize(f), colorize(g), e8], axis=1))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.concatenate(rows, axis=0)[:, :, ::-1])


def format_report(name: str, r: dict) -> str:
    lines = [f"teacher {name}: {r['images']} images fitted on sparse LiDAR ({r['unfit_images']} could not be "
             f"fitted), vs dense GT 0.5-80 m",
             f"  AbsRel {r['abs_rel']:.3f}  δ1 {r['delta1']:.3f}",
             f"  near depth edges AbsRel {r['abs_rel_near_edges']:.3f}, elsewhere {r['abs_rel_elsewhere']:.3f}"]
    for b in r["by_distance"]:
        lines.append(f"  {b['band_m'][0]:>4.1f}-{b['band_m'][1]:<4.0f} m  AbsRel {b['abs_rel']:.3f}  "
                     f"median log(fitted/GT) {b['median_log_ratio']:+.3f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    from ..data import SurroundDataset
    from ..networks.student import StudentConfig
    from ..networks.teacher import TeacherConfig, build_teacher

    ap = argparse.ArgumentParser(prog="fsmde-teacher-eval", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", required=True, help="fsmde-teacher output folder, or 'standin' (GT + noise)")
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--version", default="v1.0-synth")
    ap.add_argument("--sets", type=int, default=24, help="camera sets evaluated, evenly spaced (default 24)")
    ap.add_argument("--input-hw", type=int, nargs=2, default=(128, 224))
    ap.add_argument("--out", help="folder for report.json and errors.png")
    a = ap.parse_args(argv)
    try:
        kind = "standin" if a.teacher == "standin" else "learned"
        teacher = build_teacher(TeacherConfig(kind=kind, model=a.teacher))
        ds = SurroundDataset(a.data_root, a.version, None, tuple(a.input_hw), sweeps=True, gt="lidar",
                             progress=False)
        r = evaluate_teacher(teacher, ds, a.sets, progress=True)
    except (ValueError, OSError, AssertionError) as e:
        print(f"fsmde-teacher-eval: error: {e}", file=sys.stderr)
        return 2
    print(format_report(a.teacher, r))
    if a.out:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps({k: v for k, v in r.items() if k != "examples"}, indent=1))
        print(f"wrote {out / 'report.json'}")
        if r["examples"]:
            cfg = StudentConfig()
            error_figure(r["examples"], cfg.mean, cfg.std, out / "errors.png")
            print(f"wrote {out / 'errors.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
