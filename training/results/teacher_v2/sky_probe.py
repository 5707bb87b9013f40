"""How much of the world does a learned teacher read as sky? (results/teacher_v2; a probe, nothing trained)

For each view of 24 camera sets: the teacher's relative output is fitted to the sparse LiDAR (as fsmde-teacher-eval
does); pixels whose dense GT is 0.5-80 m are split by GT band, and we count those the fit puts beyond 2x their GT
("read far") or inside 1/2 of it ("read near").

    python results/teacher_v2/sky_probe.py --teacher ../data/teacher/learned-v2 --data-root ../data/weights/val
"""
import argparse
import json

import torch

from fsmde_train.data import SurroundDataset
from fsmde_train.eval.teacher_eval import BANDS
from fsmde_train.losses.distill import align_to_metric
from fsmde_train.networks.teacher import TeacherConfig, build_teacher


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--teacher", required=True)
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--sets", type=int, default=24)
    a = ap.parse_args()
    teacher = build_teacher(TeacherConfig(kind="learned", model=a.teacher))
    ds = SurroundDataset(a.data_root, "v1.0-synth", None, (128, 224), sweeps=True, gt="lidar", progress=False)
    stride = max(1, len(ds) // a.sets)
    far = {b: [0, 0] for b in BANDS}
    near = {b: [0, 0] for b in BANDS}
    for i in range(0, stride * a.sets, stride):
        b = ds[i]
        with torch.no_grad():
            out = teacher(b["image"][:, :3], {"n_cam": 6})
        fitted, ok = align_to_metric(out["rel"], b["depth"], 0.5, 100.0)
        gt = b["depth_dense"]
        for v in range(gt.shape[0]):
            if not bool(ok[v]):
                continue
            for lo, hi in BANDS:
                m = (gt[v] > lo) & (gt[v] < hi)
                p, g = fitted[v][m], gt[v][m]
                far[(lo, hi)][0] += int((p > 2 * g).sum())
                near[(lo, hi)][0] += int((p < 0.5 * g).sum())
                far[(lo, hi)][1] += int(m.sum())
                near[(lo, hi)][1] += int(m.sum())
    rows = {f"{lo:g}-{hi:g} m": {"read_far_2x": far[(lo, hi)][0] / max(1, far[(lo, hi)][1]),
                                 "read_near_half": near[(lo, hi)][0] / max(1, near[(lo, hi)][1]),
                                 "pixels": far[(lo, hi)][1]} for lo, hi in BANDS}
    print(json.dumps({"teacher": a.teacher, "world": a.data_root, "bands": rows}, indent=1))


if __name__ == "__main__":
    main()
