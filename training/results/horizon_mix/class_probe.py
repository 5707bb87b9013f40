"""Which synthetic classes did the horizon mix cost? (issue 11 probe; val world only, no real frames.) Median pred/GT
of a model's predictions against the val world's dense depth on its key frames, per semantic class and GT distance
band, with the pixels of each class split by whether their ray rises (above the horizon) or falls. Several models:
the mean of their medians per cell. From training/:
python results/horizon_mix/class_probe.py MODEL_EXPORT_DIR [MODEL_EXPORT_DIR...]"""
import sys

import numpy as np

from fsmde_train.data import SurroundDataset
from fsmde_train.data.surround import SEMANTIC_CLASSES
from fsmde_train.eval.cli import model_predictor

bands = [0.5, 5, 10, 20, 40, 80]
classes = ("road", "ground", "building", "vehicle", "pole", "foliage")
per_model = []
for model in sys.argv[1:]:
    net, man = model_predictor(model, "onnxruntime")
    hw, f = (man["input"]["height"], man["input"]["width"]), man["canonical_focal_px"]
    geom = tuple(man["input"]["geometry"]["channels"])
    ds = SurroundDataset("../data/weights/val", "v1.0-synth", None, hw, f, sweeps=False, gt="dense", progress=False,
                         geometry_inputs=geom)
    k = 3 + geom.index("ground_inverse_depth")
    logs = {}
    for i in range(len(ds)):
        b = ds[i]
        fs = b["focal_scale"].numpy()[:, None, None]
        p = net(b["image"])[:, 0].numpy() * fs
        gt, sem = b["depth_dense"][:, 0].numpy(), b["semantic"].numpy()
        above = b["image"][:, k].numpy() <= 0
        ok = (gt > 0.5) & (gt < 80) & np.isfinite(p)
        for c in classes:
            for side, sel in (("above", above), ("below", ~above)):
                for lo, hi in zip(bands[:-1], bands[1:]):
                    s = ok & (sem == SEMANTIC_CLASSES.index(c)) & sel & (gt >= lo) & (gt < hi)
                    logs.setdefault((c, side, lo), []).extend(np.log(p[s] / gt[s]).tolist())
    per_model.append({key: (float(np.exp(np.median(x))), len(x)) for key, x in logs.items() if len(x) >= 200})
keys = set.intersection(*(set(c) for c in per_model))
print(f"mean of {len(per_model)} models' median pred/GT (pixels), val world key frames: {' '.join(sys.argv[1:])}\n")
print("| class | side | " + " | ".join(f"{lo:g}–{hi:g} m" for lo, hi in zip(bands[:-1], bands[1:])) + " |")
print("|---|---|" + "---:|" * (len(bands) - 1))
for c in classes:
    for side in ("below", "above"):
        row = [f"×{np.mean([m[(c, side, lo)][0] for m in per_model]):.2f} ({per_model[0][(c, side, lo)][1]})"
               if (c, side, lo) in keys else "–" for lo in bands[:-1]]
        print(f"| {c} | {side} | " + " | ".join(row) + " |")
