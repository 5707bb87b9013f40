"""Is randconv's surface-NaN cost a shifted logit or a blurred sky boundary? The validity logit's trade-off on the
val world (the world for choices): sky / surface NaN when the cut is moved from 0, and the surface NaN at the cut that
leaves 98 % of the sky NaN. python results/randconv_rendered/nan_tradeoff.py EXPORT... (from training/)."""
import sys

import numpy as np
import torch

from fsmde_train.data.surround import SurroundDataset
from fsmde_train.export.load import load_exported_student

CUTS = (-1.0, -0.5, 0.0, 0.5, 1.0)

for export in sys.argv[1:]:
    net, man = load_exported_student(export)
    hw = (man["input"]["height"], man["input"]["width"])
    ds = SurroundDataset("../data/weights/val", "v1.0-synth", input_hw=hw, canonical_focal_px=man["canonical_focal_px"],
                         sweeps=False, gt="dense", progress=False, mean=man["input"]["mean"], std=man["input"]["std"],
                         geometry_inputs=tuple(man["input"]["geometry"]["channels"]))
    sky, surface = [], []
    for i in range(len(ds)):
        b = ds[i]
        with torch.inference_mode():
            logit = net(b["image"])["valid_logit"].numpy()[:, 0]
        g = b["depth_dense"].numpy()[:, 0]
        sky.append(logit[g <= 0]), surface.append(logit[g > 0])
    sky, surface = np.concatenate(sky), np.concatenate(surface)
    cut98 = float(np.quantile(sky, 0.98))  # NaN where logit < cut: 98 % of the sky pixels below it
    cells = [f"cut {c:+.1f}: {100 * (sky < c).mean():.1f} % / {100 * (surface < c).mean():.2f} %" for c in CUTS]
    print(f"{export} (sky / surface NaN) | " + " | ".join(cells)
          + f" | 98 % sky at cut {cut98:+.2f}: surface {100 * (surface < cut98).mean():.2f} %")
