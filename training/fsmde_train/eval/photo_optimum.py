"""Where the training photometric terms put each camera's depth scale (issue 14's pose diagnosis).

    python -m fsmde_train.eval.photo_optimum --data-root ../data/weights/val [--run RUN] [--triples 12]

For each camera, the depth of frame t is multiplied by s over a grid (0.85-1.15) and the temporal term (t-1 and t+1
through the world's exact ego poses, each camera at its own exposure) and the spatial term (the ring neighbours at t
through the extrinsics) are evaluated as training does (losses/photometric.py: SSIM + L1, per-pixel minimum over the
sources, auto-masking, the image + depth pyramid of ``--photo-scales``). Printed per camera: the s with the lowest
term (refined by a parabola through the grid's three lowest points).
- Through the world's exact depth (no ``--run``) both minima must sit at s = 1: anything else is a bias of the
  terms themselves (an exposure change between frames, the pyramid's aliasing).
- Through a run's student depth, the temporal minimum says how far the depth is from the scale the true motion
  needs (a geometric motion estimate through this depth comes out 1/s long), the spatial one how far from the
  scale the metric baselines need. A run at its own training optimum has both at 1.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

from ..losses.photometric import downsample, photometric_error, surround_warps

GRID = tuple(float(x) for x in np.round(np.arange(0.85, 1.1501, 0.025), 3))


def per_camera_error(target: torch.Tensor, warped: list, valid: list, sources: list | None = None) -> np.ndarray:
    """[N, 2] (sum, count) per target image of ``reprojection_loss``'s masked per-pixel minimum error."""
    big = torch.full_like(target[:, :1], 1e4)
    errs = torch.cat([torch.where(v, photometric_error(w, target), big) for w, v in zip(warped, valid)], 1)
    best = errs.min(1, keepdim=True).values
    mask = best < big
    if sources:
        mask &= best < torch.cat([photometric_error(s, target) for s in sources], 1).min(1, keepdim=True).values
    return np.array([[float(best[i][mask[i]].sum()), float(mask[i].sum())] for i in range(target.shape[0])])


def scale_curves(rgb: torch.Tensor, depth: torch.Tensor, K: torch.Tensor, T_ref_cam: torch.Tensor,
                 grid=GRID, photo_scales=(1, 2, 4, 8)) -> dict[str, np.ndarray]:
    """{"temporal", "spatial"}: [len(grid), N, 2] (sum, count) of each camera's term with its depth x s, summed over
    the pyramid levels. rgb [1, 3, N, 3, H, W] in [0, 1]; depth [1, N, 1, H, W]; K [1, N, 3, 3]; T_ref_cam
    [1, 3, N, 4, 4]. A camera's terms depend only on its own depth (it is the target), so all cameras move at once."""
    N = rgb.shape[2]
    out = {k: np.zeros((len(grid), N, 2)) for k in ("temporal", "spatial")}
    with torch.no_grad():
        for i, s in enumerate(grid):
            for f in photo_scales:
                im, dp, Kd = downsample(rgb, depth * s, K, f)
                w = surround_warps(im, dp, Kd, T_ref_cam)
                tw, sw = w["temporal"], w["spatial"]
                out["temporal"][i] += per_camera_error(w["target"], [x[0] for x in tw], [x[1] for x in tw],
                                                       [x[2] for x in tw])
                out["spatial"][i] += per_camera_error(w["target"], [x[0] for x in sw], [x[1] for x in sw])
    return out


def parabola_argmin(grid, y) -> float:
    """The grid's minimum refined by a parabola through it and its neighbours (an end point stays put)."""
    y = np.asarray(y, dtype=float)
    i = int(np.argmin(y))
    if i == 0 or i == len(y) - 1:
        return float(grid[i])
    a, b, c = y[i - 1], y[i], y[i + 1]
    den = a - 2 * b + c
    off = 0.5 * (a - c) / den if den > 1e-12 else 0.0
    return float(grid[i] + np.clip(off, -0.5, 0.5) * (grid[i + 1] - grid[i - 1]) / 2)


