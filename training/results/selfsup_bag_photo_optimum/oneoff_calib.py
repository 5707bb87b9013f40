"""(One-off, kept so its numbers in RESULTS.md can be re-run from training/:
    python results/selfsup_bag_photo_optimum/oneoff_calib.py RUN WORLD 4 calib|none 4x10,2x8,1x6)
Feasibility: per-camera depth scale k_c from the SPATIAL photometric term alone (metric baselines, no GT), per
sample, then the pose module (network + alignment) through depth * k_c. Compare with no calibration."""
import sys, numpy as np, torch
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))  # training/
from fsmde_train.data import SurroundDataset
from fsmde_train.data.sequence import SurroundSequence
from fsmde_train.eval.pose_eval import load_pose_run, motion_errors, summarise, parse_align
from fsmde_train.eval.cli import load_run
from fsmde_train.losses.photometric import surround_warps, downsample, photometric_error
torch.set_num_threads(1)
run, root, every, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
net, cfg = load_pose_run(run); student = load_run(run)[0]
d, m = cfg["data"], cfg["model"]
base = SurroundDataset(root, "v1.0-synth", None, tuple(d["input_hw"]), d["canonical_focal_px"], sweeps=True,
                       gt="dense", cameras=d["cameras"], mean=m["mean"], std=m["std"], cache_dir=d.get("cache_dir"),
                       geometry_inputs=tuple(m.get("geometry_inputs", ())))
seq = SurroundSequence(base)
class Sub:
    def __init__(s, seq, idx): s.seq, s.idx = seq, idx; s.base = seq.base; s.triples = [seq.triples[i] for i in idx]
    def __len__(s): return len(s.idx)
    def __getitem__(s, k): return s.seq[s.idx[k]]
sub = Sub(seq, list(range(0, len(seq), every)))
mean = torch.tensor(m["mean"]).view(1, 3, 1, 1); std = torch.tensor(m["std"]).view(1, 3, 1, 1)
S = np.round(np.arange(0.80, 1.2001, 0.025), 4)
ks = []
def spatial_curve(img, dep, K, T):
    out = np.zeros((len(S), 6))
    for si, sc in enumerate(S):
        for f in (1, 2, 4, 8):
            im, dp, Kd = downsample(img, dep * sc, K, f)
            w = surround_warps(im, dp, Kd, T)
            tgt = w["target"]; big = torch.full_like(tgt[:, :1], 1e4)
            errs = torch.cat([torch.where(v, photometric_error(x, tgt), big) for x, v in w["spatial"]], 1)
            best = errs.min(1, keepdim=True).values; mask = best < big
            for c in range(6):
                out[si, c] += (best[c][mask[c]].mean().item() if mask[c].any() else 0.0)
    return out
def argmin_parabola(y):
    i = int(np.clip(np.argmin(y), 1, len(y) - 2))
    a, b, c = y[i - 1], y[i], y[i + 1]; den = a - 2 * b + c
    off = 0.5 * (a - c) / den if den > 1e-12 else 0.0
    return float(S[i] + np.clip(off, -1, 1) * (S[1] - S[0]))
def depth_fn(s):
    with torch.no_grad():
        dep = (student(s["image"][1])["depth"] * s["focal_scale"].view(-1, 1, 1, 1))[None]
        if mode == "calib":
            img = torch.stack([(s["image"][f][:, :3] * std + mean).clamp(0, 1) for f in range(3)])[None]
            T = s["T_ref_cam"][None]  # each camera at its own exposure (the world's intra-set motion: ~0.3 m)
            curve = spatial_curve(img, dep, s["K"][None], T)
            k = np.array([argmin_parabola(curve[:, c]) for c in range(6)])
            ks.append(k)
            dep = dep * torch.tensor(k, dtype=dep.dtype).view(1, 6, 1, 1, 1)
    return dep
res = summarise(motion_errors(net, sub, depth_fn=depth_fn, align=parse_align(sys.argv[5]), progress=False), 0.1)
print(mode, run, root, sys.argv[5], "t_err", round(res["translation_error_pct"]["median"], 2), "len",
      round(res["length_ratio"]["median"], 3), {k: (round(v["translation_error_pct_median"], 1), round(v["length_ratio_median"], 3)) for k, v in res["per_scene"].items()})
if ks:
    K_ = np.array(ks); print("k per camera median", np.round(np.median(K_, 0), 3), "IQR", np.round(np.quantile(K_, 0.75, 0) - np.quantile(K_, 0.25, 0), 3))
