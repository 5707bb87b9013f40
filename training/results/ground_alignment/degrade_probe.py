"""Does the synthetic road read squeezed once its texture looks like a real camera's? (issue 11 probe; val world,
evaluation only.) The shipped model on the val world's key frames with the RGB blurred (Gaussian sigma in network
pixels), down- and up-sampled by a factor, or its contrast scaled, or mid-grey above the horizon, or the real nuScenes key frame's same camera above the horizon; AbsRel (0.5-80 m) and median pred/GT per band for
the road (GT within 5 % of the flat-ground depth) and all pixels. From training/:
python results/ground_alignment/degrade_probe.py [MODEL_EXPORT_DIR (default ../models/fsmde_student)] [KIND ...]"""
import sys
import numpy as np, torch, torch.nn.functional as F
from fsmde_train.data import SurroundDataset
from fsmde_train.eval.cli import model_predictor
from fsmde_train.geometry import GROUND_SCALE
net, man = model_predictor(sys.argv[1] if len(sys.argv) > 1 else "../models/fsmde_student", "onnxruntime")
hw, f = (man["input"]["height"], man["input"]["width"]), man["canonical_focal_px"]
geom = tuple(man["input"]["geometry"]["channels"])
ds = SurroundDataset("../data/weights/val", "v1.0-synth", None, hw, f, sweeps=False, gt="dense", progress=False, geometry_inputs=geom)
sets = [ds[i] for i in range(len(ds))]
bands = [0.5, 5, 10, 20, 40, 80]
def blur(x, s):
    r = int(3 * s) + 1; t = torch.arange(-r, r + 1).float(); k = torch.exp(-0.5 * (t / s) ** 2); k /= k.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
mean = torch.tensor(man["input"]["mean"]).view(1, 3, 1, 1); std = torch.tensor(man["input"]["std"]).view(1, 3, 1, 1)
def degrade(x, kind, v):
    x = x.clone(); rgb = x[:, :3] * std + mean
    if kind == "blur": rgb = blur(rgb, v)
    if kind == "contrast": m = rgb.mean((1, 2, 3), keepdim=True); rgb = m + (rgb - m) * v
    if kind == "real_above":  # the real nuScenes key frame's same camera where the ray does not meet the road
        rgb = torch.where(x[:, 3:4] <= 0, real_rgb, rgb)
    if kind == "grey_above":  # mid-grey where the ray does not meet the road, as road_ratio.py --grey-above-horizon
        rgb = torch.where(x[:, 3:4] <= 0, mean.expand_as(rgb), rgb)
    if kind == "down": h, w = rgb.shape[-2:]; rgb = F.interpolate(F.interpolate(rgb, scale_factor=1 / v, mode="area"), size=(h, w), mode="bilinear", align_corners=False)
    x[:, :3] = (rgb - mean) / std; return x
from fsmde_train.data.real import load_real  # noqa: E402
from fsmde_train.eval.real import load_image  # noqa: E402
RIG = ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_FRONT_LEFT")
real_views = sorted(load_real("../../shared/real")["nuscenes"], key=lambda v: RIG.index(v.camera))
real_rgb = torch.from_numpy(np.stack([load_image(v.image_path, hw).transpose(2, 0, 1) for v in real_views])
                            .astype(np.float32) / 255)
KINDS = [("none", 0), ("blur", 0.7), ("blur", 1.5), ("down", 2), ("down", 3), ("contrast", 0.6), ("grey_above", 0),
         ("real_above", 0)]
for kind, v in [kv for kv in KINDS if len(sys.argv) < 3 or kv[0] in sys.argv[2:]]:
    logs = {(k, lo): [] for k in ("road", "all") for lo in bands[:-1]}; err = n = 0
    for b in sets:
        x = degrade(b["image"], kind, v) if kind != "none" else b["image"]
        p = net(x)[:, 0].numpy() * b["focal_scale"].numpy()[:, None, None]
        gt = b["depth_dense"][:, 0].numpy(); fs = b["focal_scale"].numpy()[:, None, None]
        g = GROUND_SCALE / np.maximum(b["image"][:, 3].numpy(), 1e-6) * fs
        m = (gt > 0.5) & (gt < 80) & np.isfinite(p)
        err += np.sum(np.abs(p[m] - gt[m]) / gt[m]); n += m.sum()
        road = m & (np.abs(g / np.maximum(gt, 1e-6) - 1) < 0.05)
        for lo, hi in zip(bands[:-1], bands[1:]):
            for k, sel in (("road", road), ("all", m)):
                s = sel & (gt >= lo) & (gt < hi); logs[(k, lo)].extend(np.log(p[s] / gt[s]).tolist())
    print(f"{kind} {v}: AbsRel {err / n:.3f}  " + "  ".join(f"{k} " + " ".join(f"x{np.exp(np.median(logs[(k, lo)])):.2f}" for lo in bands[:-1]) for k in ("road", "all")))
