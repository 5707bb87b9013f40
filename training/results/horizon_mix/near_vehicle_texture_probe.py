"""Do the near vehicle sides read far because they have no texture? (issue 11 probe; val world only.) The shipped
model on the val key frames with the RGB of the vehicle pixels within 6 m changed: as rendered, screen-space noise
(sigma 0.08, per pixel or on 4-px cells) added, or brightened (x2 in linear-ish RGB); median pred/GT and AbsRel of
those pixels (0.5-5 m). From training/: python results/horizon_mix/near_vehicle_texture_probe.py [MODEL_EXPORT_DIR]"""
import sys

import numpy as np
import torch
import torch.nn.functional as F

from fsmde_train.data import SurroundDataset
from fsmde_train.data.surround import SEMANTIC_CLASSES
from fsmde_train.eval.cli import model_predictor

net, man = model_predictor(sys.argv[1] if len(sys.argv) > 1 else "../models/fsmde_student", "onnxruntime")
hw, f = (man["input"]["height"], man["input"]["width"]), man["canonical_focal_px"]
geom = tuple(man["input"]["geometry"]["channels"])
ds = SurroundDataset("../data/weights/val", "v1.0-synth", None, hw, f, sweeps=False, gt="dense", progress=False,
                     geometry_inputs=geom)
mean = torch.tensor(man["input"]["mean"]).view(1, 3, 1, 1)
std = torch.tensor(man["input"]["std"]).view(1, 3, 1, 1)
VEH = SEMANTIC_CLASSES.index("vehicle")
gen = torch.Generator().manual_seed(0)


def change(x, near, kind):
    rgb = x[:, :3] * std + mean
    if kind == "noise1":
        rgb = rgb + 0.08 * torch.randn(rgb.shape, generator=gen) * near
    if kind == "noise4":
        n = torch.randn((rgb.shape[0], 3, hw[0] // 4, hw[1] // 4), generator=gen)
        rgb = rgb + 0.08 * F.interpolate(n, size=hw, mode="nearest") * near
    if kind == "bright":
        rgb = torch.where(near > 0, rgb * 2, rgb)
    x = x.clone()
    x[:, :3] = (rgb.clamp(0, 1) - mean) / std
    return x


for kind in ("none", "noise1", "noise4", "bright"):
    logs, errs = [], []
    for i in range(len(ds)):
        b = ds[i]
        gt, sem = b["depth_dense"][:, 0].numpy(), b["semantic"].numpy()
        near = torch.from_numpy(((sem == VEH) & (gt > 0) & (gt < 6))[:, None].astype(np.float32))
        x = change(b["image"], near, kind) if kind != "none" else b["image"]
        p = net(x)[:, 0].numpy() * b["focal_scale"].numpy()[:, None, None]
        s = (sem == VEH) & (gt > 0.5) & (gt < 5) & np.isfinite(p)
        logs.extend(np.log(p[s] / gt[s]).tolist())
        errs.extend((np.abs(p[s] - gt[s]) / gt[s]).tolist())
    print(f"{kind}: vehicle pixels 0.5-5 m: {len(logs)} px, median pred/GT x{np.exp(np.median(logs)):.2f}, "
          f"AbsRel {np.mean(errs):.3f}")
