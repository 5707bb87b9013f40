"""Train the road head on the shipped student's frozen decoder features (results/road_fit/PLAN.md): BCE on the
training world's road label, photometric augmentation as in training. From training/:
python results/road_fit/train_road_head.py [--steps 1500] [--seed 0]  -> results/road_fit/road_head.pt"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from common import load_student, make_head  # noqa: E402

from fsmde_train.data import SurroundDataset  # noqa: E402
from fsmde_train.data.augment import photometric  # noqa: E402
from fsmde_train.data.surround import SEMANTIC_CLASSES, SEMANTIC_IGNORE  # noqa: E402
from fsmde_train.engine.config import resolve_scenes  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--steps", type=int, default=1500)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--out", default="results/road_fit/road_head.pt")
a = ap.parse_args()
torch.manual_seed(a.seed)
torch.set_num_threads(2)
net, cfg = load_student()
d = cfg["data"]
ds = SurroundDataset(d["root"], d["version"], resolve_scenes(d["train_scenes"], Path(".")), tuple(d["input_hw"]),
                     d["canonical_focal_px"], d["sweeps"], d["gt"], d["lidar_sweeps"], True,
                     depth_dtype=np.float16 if d["sweeps"] else np.float32, cache_dir=d["cache_dir"],
                     cameras=tuple(d["cameras"]), mean=net.cfg.mean, std=net.cfg.std,
                     geometry_inputs=net.cfg.geometry_inputs, lidar_objects=d["lidar_objects"])
ROAD = SEMANTIC_CLASSES.index("road")
frac = float((ds.semantic == ROAD).mean())
print(f"{len(ds)} sets; road {100 * frac:.1f} % of pixels, unlabelled {100 * (ds.semantic == SEMANTIC_IGNORE).mean():.1f} %")
if frac == 0:
    raise SystemExit(f"{ds.root}: no road label in its material maps")
head = make_head(net)
opt = torch.optim.Adam(head.parameters(), 1e-3)
gen = torch.Generator().manual_seed(a.seed)
t0 = time.time()
for step in range(a.steps):
    picks = torch.randint(len(ds), (2,), generator=gen).tolist()
    sets = [ds[i] for i in picks]
    x = torch.cat([s["image"] for s in sets])
    sem = torch.cat([s["semantic"] for s in sets])
    x = photometric(x, net.cfg.mean, net.cfg.std, gen, 1.0)
    with torch.no_grad():
        feats = net(x)["features"]
    logit = head(feats, x)[:, 0]
    lab = sem != SEMANTIC_IGNORE
    loss = F.binary_cross_entropy_with_logits(logit[lab], (sem[lab] == ROAD).float())
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 100 == 0 or step == a.steps - 1:
        with torch.no_grad():
            acc = ((logit[lab] > 0) == (sem[lab] == ROAD)).float().mean()
        print(f"step {step}: BCE {loss.item():.4f} accuracy {acc.item():.4f} ({time.time() - t0:.0f} s)", flush=True)
torch.save({"head": head.state_dict(), "steps": a.steps, "seed": a.seed}, a.out)
print("wrote", a.out)
