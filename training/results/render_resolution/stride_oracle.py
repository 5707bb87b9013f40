"""The output-stride oracle of results/render_resolution/PLAN.md: the val world's dense GT average-pooled to stride
1/2/4 (in depth or in inverse depth) and upsampled bilinearly as the student's output is, scored by distance band
(AbsRel / median pred/GT). Does the output resolution alone read far structure near? From training/:
python results/render_resolution/stride_oracle.py"""
import numpy as np
import torch
import torch.nn.functional as F

from fsmde_train.data.surround import SurroundDataset
from fsmde_train.eval.protocol import DISTANCE_BINS, LOG_RATIO_EDGES, _by_distance, _hist_median_ratio

ds = SurroundDataset("../data/weights/val", "v1.0-synth", input_hw=(128, 224), sweeps=False, gt="dense", progress=False)
for stride in (1, 2, 4):
    for space in ("depth", "inverse depth"):
        acc = [[0.0, 0] for _ in range(len(DISTANCE_BINS) - 1)]
        hist = np.zeros((len(DISTANCE_BINS) - 1, len(LOG_RATIO_EDGES) - 1), np.int64)
        for i in range(0, len(ds), 2):
            g = ds[i]["depth_dense"]  # [N_cam, 1, H, W], 0 = sky
            x = torch.where(g > 0, g, torch.full_like(g, 200.0))
            x = 1 / x if space == "inverse depth" else x
            low = F.avg_pool2d(x, stride) if stride > 1 else x
            up = F.interpolate(low, size=g.shape[-2:], mode="bilinear", align_corners=False)
            up = 1 / up if space == "inverse depth" else up
            for j in range(g.shape[0]):
                _by_distance(up[j, 0].numpy(), g[j, 0].numpy(), 1e-3, 200.0, acc, hist)
        print(f"stride {stride}, {space}: " + "  ".join(
            f"{lo:g}-{hi:g} m {a / n:.3f} / x{_hist_median_ratio(h):.2f}"
            for lo, hi, (a, n), h in zip(DISTANCE_BINS, DISTANCE_BINS[1:], acc, hist)))
