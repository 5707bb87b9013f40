"""The surround pose network's vehicle motion against a world's ego poses on a held-out sequence (issue 14).

    python -m fsmde_train.eval.pose_eval --run runs/selfsup_bag/pose_net --data-root ../data/weights/test

For every (t-1, t, t+1) triple of the world's 12 Hz camera sets, the run's pose network predicts the vehicle
motion ego(t±1) -> ego(t) from the six views; the reference is the world's ego poses at camera 0's exposures
(what a bag's /tf would say). Per motion:
- translation error |t_pred - t_gt| / |t_gt| (%), over motions of at least ``--min-motion`` metres (a standing car
  has no relative error);
- rotation error, the angle of R_pred^T R_gt (degrees);
- length ratio |t_pred| / |t_gt|: the metric scale the spatial term gave the motion.
Prints median / mean / 90th percentile of each, and writes them as JSON with ``--out``.

``--refine`` also scores the network's motion after photometric refinement through the run's own student depth
(networks/pose_refine.py: all six cameras aligned through one vehicle motion, started from the network's);
``--refine-depth gt`` uses the world's exact depth instead, which measures the refinement itself (what is left
then is not the depth's error). ``--pose-depth gt`` gives a pose network with depth input the world's exact depth
instead of its student's: what is left is the network's own error. ``--align`` scores the pose module's
direct-alignment layer (networks/pose_align.py) as the run trained it (``run``), switched off (``off``: the
regression alone) or with other (factor x iterations) levels. Results also come per scene (``--scenes`` picks
some), with the seconds a motion took (the student's depth included). ``--stride k`` scores triples (t-k, t, t+k):
k times the motion a frame at the same speed, which a network that reads the flow answers with k times its motion
and one that recognises a scene's speed from its looks does not (the length ratio falls to ~1/k).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def pose_depth_input(cfg: dict) -> str:
    """The run's pose_depth_input (a first version of the key was a bool: true meant "inverse")."""
    v = cfg.get("pose_depth_input", "none")
    return {True: "inverse", False: "none"}.get(v, v) if isinstance(v, bool) else v


def load_pose_run(run_dir):
    """(pose network with the newest checkpoint's weights, eval mode; the run's config dict)."""
    from ..engine.checkpoint import load_checkpoint
    from ..networks.pose import PoseConfig, SurroundPoseNet

    st = load_checkpoint(run_dir)
    if st is None:
        raise ValueError(f"{run_dir}: no loadable checkpoint (ckpt_*.pt + latest.json)")
    if "pose" not in st:
        raise ValueError(f"{run_dir}: the run has no pose network (trained with pose_net: false)")
    cfg = json.loads(st["config"])
    net = SurroundPoseNet(PoseConfig(n_cam=len(cfg["data"]["cameras"]), depth_input=pose_depth_input(cfg),
                                      iterations=cfg.get("pose_iterations", 1),
                                      align=tuple(tuple(x) for x in cfg.get("pose_align", ())),
                                      correlation=cfg.get("pose_correlation", 0),
                                      per_camera=cfg.get("pose_per_camera", False)))
    try:
        net.load_state_dict(st["pose"])
    except RuntimeError as e:  # a run from before the pose network's current architecture
        raise ValueError(f"{run_dir}: its pose network does not match networks/pose.py's architecture "
                         f"(retrain the run): {str(e).splitlines()[0]}") from None
    return net.eval(), cfg


def rotation_angle_deg(R: torch.Tensor) -> float:
    """Angle of a rotation matrix, by atan2 of its sine and cosine parts: arccos of the trace alone has a floor
    of ~0.02 deg on float32 poses, as large as the rotations a straight drive has."""
    w = torch.stack([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]])
    return float(torch.rad2deg(torch.atan2(w.norm() / 2, (torch.trace(R) - 1) / 2)))


class PhotometricRefiner:
    """refiner(sample, f, M) -> M refined by direct alignment of frame f to frame t through a depth of frame t:
    the student's (``student`` with the run's normalisation) or, with ``student=None``, the sample's exact dense
    depth (a synthetic world's; sky as 100 m)."""

    def __init__(self, student=None, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)):
        self.student = student
        self.mean, self.std = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
        self.errors = []  # (alignment error before, after) per call

    def depth(self, s) -> torch.Tensor:
        if self.student is None:
            if "depth_dense" not in s:
                raise ValueError("--refine-depth gt needs a world with dense depth")
            return torch.where(s["depth_dense"] > 0, s["depth_dense"], torch.full_like(s["depth_dense"], 100.0))
        with torch.no_grad():
            return self.student(s["image"][1])["depth"] * s["focal_scale"].view(-1, 1, 1, 1)

    def __call__(self, s, f: int, M: torch.Tensor) -> torch.Tensor:
        from ..networks.pose_refine import refine_motion

        rgb = [(s["image"][i][:, :3] * self.std + self.mean).clamp(0, 1) for i in (1, f)]
        r = refine_motion(rgb[0], rgb[1], self.depth(s), s["K"], s["T_ego_cam"], M)
        self.errors.append((r["error_before"], r["error_after"]))
        return r["M"]


