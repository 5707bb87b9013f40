"""A run's depth scale per camera where the image has texture, against dense GT (issue 14's pose diagnosis).

    python -m fsmde_train.eval.textured_scale --run runs/selfsup_bag/pose_net_depth_2pass --data-root ../data/weights/val

A geometric motion estimate (networks/pose_align.py, the photometric refinement) gets its metres from the depth at
the pixels whose image gradient is strong: a flow is only seen there. So a depth whose median pred/GT is right over
all pixels can still give a motion 10 % long, if its textured pixels are 10 % too far on the cameras that carry the
flow. Per camera this prints the median over images of each image's median pred/GT over all valid pixels and over the
``1 - quantile`` share of them with the strongest grey-level gradient.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch


def textured_ratio(pred: torch.Tensor, gt: torch.Tensor, image: torch.Tensor, quantile: float = 0.8):
    """(median pred/GT over valid pixels, over the valid pixels at or above ``quantile`` of the gradient magnitude)
    for one image: ``pred``, ``gt`` [H, W] (GT 0 = no depth), ``image`` [C, H, W]; None where GT is empty."""
    from ..networks.pose_align import _image_gradient

    valid = gt > 0
    if not bool(valid.any()):
        return None
    grad = _image_gradient(image[:3].mean(0)[None, None].float())[0].norm(dim=0)
    r = pred / gt.clamp_min(1e-6)
    sel = valid & (grad >= grad[valid].quantile(quantile))
    return float(r[valid].median()), float(r[sel].median())


def main(argv=None) -> int:
    from ..data import SurroundDataset
    from .cli import load_run

    ap = argparse.ArgumentParser(prog="fsmde-textured-scale", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="a training run (its newest checkpoint)")
    ap.add_argument("--data-root", required=True, help="a nuScenes-format world with dense depth")
    ap.add_argument("--version", default="v1.0-synth")
    ap.add_argument("--scenes", help="comma-separated scene names (default: all)")
    ap.add_argument("--quantile", type=float, default=0.8, help="gradient quantile above which a pixel is textured")
    ap.add_argument("--out", help="write the table here as JSON")
    a = ap.parse_args(argv)
    try:
        if not 0 < a.quantile < 1:
            raise ValueError(f"--quantile {a.quantile}: expected a number between 0 and 1")
        student, cfg = load_run(a.run)
        d, m = cfg["data"], cfg["model"]
        ds = SurroundDataset(a.data_root, a.version, a.scenes.split(",") if a.scenes else None, tuple(d["input_hw"]),
                             d["canonical_focal_px"], gt="dense", progress=True, cameras=d["cameras"], mean=m["mean"],
                             std=m["std"], geometry_inputs=tuple(m.get("geometry_inputs", ())))
        rows = {c: [] for c in d["cameras"]}
        with torch.no_grad():
            for i in range(len(ds)):
                s = ds[i]
                pred = student(s["image"])["depth"] * s["focal_scale"].view(-1, 1, 1, 1)
                for j, c in enumerate(d["cameras"]):
                    r = textured_ratio(pred[j, 0], s["depth_dense"][j, 0], s["image"][j], a.quantile)
                    if r is not None:
                        rows[c].append(r)
    except (ValueError, OSError, KeyError) as e:
        print(f"fsmde-textured-scale: error: {e}", file=sys.stderr)
        return 2
    res = {"run": str(a.run), "data_root": str(a.data_root), "quantile": a.quantile, "per_camera": {}}
    print(f"{a.run} on {a.data_root}: median pred/GT per camera (images' medians; textured = top "
          f"{100 * (1 - a.quantile):.0f} % gradient)")
    for c, v in rows.items():
        if v:
            v = np.array(v)
            res["per_camera"][c] = {"images": len(v), "all": float(np.median(v[:, 0])),
                                    "textured": float(np.median(v[:, 1]))}
            print(f"  {c:<16} all {np.median(v[:, 0]):.3f}  textured {np.median(v[:, 1]):.3f}  ({len(v)} images)")
    if a.out:
        from ..files import atomic_write_text

        atomic_write_text(a.out, json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
