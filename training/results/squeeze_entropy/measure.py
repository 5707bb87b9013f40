"""How sure is the student, by LiDAR distance, on real frames and on the synthetic val world? (issue 11, the
far-range squeeze: an unsure bin distribution's expected depth is the middle of the range.)

For each LiDAR point (real frames: their LiDAR; val world: its one-sweep LiDAR key frames) the bin distribution's
normalised entropy H / log K (0 = one bin, 1 = uniform) and its largest probability, by the real-frame profile's
distance bands. Evaluation only; nothing is fitted.
python results/squeeze_entropy/measure.py [--model ../models/fsmde_student] (from training/)."""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from fsmde_train.data.real import load_real
from fsmde_train.data.surround import SurroundDataset, scale_K
from fsmde_train.eval.real import DISTANCE_BINS, load_image
from fsmde_train.export.load import load_exported_student
from fsmde_train.geometry import camera_channels


def sureness(net, x):
    """[1, C, h, w] input -> (normalised entropy, max probability), each [h, w] at the input's size."""
    with torch.inference_mode():
        p = net(x)["probs"].float()
    h = -(p * p.clamp_min(1e-12).log()).sum(1, keepdim=True) / np.log(p.shape[1])
    both = F.interpolate(torch.cat([h, p.max(1, keepdim=True).values], 1), size=x.shape[-2:], mode="bilinear",
                         align_corners=False)
    return both[0, 0].numpy(), both[0, 1].numpy()


def add(acc, name, gt, ent, pmax):
    for lo, hi in zip(DISTANCE_BINS[:-1], DISTANCE_BINS[1:]):
        m = (gt > lo) & (gt < hi)
        a = acc.setdefault(name, {}).setdefault(f"{lo:g}-{hi:g}", [0.0, 0.0, 0])
        a[0] += float(ent[m].sum())
        a[1] += float(pmax[m].sum())
        a[2] += int(m.sum())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="../models/fsmde_student")
    ap.add_argument("--real", default="../../shared/real")
    ap.add_argument("--val", default="../data/weights/val")
    ap.add_argument("--out", default=str(Path(__file__).parent / "entropy.json"))
    a = ap.parse_args()
    net, man = load_exported_student(a.model)
    hw = (man["input"]["height"], man["input"]["width"])
    mean = np.asarray(man["input"]["mean"], np.float32).reshape(3, 1, 1)
    std = np.asarray(man["input"]["std"], np.float32).reshape(3, 1, 1)
    focal, geometry = float(man["canonical_focal_px"]), tuple(man["input"]["geometry"]["channels"])
    acc = {}
    for ds, views in load_real(a.real).items():
        for v in views:
            rgb = load_image(v.image_path, hw)
            x = (rgb.transpose(2, 0, 1).astype(np.float32) * np.float32(man["input"]["scale"]) - mean) / std
            K = scale_K(v.K, v.size, (hw[1], hw[0]))
            x = np.concatenate([x, camera_channels(K, v.T_vehicle_cam, hw, focal, geometry)], 0)
            add(acc, ds, v.gt_depth(hw), *sureness(net, torch.from_numpy(x)[None]))
    val = SurroundDataset(a.val, "v1.0-synth", input_hw=hw, canonical_focal_px=focal, sweeps=False, gt="lidar",
                          progress=False, geometry_inputs=geometry, mean=man["input"]["mean"],
                          std=man["input"]["std"])
    for i in range(len(val)):
        b = val[i]
        for j in range(b["image"].shape[0]):
            add(acc, "val world", b["depth"][j, 0].numpy(), *sureness(net, b["image"][j:j + 1]))
    table = {ds: {band: {"entropy": s[0] / max(s[2], 1), "max_prob": s[1] / max(s[2], 1), "points": s[2]}
                  for band, s in bands.items()} for ds, bands in acc.items()}
    Path(a.out).write_text(json.dumps({"model": a.model, "bands": table}, indent=2))
    bands = list(next(iter(table.values())))
    print("| data | " + " | ".join(f"{b} m" for b in bands) + " |")
    print("|---|" + "---:|" * len(bands))
    for ds, t in table.items():
        print(f"| {ds} | " + " | ".join(f"{t[b]['entropy']:.2f} / {t[b]['max_prob']:.2f} ({t[b]['points']})"
                                        if t[b]["points"] else "–" for b in bands) + " |")
    print(f"normalised entropy / largest bin probability (LiDAR points); wrote {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