def gt_depth_fn(s):
    """sample -> the world's exact depth of frame t [1, N, 1, H, W] (sky as 100 m): what a pose network with
    depth_input does with perfect depth, a diagnostic (what is left is the network's own error)."""
    if "depth_dense" not in s:
        raise ValueError("--pose-depth gt needs a world with dense depth")
    g = s["depth_dense"]
    return torch.where(g > 0, g, torch.full_like(g, 100.0))[None]


def student_depth_fn(student):
    """sample -> the student's metric depth of frame t [1, N, 1, H, W]: a pose network with depth_input's input."""
    def depth(s):
        d = student(s["image"][1])["depth"] * s["focal_scale"].view(-1, 1, 1, 1)
        return d[None]
    return depth


def motion_errors(net, seq, refiner=None, progress: bool = False, depth_fn=None,
                  iterations: int | None = None, align=None) -> dict[str, np.ndarray]:
    """Per motion (two per triple): translation error (m), GT length (m), predicted length (m), rotation error
    (deg), GT rotation (deg) and, for a SurroundSequence, the scene; of the network's motion, or of ``refiner(sample, f, M)``'s refinement of it.
    ``depth_fn(sample)``: frame t's depth for a pose network built with depth_input (``student_depth_fn``);
    ``iterations``: the pose network's passes (default: as trained); ``align``: its direct alignment's
    ((factor, iterations), ...) (default: as trained; () for the regression alone)."""
    rows = []
    it = range(len(seq))
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="motions", unit="triple")
    with torch.no_grad():
        for k in it:
            s = seq[k]
            img = s["image"][None]  # [1, 3, N, C, H, W]
            E0 = s["T_ego_cam"][0].double()
            depth = depth_fn(s) if depth_fn is not None else None
            for f in (0, 2):
                kw = {} if align is None else {"align": align}  # stand-in networks take no align
                M = net(img[:, 1], img[:, f], depth, s["K"][None], s["T_ego_cam"][None], iterations, **kw)["M"][0]
                if refiner is not None:
                    with torch.enable_grad():
                        M = refiner(s, f, M)
                M = M.double()
                M_gt = s["T_ref_cam"][f, 0].double() @ torch.linalg.inv(E0)  # ego(f) -> ego(t), camera 0's clock
                ang = rotation_angle_deg(M[:3, :3].T @ M_gt[:3, :3])
                ang_gt = rotation_angle_deg(M_gt[:3, :3])
                cos = float(torch.nn.functional.cosine_similarity(M[:3, 3], M_gt[:3, 3], dim=0, eps=1e-12))
                rows.append((float(torch.linalg.norm(M[:3, 3] - M_gt[:3, 3])), float(torch.linalg.norm(M_gt[:3, 3])),
                             float(torch.linalg.norm(M[:3, 3])), ang, ang_gt, cos))
    a = np.array(rows)
    out = {"t_err_m": a[:, 0], "t_gt_m": a[:, 1], "t_pred_m": a[:, 2], "r_err_deg": a[:, 3], "r_gt_deg": a[:, 4],
           "t_cos": a[:, 5]}  # cosine between the predicted and the true translation
    if hasattr(seq, "triples"):
        scenes = seq.base.set_scenes()
        out["scene"] = np.array([scenes[seq.triples[k][1]] for k in range(len(seq)) for _ in (0, 2)])
    return out


