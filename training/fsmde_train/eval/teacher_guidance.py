"""Diagnostic: can a relative-depth teacher correct a self-supervised student where its photometric terms are blind?
(issue 14; RESULTS.md, "Self-supervised from scratch on bags").

python -m fsmde_train.eval.teacher_guidance --teacher ../data/teacher/learned --data-root ../data/weights/val \
    --runs runs/selfsup_bag/spatial runs/selfsup_bag/teacher_ssi_0.1

Per camera (key frames, dense GT, 0.5-80 m, AbsRel at the cameras' real focal lengths):
- ``teacher fit to GT``: the teacher's relative inverse depth fitted per image to the dense GT (robust affine fit):
  the best any scale-and-shift-invariant use of it can give; all pixels and pixels nearer than 10 m;
- each run's depth, all pixels and nearer than 10 m;
- ``blind``: on the textureless pixels (no image gradient above ``--texture`` within 2 px: a warp matches there at
  any depth) that the teacher places nearer than 20 m, the run's depth against the teacher fitted to the run's own
  depth on the textured pixels (what a "teacher fills the blind spots" loss would ask for);
- the teacher SSI term (losses/ssi.py ``teacher_ssi_loss``) of the exact depth and of each run: a guidance term can
  only help if it scores the exact depth clearly below the run.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..losses.distill import align_to_metric
from ..losses.ssi import teacher_ssi_loss

NEAR, BLIND_NEAR = 10.0, 20.0


def textured(rgb: torch.Tensor, thr: float, radius: int = 2) -> torch.Tensor:
    """[B, 3, H, W] RGB in [0, 1] -> bool [B, 1, H, W]: a grey-level step above ``thr`` within ``radius`` px."""
    g = rgb.mean(1, keepdim=True)
    gx = F.pad((g[..., :, 1:] - g[..., :, :-1]).abs(), (0, 1, 0, 0))
    gy = F.pad((g[..., 1:, :] - g[..., :-1, :]).abs(), (0, 0, 0, 1))
    return F.max_pool2d(torch.maximum(gx, gy), 2 * radius + 1, 1, radius) > thr


def _abs_rel(x: torch.Tensor, gt: torch.Tensor, m: torch.Tensor) -> float | None:
    return float(((x[m] - gt[m]).abs() / gt[m]).mean()) if int(m.sum()) >= 10 else None


def view_stats(rel: torch.Tensor, gt: torch.Tensor, rgb: torch.Tensor, preds: dict, texture: float = 0.02,
               lo: float = 0.5, hi: float = 80.0) -> list[dict]:
    """Per view of one set: rel [V, 1, H, W] teacher; gt [V, 1, H, W] dense metres (0 = sky); rgb [V, 3, H, W] in
    [0, 1]; preds {name: [V, 1, H, W] metres}. Returns [{key: AbsRel or None}] per view (keys in the module doc)."""
    fit_gt, ok_gt = align_to_metric(rel, gt, lo, 100.0)
    tex = textured(rgb, texture)
    far = torch.where(gt > 0, gt, torch.full_like(gt, 100.0)).clamp(lo, 100.0)  # sky: far, for the SSI score
    rows = []
    for v in range(gt.shape[0]):
        m = (gt[v] > lo) & (gt[v] < hi)
        r = {"ssi/exact": float(teacher_ssi_loss(far[v:v + 1], rel[v:v + 1]))}
        if bool(ok_gt[v]):
            r["teacher fit to GT"] = _abs_rel(fit_gt[v], gt[v], m)
            r[f"teacher fit to GT <{NEAR:g} m"] = _abs_rel(fit_gt[v], gt[v], m & (gt[v] < NEAR))
        for name, p in preds.items():
            r[name] = _abs_rel(p[v], gt[v], m)
            r[f"{name} <{NEAR:g} m"] = _abs_rel(p[v], gt[v], m & (gt[v] < NEAR))
            r[f"ssi/{name}"] = float(teacher_ssi_loss(p[v:v + 1], rel[v:v + 1]))
            fit, ok = align_to_metric(rel[v:v + 1], torch.where(tex[v:v + 1], p[v:v + 1], torch.zeros_like(p[v:v + 1])),
                                      lo, 100.0)
            if bool(ok[0]):
                blind = m & ~tex[v] & (fit[0] < BLIND_NEAR)
                r[f"blind: {name}"] = _abs_rel(p[v], gt[v], blind)
                r[f"blind: teacher fit to {name}"] = _abs_rel(fit[0], gt[v], blind)
        rows.append(r)
    return rows


def main(argv=None) -> int:
    from ..data import SurroundDataset
    from ..networks.teacher import TeacherConfig, build_teacher
    from .cli import load_run

    ap = argparse.ArgumentParser(prog="fsmde-teacher-guidance", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", required=True, help="fsmde-teacher output folder")
    ap.add_argument("--runs", nargs="+", required=True)
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--version", default="v1.0-synth")
    ap.add_argument("--max-sets", type=int, help="key-frame sets, evenly spaced (default all)")
    ap.add_argument("--texture", type=float, default=0.02, help="grey-level step that counts as texture")
    a = ap.parse_args(argv)
    try:
        nets = {r: load_run(r) for r in a.runs}
        cfgs = {r: c["data"] for r, (_, c) in nets.items()}
        geo = {tuple(n.cfg.geometry_inputs) for n, _ in nets.values()}
        if len({(tuple(c["input_hw"]), c["canonical_focal_px"]) for c in cfgs.values()}) != 1 or len(geo) != 1:
            raise ValueError("--runs must share input_hw, canonical_focal_px and geometry_inputs")
        d = next(iter(cfgs.values()))
        net0 = next(iter(nets.values()))[0]
        ds = SurroundDataset(a.data_root, a.version, None, tuple(d["input_hw"]), d["canonical_focal_px"],
                             sweeps=False, gt="dense", progress=False, geometry_inputs=net0.cfg.geometry_inputs)
        teacher = build_teacher(TeacherConfig(kind="learned", model=a.teacher))
    except (ValueError, OSError) as e:
        print(f"fsmde-teacher-guidance: error: {e}", file=sys.stderr)
        return 2
    mean = torch.tensor(net0.cfg.mean).view(1, 3, 1, 1)
    std = torch.tensor(net0.cfg.std).view(1, 3, 1, 1)
    n = len(ds) if a.max_sets is None else min(a.max_sets, len(ds))
    stride = max(1, len(ds) // n)
    acc: dict = {}
    with torch.no_grad():
        for i in tqdm(range(0, stride * n, stride), desc="teacher guidance"):
            b = ds[i]
            img = b["image"][:, :3]
            fs = b["focal_scale"][:, None, None, None]
            rel = teacher(img, {"depth_dense": b["depth_dense"], "n_cam": img.shape[0],
                                "index": torch.full((img.shape[0],), i, dtype=torch.int64)})["rel"]
            preds = {r: net(b["image"])["depth"] * fs for r, (net, _) in nets.items()}
            for v, row in enumerate(view_stats(rel, b["depth_dense"], (img * std + mean).clamp(0, 1), preds,
                                               a.texture)):
                for k, x in row.items():
                    if x is not None:
                        acc.setdefault(k, {}).setdefault(v, []).append(x)
    cams = ds.cameras
    w = max(len(k) for k in acc) + 2
    print(f"{'mean AbsRel (ssi/: loss value)':{w}s}" + "".join(f"{c.replace('CAM_', ''):>13s}" for c in cams))
    for k, per in acc.items():
        print(f"{k:{w}s}" + "".join(f"{np.mean(per[v]):13.3f}" if v in per else f"{'-':>13s}"
                                    for v in range(len(cams))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