def main(argv=None) -> int:
    from ..data import SurroundDataset
    from ..data.sequence import SurroundSequence

    ap = argparse.ArgumentParser(prog="fsmde-photo-optimum", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", required=True, help="a nuScenes-format world with dense depth and ego poses")
    ap.add_argument("--version", default="v1.0-synth")
    ap.add_argument("--run", help="a training run: its student's depth (default: the world's exact depth)")
    ap.add_argument("--triples", type=int, default=12, help="(t-1, t, t+1) camera-set triples, evenly spaced")
    ap.add_argument("--photo-scales", default="1,2,4,8", help="the pyramid's downsampling factors")
    ap.add_argument("--input-hw", default="128,224", help="H,W without --run (a run uses its own)")
    ap.add_argument("--out", help="write the result here as JSON")
    a = ap.parse_args(argv)
    try:
        if a.triples < 1:
            raise ValueError(f"--triples {a.triples}: expected at least 1")
        try:
            scales = tuple(int(x) for x in a.photo_scales.split(","))
            hw = tuple(int(x) for x in a.input_hw.split(","))
        except ValueError:
            raise ValueError("--photo-scales and --input-hw take comma-separated integers") from None
        mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
        student, kw = None, {"input_hw": hw, "mean": mean, "std": std}
        if a.run:
            from .cli import load_run

            student, cfg = load_run(a.run)
            d, m = cfg["data"], cfg["model"]
            mean, std = m["mean"], m["std"]
            kw = {"input_hw": tuple(d["input_hw"]), "canonical_focal_px": d["canonical_focal_px"],
                  "cameras": d["cameras"], "mean": mean, "std": std, "cache_dir": d.get("cache_dir"),
                  "geometry_inputs": tuple(m.get("geometry_inputs", ()))}
        seq = SurroundSequence(SurroundDataset(a.data_root, a.version, sweeps=True, gt="dense", progress=True, **kw))
        if seq.base.E is None:
            raise ValueError(f"{a.data_root}: no ego poses (the temporal term needs the world's motion)")
        mu, sd = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
        acc = None
        from tqdm import tqdm

        for k in tqdm(np.linspace(0, len(seq) - 1, min(a.triples, len(seq))).astype(int), desc="triples"):
            s = seq[int(k)]
            rgb = torch.stack([(s["image"][f][:, :3] * sd + mu).clamp(0, 1) for f in range(3)])[None]
            if student is None:
                g = s["depth_dense"]
                depth = torch.where(g > 0, g, torch.full_like(g, 100.0))[None]
            else:
                with torch.no_grad():
                    depth = (student(s["image"][1])["depth"] * s["focal_scale"].view(-1, 1, 1, 1))[None]
            c = scale_curves(rgb, depth, s["K"][None], s["T_ref_cam"][None], GRID, scales)
            acc = c if acc is None else {t: acc[t] + c[t] for t in acc}
    except (ValueError, OSError, KeyError) as e:
        print(f"fsmde-photo-optimum: error: {e}", file=sys.stderr)
        return 2
    cams = list(seq.base.cameras)
    res = {"data_root": str(a.data_root), "depth": a.run or "exact", "triples": int(min(a.triples, len(seq))),
           "grid": list(GRID), "photo_scales": list(scales), "argmin": {}, "curves": {}}
    print(f"{res['depth']} depth on {a.data_root}: the depth scale s at each term's minimum, per camera")
    for t, v in acc.items():
        mean_err = v[..., 0] / np.maximum(v[..., 1], 1)
        res["curves"][t] = mean_err.tolist()
        res["argmin"][t] = {c: parabola_argmin(GRID, mean_err[:, j]) for j, c in enumerate(cams)}
        print(f"  {t:<9} " + "  ".join(f"{c} {res['argmin'][t][c]:.3f}" for c in cams))
    if a.out:
        from ..files import atomic_write_text

        atomic_write_text(a.out, json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
