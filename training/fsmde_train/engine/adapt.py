"""fsmde-adapt: fine-tune an exported model on your own camera bags with the self-supervised terms, and export it.

    fsmde-adapt BAG [BAG ...] --model ../models/fsmde_student --out ../models/my_car [--steps 200] [--pose-net]
                [--eval-root ROOT --eval-gt dense|lidar]
    fsmde-adapt --kitti ../shared/real/kitti_raw_tiny --model ../models/fsmde_student --out ../out/kitti_tta

``--kitti`` adapts on a KITTI raw drive as a stereo rig (left + right, oxts ego motion) and evaluates before and
after against its LiDAR, which training never reads: test-time adaptation on the same frames, reported as such.

The model's own training config (in its manifest) gives the network and the input; the run is that config
with the photometric terms (temporal, spatial through the rig's extrinsics, smoothness) instead of the
supervised and distillation terms: no depth GT is read from the bags. The ego motion comes from each bag's
/tf (or, with ``--pose-net``, from the surround pose network). Checkpoints and TensorBoard go to
``<out>.run``; the adapted model is exported to ``<out>``. With ``--eval-root`` (a nuScenes-format folder
with GT) the model is evaluated before and after and both are printed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..data.kitti_seq import KITTI_CAMERAS


def adapt_config(bags, model_dir, out, steps: int, lr: float, pose_net: bool, batch_size: int = 1, kitti=None,
                 photo_scales=(1,), photo_scale_mode: str = "pyramid"):
    from ..export.load import load_exported_student
    from .config import load_config

    net, man = load_exported_student(model_dir)
    trained = man["training"]["config"]
    overrides = {
        "name": man.get("name", "fsmde_student"), "out_dir": str(Path(out).with_name(Path(out).name + ".run")),
        "export_dir": str(out), "init_from": str(model_dir), "pose_net": pose_net, "seed": trained.get("seed", 0),
        "model": trained["model"], "teacher": {"kind": "none"},
        "loss": {"silog": 0.0, "bins": 0.0, "plain_kd": 0.0, "ci_kd": 0.0, "vr_kd": 0.0, "validity": 0.0,
                 "photo_temporal": 1.0, "photo_spatial": 1.0, "smooth": 0.001,
                 "photo_scales": [int(f) for f in photo_scales], "photo_scale_mode": photo_scale_mode},
        "data": {"bags": [str(b) for b in bags] or None, "kitti": str(kitti) if kitti else None, "sequence": True,
                 "augment": 0.0, "val_root": None, "input_hw": [man["input"]["height"], man["input"]["width"]],
                 "canonical_focal_px": man["canonical_focal_px"],
                 "cameras": list(KITTI_CAMERAS) if kitti else list(man.get("cameras") or trained["data"]["cameras"])},
        "optim": {"steps": steps, "batch_size": batch_size, "lr": lr, "warmup_steps": min(20, steps // 5)},
        "checkpoint_every": max(1, min(100, steps)), "log_every": max(1, min(20, steps)),
    }
    return load_config(None, overrides)


def _evaluate(model_dir, root, version, gt):
    from ..data import SurroundDataset
    from ..eval.protocol import evaluate, torch_predictor
    from ..export.load import load_exported_student

    net, man = load_exported_student(model_dir)
    ds = SurroundDataset(root, version, None, (man["input"]["height"], man["input"]["width"]),
                         man["canonical_focal_px"], sweeps=False, gt="lidar" if gt == "lidar" else "dense",
                         progress=False, geometry_inputs=net.cfg.geometry_inputs)
    return evaluate(torch_predictor(net), ds, gt=gt, progress=False)["nuscenes"]["scale_aware"]["mean"]


def _evaluate_kitti(model_dir, root):
    """Scale-aware metrics against the drive's LiDAR (both cameras, every frame), through fsmde-eval --real."""
    from ..data.real import load_kitti_raw
    from ..eval.real import evaluate_real
    from ..export.load import load_exported_student
    from ..networks.student import DepthOnly

    net, man = load_exported_student(model_dir)
    views = [v for c in KITTI_CAMERAS for v in load_kitti_raw(root, c)]
    res = evaluate_real(DepthOnly(net.eval()), man, views, progress=False)
    m = res["per_dataset"]["kitti"]["model"]
    return {**{k: float(m["scale_aware"][k]) for k in ("abs_rel", "d1", "rmse")},
            "median_ratio": float(m["median_ratio"])}


def main(argv=None) -> int:
    from .trainer import train

    ap = argparse.ArgumentParser(prog="fsmde-adapt", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bags", nargs="*", help="rosbag2 folders of the rig (image + camera_info topics, /tf_static)")
    ap.add_argument("--kitti", help="a KITTI raw folder instead (stereo rig, oxts motion; LiDAR for before/after only)")
    ap.add_argument("--model", required=True, help="exported model folder to start from (manifest.json)")
    ap.add_argument("--out", required=True, help="folder for the adapted model (checkpoints in <out>.run)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--photo-scales", type=int, nargs="+", default=[1],
                    help="downsampling factors the photometric terms average over (loss.photo_scales), e.g. 1 2 4 8")
    ap.add_argument("--photo-scale-mode", default="pyramid", choices=["pyramid", "upsample"],
                    help="loss.photo_scale_mode for --photo-scales")
    ap.add_argument("--pose-net", action="store_true", help="the bags have no /tf: learn the ego motion")
    ap.add_argument("--eval-root", help="nuScenes-format folder with GT: AbsRel before and after")
    ap.add_argument("--eval-version", default="v1.0-synth")
    ap.add_argument("--eval-gt", default="dense", choices=["dense", "lidar"])
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    if bool(a.bags) == bool(a.kitti):
        ap.error("give rosbag2 folders or --kitti ROOT (one of them)")
    evaluate = (lambda m: _evaluate_kitti(m, a.kitti)) if a.kitti else (
        (lambda m: _evaluate(m, a.eval_root, a.eval_version, a.eval_gt)) if a.eval_root else None)
    try:
        cfg = adapt_config(a.bags, a.model, a.out, a.steps, a.lr, a.pose_net, kitti=a.kitti,
                           photo_scales=a.photo_scales, photo_scale_mode=a.photo_scale_mode)
        before = evaluate(a.model) if evaluate else None
        train(cfg, progress=not a.quiet)
        after = evaluate(a.out) if evaluate else None
    except (ValueError, OSError) as e:
        print(f"fsmde-adapt: error: {e}", file=sys.stderr)
        return 2
    print(f"adapted model written to {a.out}")
    if before is not None:
        for name, m in (("before", before), ("after", after)):
            where = (f"{a.kitti}: its LiDAR, the same frames it adapted on (test-time adaptation)" if a.kitti
                     else f"{a.eval_root}, GT {a.eval_gt}")
            ratio = f"  median pred/GT {m['median_ratio']:.2f}" if "median_ratio" in m else ""
            print(f"{name:>6}: AbsRel {m['abs_rel']:.3f}  δ1 {m['d1']:.3f}  RMSE {m['rmse']:.2f}{ratio}  ({where})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
