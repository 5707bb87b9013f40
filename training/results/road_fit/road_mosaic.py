"""The road head's mask on real frames, by eye (evaluation only; kept out of git: it shows ../shared/real images).
From training/: python results/road_fit/road_mosaic.py [--real ../../shared/real] -> results/road_fit/out/real/mosaic_road.png
Green: road head says road; red dots: LiDAR points within 5 % of the flat-ground depth (road by geometry)."""
import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import load_student, make_head  # noqa: E402

from fsmde_train.data.real import load_real  # noqa: E402
from fsmde_train.data.surround import scale_K  # noqa: E402
from fsmde_train.eval.real import ground_prior, load_image  # noqa: E402
from fsmde_train.geometry import camera_channels  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--real", default="../../shared/real")
ap.add_argument("--head", default="results/road_fit/road_head.pt")
a = ap.parse_args()
net, cfg = load_student()
head = make_head(net)
head.load_state_dict(torch.load(a.head)["head"])
head.eval()
hw, focal = tuple(cfg["data"]["input_hw"]), cfg["data"]["canonical_focal_px"]
mean = np.asarray(net.cfg.mean, np.float32).reshape(3, 1, 1)
std = np.asarray(net.cfg.std, np.float32).reshape(3, 1, 1)
tiles = []
for ds, vs in load_real(a.real).items():
    for v in vs[:6]:
        rgb = load_image(v.image_path, hw)
        K = scale_K(v.K, v.size, (hw[1], hw[0]))
        x = np.concatenate([(rgb.transpose(2, 0, 1).astype(np.float32) / 255.0 - mean) / std,
                            camera_channels(K, v.T_vehicle_cam, hw, focal, net.cfg.geometry_inputs)])[None]
        with torch.inference_mode():
            xt = torch.from_numpy(x.astype(np.float32))
            r = torch.sigmoid(head(net(xt)["features"], xt))[0, 0].numpy()
        t = rgb.copy()
        t[r > 0.5] = (0.5 * t[r > 0.5] + [0, 127, 0]).astype(np.uint8)
        gt = v.gt_depth(hw)
        g = ground_prior(K, v.T_vehicle_cam, hw, np.nan, 200.0)
        on = (gt > 0) & np.isfinite(g) & (np.abs(g / np.maximum(gt, 1e-6) - 1) < 0.05)
        t[on] = (255, 0, 0)
        tiles.append(t)
while len(tiles) % 4:
    tiles.append(np.zeros_like(tiles[0]))
rows = [np.concatenate(tiles[i:i + 4], 1) for i in range(0, len(tiles), 4)]
out = Path("results/road_fit/out/real/mosaic_road.png")
out.parent.mkdir(parents=True, exist_ok=True)
cv2.imwrite(str(out), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))
print("wrote", out)
