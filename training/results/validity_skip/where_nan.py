"""Where in the image are the surface pixels a model leaves NaN? For each export: the share of val-world surface
pixels left NaN, by how far the pixel is (in the image) from the nearest sky pixel, and one mosaic of the camera sets
with the most such pixels (red: surface left NaN, blue: sky given a depth). Also how many of the NaN surface pixels
more than 16 px from the sky are near-white (every channel >= 0.9 after the camera's gain and clipping), against all
surface pixels that far from the sky.
python results/validity_skip/where_nan.py OUT.png EXPORT... (from training/)."""
import sys
from pathlib import Path

import matplotlib
import numpy as np
import torch
from scipy.ndimage import distance_transform_edt

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent.parent / "randconv"))
from nan_by_distance import val_world  # noqa: E402

from fsmde_train.networks.student import DepthOnly  # noqa: E402

RINGS = (0, 2, 4, 8, 16, 1e9)  # pixels from the nearest sky pixel (input resolution)


def main(out: str, exports: list[str]) -> None:
    fig, axes = plt.subplots(len(exports), 1, figsize=(12, 2.4 * len(exports)), squeeze=False)
    for ax, export in zip(axes[:, 0], exports):
        net, ds = val_world(export)
        nan, tot, worst = np.zeros(len(RINGS) - 1), np.zeros(len(RINGS) - 1), (-1, None)
        white = np.zeros(2)  # near-white among [lost inner surface, all inner surface]
        inner_n = np.zeros(2)
        mean, std = np.array(ds.mean).reshape(1, 3, 1, 1), np.array(ds.std).reshape(1, 3, 1, 1)
        for i in range(len(ds)):
            b = ds[i]
            with torch.inference_mode():
                d = DepthOnly(net)(b["image"]).numpy()[:, 0]
            g = b["depth_dense"].numpy()[:, 0]
            bright = (b["image"][:, :3].numpy() * std + mean).min(1) >= 0.9  # [V, H, W]
            for v in range(len(g)):
                sky = g[v] <= 0
                far = distance_transform_edt(~sky) if sky.any() else np.full(sky.shape, 1e9)
                lost = np.isnan(d[v]) & ~sky
                for k, (lo, hi) in enumerate(zip(RINGS[:-1], RINGS[1:])):
                    m = ~sky & (far > lo) & (far <= hi)
                    nan[k] += lost[m].sum()
                    tot[k] += m.sum()
                inner = ~sky & (far > RINGS[-2])
                for j, m in enumerate((inner & lost, inner)):
                    white[j] += (m & bright[v]).sum()
                    inner_n[j] += m.sum()
                if lost.sum() > worst[0]:
                    worst = (int(lost.sum()), (b, v, lost, sky & ~np.isnan(d[v])))
        print(export, " | ".join(f"{lo:g}-{hi:g} px from sky: {100 * n / max(t, 1):.2f} % of {100 * t / tot.sum():.0f} %"
                                 for lo, hi, n, t in zip(RINGS[:-1], RINGS[1:], nan, tot)),
              f"| near-white: {100 * white[0] / max(inner_n[0], 1):.0f} % of the NaN inner surface, "
              f"{100 * white[1] / max(inner_n[1], 1):.0f} % of all inner surface")
        b, v, lost, sky_kept = worst[1]
        rgb = np.clip(b["image"][v, :3].numpy() * std[0] + mean[0], 0, 1).transpose(1, 2, 0).copy()
        rgb[lost] = (1, 0, 0)
        rgb[sky_kept] = (0, 0, 1)
        ax.imshow(rgb)
        ax.set_title(f"{export}: the view with the most surface NaN ({lost.sum()} px red; sky given depth blue)",
                     fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print("wrote", out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
