"""How compressed is the depth range? (issue 11 probe, evaluation only.) The slope b of log(pred) = a + b log(GT),
fitted by least squares on every LiDAR point of each real dataset (the protocol's range) and on the val world's dense
GT: b = 1 reads the range at its spread, b < 1 pulls near and far toward the middle (near too far, far too near, the
shape of the real frames' distance tables). Several models: each one's slopes, then their mean.
From training/: python results/horizon_mix/compression.py MODEL_EXPORT_DIR [...] [--real ../../shared/real]"""
import argparse

import numpy as np

from fsmde_train.data import SurroundDataset
from fsmde_train.data.real import load_real
from fsmde_train.eval.cli import model_predictor
from fsmde_train.eval.metrics import PROTOCOLS
from fsmde_train.eval.real import PROTOCOL, evaluate_real

ap = argparse.ArgumentParser()
ap.add_argument("model", nargs="+")
ap.add_argument("--real", default="../../shared/real")
ap.add_argument("--val", default="../data/weights/val")
a = ap.parse_args()
views = [v for vs in load_real(a.real).values() for v in vs]


def slope(gt: np.ndarray, pred: np.ndarray) -> float:
    x, y = np.log(gt), np.log(pred)
    return float(np.polyfit(x, y, 1)[0])


rows = []
for model in a.model:
    net, man = model_predictor(model, "onnxruntime")
    res = evaluate_real(net, man, views, progress=False)
    pts = {}
    for v, arr in zip(views, res["arrays"]):
        lo, hi = PROTOCOLS[PROTOCOL[v.dataset]]
        gt, p = arr["gt"], arr["pred"]
        m = (gt > lo) & (gt < hi) & np.isfinite(p) & (p > 0)
        g, q = pts.setdefault(v.dataset, ([], []))
        g.extend(gt[m].tolist())
        q.extend(p[m].tolist())
    row = {ds: slope(np.array(g), np.array(q)) for ds, (g, q) in pts.items()}
    hw, f = (man["input"]["height"], man["input"]["width"]), man["canonical_focal_px"]
    ds = SurroundDataset(a.val, "v1.0-synth", None, hw, f, sweeps=False, gt="dense", progress=False,
                         geometry_inputs=tuple(man["input"]["geometry"]["channels"]))
    g, q = [], []
    for i in range(len(ds)):
        b = ds[i]
        p = net(b["image"])[:, 0].numpy() * b["focal_scale"].numpy()[:, None, None]
        gt = b["depth_dense"][:, 0].numpy()
        m = (gt > 0.5) & (gt < 80) & np.isfinite(p) & (p > 0)
        g.extend(gt[m][::7].tolist())  # every 7th pixel: the fit needs no more
        q.extend(p[m][::7].tolist())
    row["val world"] = slope(np.array(g), np.array(q))
    rows.append(row)
    print(f"{model}: " + "  ".join(f"{k} b={v:.3f}" for k, v in row.items()))
if len(rows) > 1:
    print("mean: " + "  ".join(f"{k} b={np.mean([r[k] for r in rows]):.3f}" for k in rows[0]))
