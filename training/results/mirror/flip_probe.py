"""Does the student read a scene and its mirror image alike? (issue 11: results/mirror/PLAN.md)

Every synthetic training street is right-hand traffic with the ego car in the rightmost lane: the kerb, parked cars
and near façades are always on the right, the other lanes on the left. The real nuScenes key frame is Singapore
(log n015: left-hand traffic). A network that learned "right side of the picture = near" reads a mirrored image
differently from the original.

Mirroring a view's whole input (RGB and the camera-aware channels, which for a mirrored camera are the mirrored
channels) and mirroring the prediction back asks the model about the mirror world, where the traffic runs on the
other side. Per model and dataset: AbsRel of the plain input, of the mirrored input, and the mean |log| difference of
the two predictions at the LiDAR points; the same for the synthetic val world's key frames (dense GT), where the
mirror image is a left-hand-traffic street. Evaluation only; nothing is fitted.
python results/mirror/flip_probe.py MODEL_DIR [MODEL_DIR ...] (from training/)."""
import argparse
import json
import sys

import numpy as np

from fsmde_train.data.real import load_real
from fsmde_train.data.surround import SurroundDataset
from fsmde_train.eval.cli import model_predictor
from fsmde_train.eval.protocol import evaluate
from fsmde_train.eval.real import evaluate_real


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--real", default="../../shared/real")
    ap.add_argument("--val", default="../data/weights/val")
    ap.add_argument("--out", default=None, help="write the numbers as JSON here")
    a = ap.parse_args()
    views = [v for vs in load_real(a.real).values() for v in vs]
    table, datasets = {}, {}
    print("| model | dataset | AbsRel plain | AbsRel mirrored | mean abs log(plain / mirrored) at LiDAR |")
    print("|---|---|---:|---:|---:|")
    for m in a.models:
        pred, man = model_predictor(m)
        plain = evaluate_real(pred, man, views, progress=False)
        mirr = evaluate_real(lambda x: pred(x.flip(-1)).flip(-1), man, views, progress=False)
        for ds in plain["per_dataset"]:
            diffs = []
            for r, p, q in zip(plain["per_view"], plain["arrays"], mirr["arrays"]):
                if r["dataset"] != ds:
                    continue
                ok = (p["gt"] > 0) & np.isfinite(p["pred"]) & np.isfinite(q["pred"]) & (p["pred"] > 0) & (q["pred"] > 0)
                diffs.append(np.abs(np.log(p["pred"][ok] / q["pred"][ok])))
            d = float(np.concatenate(diffs).mean())
            a0 = plain["per_dataset"][ds]["model"]["scale_aware"]["abs_rel"]
            a1 = mirr["per_dataset"][ds]["model"]["scale_aware"]["abs_rel"]
            table.setdefault(m, {})[ds] = {"plain": a0, "mirrored": a1, "log_diff": d}
            print(f"| {m} | {ds} | {a0:.3f} | {a1:.3f} | {d:.3f} |")
        hw, f = (man["input"]["height"], man["input"]["width"]), man["canonical_focal_px"]
        geom = tuple(man["input"].get("geometry", {}).get("channels", ()))
        key = (hw, f, geom)
        if key not in datasets:
            datasets[key] = SurroundDataset(a.val, "v1.0-synth", None, hw, f, sweeps=False, gt="dense",
                                            progress=False, geometry_inputs=geom)
        r = [evaluate(p, datasets[key])["nuscenes"]["scale_aware"]["mean"]["abs_rel"]
             for p in (pred, lambda x: pred(x.flip(-1)).flip(-1))]
        table[m]["val"] = {"plain": r[0], "mirrored": r[1]}
        print(f"| {m} | val world (key frames) | {r[0]:.3f} | {r[1]:.3f} | |")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(table, f, indent=2)
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
