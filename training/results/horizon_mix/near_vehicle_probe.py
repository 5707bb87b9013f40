"""Why do near vehicle pixels above the horizon read x2 too far on the val world? (issue 11 probe; val world only.)
The shipped model on the val key frames: vehicle pixels above the horizon within 5 m, their median pred/GT by distance
(px) to the vehicle's outline, and the worst view as image / GT / prediction (log colour scale 0.5-80 m). From training/:
python results/horizon_mix/near_vehicle_probe.py  (writes results/horizon_mix/near_vehicle_example.png)"""
import numpy as np, cv2
from fsmde_train.data import SurroundDataset
from fsmde_train.data.surround import SEMANTIC_CLASSES
from fsmde_train.eval.cli import model_predictor
net, man = model_predictor("../models/fsmde_student", "onnxruntime")
hw, f = (man["input"]["height"], man["input"]["width"]), man["canonical_focal_px"]
geom = tuple(man["input"]["geometry"]["channels"])
ds = SurroundDataset("../data/weights/val", "v1.0-synth", None, hw, f, sweeps=False, gt="dense", progress=False, geometry_inputs=geom)
V = SEMANTIC_CLASSES.index("vehicle")
best = []
edge_d = []; ratios = []
for i in range(len(ds)):
    b = ds[i]; fs = b["focal_scale"].numpy()[:, None, None]
    p = net(b["image"])[:, 0].numpy() * fs
    gt, sem = b["depth_dense"][:, 0].numpy(), b["semantic"].numpy()
    above = b["image"][:, 3].numpy() <= 0
    sel = (sem == V) & above & (gt > 0.5) & (gt < 5) & np.isfinite(p)
    for c in range(6):
        s = sel[c]
        if s.sum() < 1: continue
        # distance (px) of each pixel to the nearest pixel outside the vehicle pixels within 6 m
        g = gt[c]
        far = ~((sem[c] == V) & (g < 6)) 
        dist = cv2.distanceTransform((~far).astype(np.uint8), cv2.DIST_L2, 3)
        edge_d.extend(dist[s].tolist()); ratios.extend((p[c][s] / g[s]).tolist())
        best.append((int(s.sum()), i, c, float(np.median(p[c][s] / g[s]))))
edge_d, ratios = np.array(edge_d), np.array(ratios)
for lo, hi in ((0, 2), (2, 4), (4, 8), (8, 100)):
    m = (edge_d > lo) & (edge_d <= hi)
    if m.sum(): print(f"distance to the vehicle's edge {lo}-{hi} px: {m.sum()} px, median pred/GT x{np.median(ratios[m]):.2f}")
best.sort(reverse=True); print(best[:8])
n, i, c, r = best[0]
b = ds[i]; fs = b["focal_scale"].numpy()[c]
p = net(b["image"])[c, 0].numpy() * fs; gt = b["depth_dense"][c, 0].numpy()
mean = np.array(man["input"]["mean"]).reshape(3,1,1); std = np.array(man["input"]["std"]).reshape(3,1,1)
rgb = ((b["image"][c, :3].numpy() * std + mean).clip(0, 1).transpose(1, 2, 0) * 255).astype(np.uint8)
def col(d): d = np.nan_to_num(np.log(np.clip(d, 0.5, 80)) / np.log(80) * 255).astype(np.uint8); return cv2.cvtColor(cv2.applyColorMap(d, cv2.COLORMAP_TURBO), cv2.COLOR_BGR2RGB)
out = np.concatenate([rgb, col(gt), col(p)], 1)
cv2.imwrite("results/horizon_mix/near_vehicle_example.png", cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