def summarise(e: dict[str, np.ndarray], min_motion: float) -> dict:
    moving = e["t_gt_m"] >= min_motion

    def stats(x):
        return {"median": float(np.median(x)), "mean": float(np.mean(x)), "p90": float(np.quantile(x, 0.9))} \
            if len(x) else None

    res = {"motions": int(len(e["t_gt_m"])), "moving": int(moving.sum()), "min_motion_m": min_motion,
           "translation_error_pct": stats(100 * e["t_err_m"][moving] / e["t_gt_m"][moving]),
           "length_ratio": stats(e["t_pred_m"][moving] / e["t_gt_m"][moving]),
           "rotation_error_deg": stats(e["r_err_deg"]), "gt_rotation_deg": stats(e["r_gt_deg"]),
           # translations pointing more than 90 deg off the true one (a reversed motion composes as well as the
           # right one: results/selfsup_bag_pose_compose)
           "wrong_direction": int((e["t_cos"][moving] < 0).sum()) if "t_cos" in e else None,
           # the translation error split into its size and its direction: |len - len_gt| / len_gt, and the angle
           # between the two translations (at length ratio 1 an angle a alone gives 2 sin(a/2), ~1.75 % a degree)
           "length_error_pct": stats(100 * np.abs(e["t_pred_m"][moving] - e["t_gt_m"][moving]) / e["t_gt_m"][moving]),
           "direction_error_deg": stats(np.degrees(np.arccos(np.clip(e["t_cos"][moving], -1, 1))))
           if "t_cos" in e else None,
           "gt_translation_m": stats(e["t_gt_m"])}
    if "scene" in e:  # medians per scene: a network that regresses to its training speeds errs by the scene's speed
        res["per_scene"] = {}
        for sc in dict.fromkeys(e["scene"]):
            m = moving & (e["scene"] == sc)
            res["per_scene"][str(sc)] = {
                "moving": int(m.sum()), "gt_translation_m_median": float(np.median(e["t_gt_m"][e["scene"] == sc])),
                "translation_error_pct_median": float(np.median(100 * e["t_err_m"][m] / e["t_gt_m"][m])) if m.any() else None,
                "length_ratio_median": float(np.median(e["t_pred_m"][m] / e["t_gt_m"][m])) if m.any() else None}
    return res


def parse_align(spec: str):
    """'run' -> None (as trained), 'off' -> (), '4x10,2x8' -> ((4, 10), (2, 8))."""
    if spec == "run":
        return None
    if spec == "off":
        return ()
    try:
        pairs = tuple(tuple(int(v) for v in p.split("x")) for p in spec.split(","))
    except ValueError:
        pairs = ()
    if not pairs or any(len(p) != 2 or min(p) < 1 for p in pairs):
        raise ValueError(f"--align {spec!r}: expected 'run', 'off' or factor x iterations pairs like 4x10,2x8,1x6")
    return pairs


