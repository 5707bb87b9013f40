"""Where are KITTI's LiDAR points nearer than 5 m, and what do VB4-VB6 and AJ4-AJ6 predict there?

python results/aspect_jitter_confirm/kitti_near.py [--real ../../shared/real]   (from training/; needs the exports
under runs/aspect_jitter_confirm/<run>/export, i.e. this machine's runs). Prints per view the near points' count,
image rows (bottom = 1.0) and columns, and each series' median pred/GT there; writes kitti_near.png (the image with
the near points, and each series' mean pred/GT per point). Evaluation-only frames: nothing here tunes anything.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
SERIES = {"VB": ("VB4", "VB5", "VB6"), "AJ": ("AJ4", "AJ5", "AJ6")}


def main() -> int:
    from fsmde_train.data.real import load_real
    from fsmde_train.eval.cli import model_predictor
    from fsmde_train.eval.real import evaluate_real

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", default="../../shared/real")
    a = ap.parse_args()
    views = load_real(a.real)["kitti"]
    ratios, arrays = {}, None
    for series, runs in SERIES.items():
        per_run = []
        for run in runs:
            pred, man = model_predictor(str(Path("runs/aspect_jitter_confirm") / run / "export"), "torch")
            res = evaluate_real(pred, man, views, progress=False)
            arrays = res["arrays"]
            per_run.append([v["pred"] / np.where(v["gt"] > 0, v["gt"], np.nan) for v in arrays])
        ratios[series] = [np.nanmean(np.stack([r[i] for r in per_run]), 0) for i in range(len(views))]
    print("| view | points < 5 m | rows (0 top, 1 bottom) | columns (0 left, 1 right) | "
          + " | ".join(f"{s} median pred/GT" for s in SERIES) + " |\n|---|---:|---|---|" + "---:|" * len(SERIES))
    for i, (v, arr) in enumerate(zip(views, arrays)):
        near = (arr["gt"] > 0.5) & (arr["gt"] < 5.0)
        if not near.any():
            continue
        r, c = np.nonzero(near)
        h, w = near.shape
        print(f"| {v.frame} {v.camera} | {near.sum()} | {r.min() / h:.2f}–{r.max() / h:.2f} | {c.min() / w:.2f}–"
              f"{c.max() / w:.2f} | " + " | ".join(f"{np.nanmedian(ratios[s][i][near]):.2f}" for s in SERIES) + " |")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    i = int(np.argmax([((v["gt"] > 0.5) & (v["gt"] < 5.0)).sum() for v in arrays]))
    near = (arrays[i]["gt"] > 0.5) & (arrays[i]["gt"] < 5.0)
    r, c = np.nonzero(near)
    fig, ax = plt.subplots(1, 1 + len(SERIES), figsize=(5 * (1 + len(SERIES)), 3.2))
    ax[0].imshow(arrays[i]["rgb"])
    ax[0].scatter(c, r, s=2, c="cyan")
    ax[0].set_title(f"{views[i].frame}: LiDAR < 5 m")
    for k, s in enumerate(SERIES, 1):
        ax[k].imshow(arrays[i]["rgb"], alpha=0.5)
        sc = ax[k].scatter(c, r, s=3, c=ratios[s][i][near], cmap="coolwarm", vmin=0.5, vmax=1.5)
        ax[k].set_title(f"{s}4–{s}6 mean pred/GT")
        fig.colorbar(sc, ax=ax[k])
    for x in ax:
        x.axis("off")
    fig.tight_layout()
    fig.savefig(HERE / "kitti_near.png", dpi=80)
    print(f"wrote {HERE / 'kitti_near.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
