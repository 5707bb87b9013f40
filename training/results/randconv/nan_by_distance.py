"""Where do the runs' extra surface NaN sit? Share of val-world pixels with a surface (dense GT) that the exported
model leaves NaN, by dense-GT distance band. python results/randconv/nan_by_distance.py EXPORT... (from training/)."""
import sys

import numpy as np
import torch

from fsmde_train.data.surround import SurroundDataset
from fsmde_train.export.load import load_exported_student
from fsmde_train.networks.student import DepthOnly

BANDS = (0.0, 5.0, 10.0, 20.0, 40.0, 80.0, 1e9)


def val_world(export: str):
    """The exported student and the val world's key frames with dense GT, prepared as its manifest says."""
    net, man = load_exported_student(export)
    hw = (man["input"]["height"], man["input"]["width"])
    return net, SurroundDataset("../data/weights/val", "v1.0-synth", input_hw=hw,
                                canonical_focal_px=man["canonical_focal_px"], sweeps=False, gt="dense", progress=False,
                                mean=man["input"]["mean"], std=man["input"]["std"],
                                geometry_inputs=tuple(man["input"]["geometry"]["channels"]))


for export in sys.argv[1:] if __name__ == "__main__" else ():
    net, ds = val_world(export)
    nan, tot = np.zeros(len(BANDS) - 1), np.zeros(len(BANDS) - 1)
    for i in range(len(ds)):
        b = ds[i]
        with torch.inference_mode():
            d = DepthOnly(net)(b["image"]).numpy()[:, 0]
        g = b["depth_dense"].numpy()[:, 0]
        for k, (lo, hi) in enumerate(zip(BANDS[:-1], BANDS[1:])):
            m = (g > lo) & (g <= hi)
            nan[k] += np.isnan(d[m]).sum()
            tot[k] += m.sum()
    print(export, " | ".join(f"{lo:g}-{hi:g} m: {100 * n / max(t, 1):.2f} % of {t / tot.sum() * 100:.0f} %"
                             for lo, hi, n, t in zip(BANDS[:-1], BANDS[1:], nan, tot)))
