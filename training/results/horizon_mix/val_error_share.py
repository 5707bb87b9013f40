"""Where does the val world's AbsRel come from? (issue 11 probe; synthetic worlds only.) A model on a world's first
LIMIT camera sets (dense GT, 0.5-80 m, the nuScenes protocol's range): each semantic class's and distance band's
share of the summed |pred - GT| / GT, with the cell's mean AbsRel. From training/:
python results/horizon_mix/val_error_share.py [MODEL_EXPORT_DIR [WORLD_ROOT [LIMIT]]]
(defaults ../models/fsmde_student, ../data/weights/val, every key frame)"""
import sys

import numpy as np

from fsmde_train.data import SurroundDataset
from fsmde_train.data.surround import SEMANTIC_CLASSES
from fsmde_train.eval.cli import model_predictor

net, man = model_predictor(sys.argv[1] if len(sys.argv) > 1 else "../models/fsmde_student", "onnxruntime")
hw, f = (man["input"]["height"], man["input"]["width"]), man["canonical_focal_px"]
geom = tuple(man["input"]["geometry"]["channels"])
root = sys.argv[2] if len(sys.argv) > 2 else "../data/weights/val"
ds = SurroundDataset(root, "v1.0-synth", None, hw, f, sweeps=False, gt="dense", progress=False,
                     geometry_inputs=geom)
bands = [0.5, 5, 10, 20, 40, 80]
err, cnt = {}, {}
limit = int(sys.argv[3]) if len(sys.argv) > 3 else len(ds)
for i in range(min(limit, len(ds))):
    b = ds[i]
    p = net(b["image"])[:, 0].numpy() * b["focal_scale"].numpy()[:, None, None]
    gt, sem = b["depth_dense"][:, 0].numpy(), b["semantic"].numpy()
    ok = (gt > 0.5) & (gt < 80) & np.isfinite(p)
    e = np.abs(p - gt) / np.maximum(gt, 1e-6)
    for c, name in enumerate(SEMANTIC_CLASSES):
        for lo, hi in zip(bands[:-1], bands[1:]):
            s = ok & (sem == c) & (gt >= lo) & (gt < hi)
            err[(name, lo)] = err.get((name, lo), 0.0) + float(e[s].sum())
            cnt[(name, lo)] = cnt.get((name, lo), 0) + int(s.sum())
total, n = sum(err.values()), sum(cnt.values())
print(f"{root}, {min(limit, len(ds))} camera sets: AbsRel {total / n:.4f} over {n} pixels (NaN excluded)\n")
print("| class | " + " | ".join(f"{lo:g}–{hi:g} m" for lo, hi in zip(bands[:-1], bands[1:])) + " | all |")
print("|---|" + "---:|" * len(bands))
for name in SEMANTIC_CLASSES:
    cells = [f"{100 * err[(name, lo)] / total:.1f} % ({err[(name, lo)] / cnt[(name, lo)]:.2f})" if cnt[(name, lo)] else "–"
             for lo in bands[:-1]]
    tot = sum(err[(name, lo)] for lo in bands[:-1])
    if tot:
        print(f"| {name} | " + " | ".join(cells) + f" | {100 * tot / total:.1f} % |")
print("\ncell: share of the summed error (mean AbsRel of the cell's pixels)")
