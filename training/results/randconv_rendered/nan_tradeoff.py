"""Is randconv's surface-NaN cost a shifted logit or a blurred sky boundary? The validity logit's trade-off on the
val world (the world for choices): sky / surface NaN when the cut is moved from 0, and the surface NaN at the cut that
leaves 98 % of the sky NaN. python results/randconv_rendered/nan_tradeoff.py EXPORT... (from training/)."""
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent.parent / "randconv"))
from nan_by_distance import val_world  # noqa: E402

CUTS = (-1.0, -0.5, 0.0, 0.5, 1.0)

for export in sys.argv[1:]:
    net, ds = val_world(export)
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