def main(argv=None) -> int:
    from ..data import SurroundDataset
    from ..data.sequence import SurroundSequence

    ap = argparse.ArgumentParser(prog="fsmde-pose-eval", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="a training run with pose_net: true")
    ap.add_argument("--data-root", required=True, help="a nuScenes-format world with ego poses and camera sweeps")
    ap.add_argument("--version", default="v1.0-synth")
    ap.add_argument("--min-motion", type=float, default=0.1, help="metres; slower motions have no %% error")
    ap.add_argument("--refine", action="store_true", help="also score the motion after photometric refinement "
                    "(about 3 s a motion on one CPU core)")
    ap.add_argument("--refine-depth", default="student", choices=["student", "gt"],
                    help="the depth the refinement warps through: the run's student, or the world's exact depth")
    ap.add_argument("--iterations", type=int, help="passes of a pose network with depth input (default: as "
                    "trained; more passes at evaluation only is a measurement, not the trained network)")
    ap.add_argument("--pose-depth", default="student", choices=["student", "gt"],
                    help="the depth a pose network with depth input reads: the run's student (as trained), or the "
                    "world's exact depth (a diagnostic: what is left is the network's own error)")
    ap.add_argument("--align", default="run", help="the pose module's direct alignment (networks/pose_align.py): "
                    "'run' as trained (pose_align), 'off' for the network's regression alone, or factor x "
                    "iterations pairs, e.g. 4x10,2x8,1x6 (needs a pose network with depth input)")
    ap.add_argument("--stride", type=int, default=1, help="triples (t-k, t, t+k): k x the motion a frame, at the same "
                    "speed (a network that reads the flow scales with k; one that recognises a scene's speed from its "
                    "looks does not)")
    ap.add_argument("--scenes", help="split file or comma-separated scene names (default: all)")
    ap.add_argument("--out", help="write the summary here as JSON")
    a = ap.parse_args(argv)
    try:
        net, cfg = load_pose_run(a.run)
        d, m = cfg["data"], cfg["model"]
        from ..engine.config import resolve_scenes

        scenes = None if not a.scenes else resolve_scenes(a.scenes) if Path(a.scenes).exists() else a.scenes.split(",")
        exact = "gt" in (a.refine_depth, a.pose_depth)
        base = SurroundDataset(a.data_root, a.version, scenes, tuple(d["input_hw"]), d["canonical_focal_px"],
                               sweeps=True, gt="dense" if exact else "lidar", progress=True,
                               cameras=d["cameras"], mean=m["mean"], std=m["std"], cache_dir=d.get("cache_dir"),
                               geometry_inputs=tuple(m.get("geometry_inputs", ())))
        seq = SurroundSequence(base, strides=(a.stride,))
        student = depth_fn = None
        if pose_depth_input(cfg) != "none" or (a.refine and a.refine_depth == "student"):
            from .cli import load_run

            student = load_run(a.run)[0]
        if pose_depth_input(cfg) != "none":
            depth_fn = gt_depth_fn if a.pose_depth == "gt" else student_depth_fn(student)
        elif a.pose_depth == "gt":
            raise ValueError(f"--pose-depth gt: {a.run}'s pose network reads no depth (pose_depth_input: none)")
        align = parse_align(a.align)
        if align and depth_fn is None:
            raise ValueError(f"--align {a.align}: needs a pose network with depth input (pose_depth_input)")
        if a.iterations is not None and (a.iterations < 1 or (a.iterations > 1 and depth_fn is None)):
            raise ValueError(f"--iterations {a.iterations}: needs >= 1, and > 1 a pose network with depth input")
        t0 = time.perf_counter()
        res = summarise(motion_errors(net, seq, depth_fn=depth_fn, iterations=a.iterations, align=align,
                                      progress=True), a.min_motion)
        res["seconds_per_motion"] = (time.perf_counter() - t0) / res["motions"]  # with the student's depth
        res["iterations"] = a.iterations or cfg.get("pose_iterations", 1)
        res["stride"] = a.stride
        res["align"] = [list(x) for x in (net.cfg.align if align is None else align)]
        res["pose_depth"] = a.pose_depth if depth_fn is not None else None
        if a.refine:
            refiner = PhotometricRefiner(student if a.refine_depth == "student" else None, m["mean"], m["std"])
            res["refined"] = summarise(motion_errors(net, seq, refiner, progress=True, depth_fn=depth_fn,
                                                     iterations=a.iterations, align=align), a.min_motion)
            res["refined"]["depth"] = a.refine_depth
            res["refined"]["alignment_error_median"] = {
                "before": float(np.median([e[0] for e in refiner.errors])),
                "after": float(np.median([e[1] for e in refiner.errors]))}
    except (ValueError, OSError, KeyError) as e:
        print(f"fsmde-pose-eval: error: {e}", file=sys.stderr)
        return 2
    res["run"], res["data_root"] = str(a.run), str(a.data_root)
    print(f"{a.run} on {a.data_root}: {res['motions']} motions ({res['moving']} of >= {a.min_motion} m)")
    label0 = "pose network" + (f" + alignment {res['align']}" if res["align"] else " (regression alone)")
    print(f" {res['seconds_per_motion']:.2f} s a motion")
    for label, r_ in ((label0, res), (f"refined through {a.refine_depth} depth", res.get("refined"))):
        if r_ is None:
            continue
        t, r, s = r_["translation_error_pct"], r_["rotation_error_deg"], r_["length_ratio"]
        print(f" {label}:")
        if t:
            print(f"  translation error  median {t['median']:.1f} %  mean {t['mean']:.1f} %  p90 {t['p90']:.1f} %")
            print(f"  length ratio       median {s['median']:.3f}  mean {s['mean']:.3f}")
            print(f"  wrong direction    {r_['wrong_direction']} of {r_['moving']} moving (> 90 deg off)")
            le, de = r_["length_error_pct"], r_["direction_error_deg"]
            print(f"  of which size      median {le['median']:.1f} %  p90 {le['p90']:.1f} % (|length - GT| / GT)")
            if de:
                print(f"  of which direction median {de['median']:.2f} deg  p90 {de['p90']:.2f} deg (angle to the GT "
                      f"translation)")
        print(f"  rotation error     median {r['median']:.3f} deg  mean {r['mean']:.3f} deg  p90 {r['p90']:.3f} deg "
              f"(GT rotation median {r_['gt_rotation_deg']['median']:.3f} deg)")
        for sc, v in r_.get("per_scene", {}).items():
            if v["moving"]:
                print(f"  {sc}: {v['gt_translation_m_median']:.2f} m a frame, translation error median "
                      f"{v['translation_error_pct_median']:.1f} %, length ratio {v['length_ratio_median']:.3f}")
    if a.out:
        from ..files import atomic_write_text

        atomic_write_text(a.out, json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
