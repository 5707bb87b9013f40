"""Train the pose network toward its own refined motion (issue 14: the pose network's motion, no GT anywhere).

    python -m fsmde_train.engine.pose_selftrain --run runs/selfsup_bag/RUN --out runs/selfsup_bag/RUN_selftrain

A stage after a self-supervised run with ``pose_net: true``. Measured before (RESULTS.md, "The same term from step
3000"): such a network reads the flow's size (twice the flow, twice the motion) yet scatters ~10 % per motion, while
the photometric refinement through the run's own depth (networks/pose_refine.py) lands within ~2 %. The photometric
gradient the network trained on is weak along the motion's length; a refined motion is a per-sample answer. So:

1. **Labels**: for every ``label_every``-th triple (t-k, t, t+k), k in ``strides``, of the run's own training data
   (its bags: images, camera_info and /tf_static only, no odometry, no depth GT), the network's two motions
   ego(t±1) -> ego(t) are refined through the student's depth of frame t. The refinement is local (from a
   reversed motion it goes further wrong), so the coarsest level is run from the network's motion and from its
   reverse (translation negated) and the lower photometric error wins; the finer levels continue from the winner
   (``signed_refinement``).
2. **Fit**: the pose network alone (the student stays as it is) regresses the labels, L1 in its output units
   (trainer.py ``pose_distill_loss``), with the passes it was trained with; AdamW, warm-up then cosine.

Out: a run folder like the trainer's (checkpoints with ``model`` = the student unchanged, ``pose``, ``config`` = the
run's config plus ``pose_selftrain``), so fsmde-pose-eval and fsmde-eval read it; ``labels.pt`` (resumable: written
every few triples), ``tb/`` and ``result.json``. Killed and restarted, it continues from the last labels and the last
checkpoint.

Shapes: a triple's ``image`` [3 (t-1, t, t+1), N, C, H, W] (normalised, plus the geometry channels), ``K`` [N, 3, 3],
``T_ego_cam`` [N, 4, 4]; motions [4, 4] (a batch: [2B, 4, 4], first every triple's t-1 then every t+1).
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


@dataclass(frozen=True)
class SelftrainConfig:
    label_every: int = 2  # every k-th training triple is labelled
    # frame spacings k of the labelled triples (t-k, t, t+k): k = 2 shows each training scene at twice its speed, so
    # a scene's looks do not give its motion (data.sequence_strides; the evaluation stays at k = 1)
    strides: tuple[int, ...] = (1, 2)
    label_scales: tuple[int, ...] = (4, 2)  # refinement levels (downsampling factors); the first picks the sign
    label_iters: int = 20  # L-BFGS iterations a level
    steps: int = 600
    batch_triples: int = 2  # triples a step (two motions each)
    lr: float = 1e-4
    warmup_steps: int = 20
    weight_decay: float = 0.0
    # the earlier passes also pulled toward the label, weight pass_weight^(passes - 1 - i) (RAFT's sequence loss):
    # with the final motion alone a 2-pass network's first pass drifts and the fit diverges after ~100 steps at
    # lr 1e-4 (measured; RESULTS.md "trained toward its own refined motion")
    pass_weight: float = 0.0
    # a NEW pose network (one pass, the run's depth input, a correlation volume of this radius; 0: the plain encoder)
    # trained from scratch on the labels, instead of fine-tuning the run's: fitted to exact motions the run's
    # architecture keeps ~7 % on unseen scenes (results/selfsup_bag_pose_capacity), so better labels alone cannot
    # bring it under 5 %. The run's network still makes the labels.
    fresh_network: bool = False
    correlation: int = 0
    per_camera: bool = False  # the fresh network's head shared by the cameras (networks/pose.py)
    # more camera bags (rosbag2 folders or folders of them; images, camera_info, /tf_static) labelled and fitted
    # beside the run's own, appended after them: more, and more varied, scenes for the pose network
    # (results/selfsup_bag_pose_scenes). Labels of the run's own bags made before stay valid (same triple indices).
    extra_bags: tuple[str, ...] = ()
    seed: int = 0
    checkpoint_every: int = 100
    log_every: int = 10

    def __post_init__(self):
        if not 0.0 <= self.pass_weight <= 1.0:
            raise ValueError(f"pose_selftrain: pass_weight must be in [0, 1], got {self.pass_weight}")
        if self.correlation < 0 or ((self.correlation or self.per_camera) and not self.fresh_network):
            raise ValueError(f"pose_selftrain: correlation must be >= 0, and it and per_camera are for a fresh_network "
                             f"only; got {self.correlation}, {self.per_camera} with fresh_network {self.fresh_network}")
        if self.label_every < 1 or not self.strides or min(self.strides) < 1 or self.steps < 1 \
                or self.batch_triples < 1 or not self.label_scales or self.label_iters < 1 or self.lr <= 0 \
                or self.checkpoint_every < 1:
            raise ValueError(f"pose_selftrain: label_every, steps, batch_triples, label_iters, checkpoint_every >= 1, "
                             f"lr > 0 and at least one label scale expected; got {self}")


def reversed_motion(M: torch.Tensor) -> torch.Tensor:
    """The same rotation with the translation negated: the motion of the wrong sign a pose network can settle in."""
    R = M.clone()
    R[:3, 3] = -M[:3, 3]
    return R


def signed_refinement(rgb_t, rgb_s, depth_t, K, T_ego_cam, M0, scales=(4, 2), iters: int = 20) -> dict:
    """Refinement of M0 (networks/pose_refine.py ``refine_motion``) that also tries M0's reverse at the coarsest
    level and keeps the start whose refined motion explains the frames better. Shapes as ``refine_motion``'s.
    Returns ``M`` [4, 4], ``error_before`` / ``error_after`` (full resolution) and ``flipped`` (the reverse won)."""
    from ..networks.pose_refine import refine_motion

    starts = [refine_motion(rgb_t, rgb_s, depth_t, K, T_ego_cam, M, scales[:1], iters)
              for M in (M0, reversed_motion(M0))]
    flipped = starts[1]["error_after"] < starts[0]["error_after"]
    best = starts[int(flipped)]
    before = starts[0]["error_before"]
    if len(scales) > 1:
        best = refine_motion(rgb_t, rgb_s, depth_t, K, T_ego_cam, best["M"], scales[1:], iters)
    return {"M": best["M"], "error_before": before, "error_after": best["error_after"], "flipped": bool(flipped)}


def _save_atomic(path: Path, obj) -> None:
    from .checkpoint import _write_atomic

    buf = io.BytesIO()
    torch.save(obj, buf)
    _write_atomic(path, buf.getvalue())


class _Pieces:
    """The run's student (eval, frozen), pose network, config dict and training triples."""

    def __init__(self, run_dir, c: SelftrainConfig, progress: bool):
        from ..eval.cli import load_run
        from ..eval.pose_eval import load_pose_run
        from .checkpoint import load_checkpoint
        from .config import load_config
        from .trainer import make_datasets

        self.pose, self.cfg = load_pose_run(run_dir)
        self.student = load_run(run_dir)[0]
        for p in self.student.parameters():
            p.requires_grad_(False)
        self.state = load_checkpoint(run_dir)
        # a selftrain run's own config carries its pose_selftrain section, which the trainer's config does not know
        tc = load_config(overrides={k: v for k, v in self.cfg.items() if k != "pose_selftrain"})
        if not tc.data.sequence or not tc.pose_net:
            raise ValueError(f"{run_dir}: pose_selftrain needs a run with data.sequence and pose_net: true")
        if tc.pose_stagger:  # refine_motion takes one set as simultaneous; so must the network it labels
            raise ValueError(f"{run_dir}: pose_selftrain supports pose_stagger: false runs only (the refinement "
                             f"takes a camera set as simultaneous)")
        bags = tc.data.bags
        if c.extra_bags:
            if not tc.data.bags:
                raise ValueError(f"{run_dir}: extra_bags needs a run trained on bags (data.bags), got data.root "
                                 f"{tc.data.root!r}")
            bags = [*tc.data.bags, *c.extra_bags]
        data = dataclasses.replace(tc.data, val_root=None, sequence_strides=tuple(c.strides), bags=bags)
        self.ds = make_datasets(dataclasses.replace(tc, data=data), progress)[0]
        self.iterations = tc.pose_iterations
        self.depth_input = tc.pose_depth_input
        m = self.cfg["model"]
        self.mean, self.std = torch.tensor(m["mean"]).view(1, 3, 1, 1), torch.tensor(m["std"]).view(1, 3, 1, 1)

    def depth(self, s) -> torch.Tensor:
        """The student's metric depth of frame t [N, 1, H, W] (at the cameras' real focal lengths)."""
        with torch.no_grad():
            return self.student(s["image"][1])["depth"] * s["focal_scale"].view(-1, 1, 1, 1)

    def replace_pose(self, c: SelftrainConfig) -> None:
        """The labels are made; the fit trains a new one-pass network (``fresh_network``) from ``c.seed``."""
        from ..networks.pose import PoseConfig, SurroundPoseNet

        torch.manual_seed(c.seed)
        self.pose = SurroundPoseNet(PoseConfig(n_cam=self.pose.cfg.n_cam, depth_input=self.depth_input,
                                               correlation=c.correlation, per_camera=c.per_camera))
        self.iterations = 1
        self.cfg = {**self.cfg, "pose_iterations": 1, "pose_iterations_from": 0, "pose_align": [],
                    "pose_correlation": c.correlation, "pose_per_camera": c.per_camera, "pose_sequence_gamma": 0.0, "pose_iteration_jitter": 0.0}

    def rgb(self, s, f: int) -> torch.Tensor:
        return (s["image"][f][:, :3] * self.std + self.mean).clamp(0, 1)

    def motions(self, samples: list[dict], depths: list[torch.Tensor], passes: bool = False):
        """The pose network's motions [2B, 4, 4] for B triples (t-1 of each, then t+1 of each); with ``passes``
        the list of every pass's motions (the last is the network's answer)."""
        img = torch.stack([s["image"] for s in samples])  # [B, 3, N, C, H, W]
        d = torch.stack(depths)  # [B, N, 1, H, W]
        K = torch.stack([s["K"] for s in samples])
        T = torch.stack([s["T_ego_cam"] for s in samples])
        out = self.pose(torch.cat([img[:, 1], img[:, 1]]), torch.cat([img[:, 0], img[:, 2]]), torch.cat([d, d]),
                        torch.cat([K, K]), torch.cat([T, T]), self.iterations, ())
        return out["M_passes"] if passes else out["M"]


def make_labels(p: _Pieces, c: SelftrainConfig, path: Path, progress: bool) -> dict:
    """Labels of every ``label_every``-th triple, resumed from ``path`` and saved there every 8 triples."""
    want = list(range(0, len(p.ds), c.label_every))
    lab = {"triples": [], "M": [], "M_net": [], "error_before": [], "error_after": [], "flipped": [],
           "config": dataclasses.asdict(c)}
    if path.exists():
        old = torch.load(path, weights_only=True)
        oc = old.get("config", {})
        old_extra = list(oc.get("extra_bags", ()))  # labels of fewer extra bags index the same first triples
        if oc.get("label_every") == c.label_every and list(oc.get("label_scales", ())) == list(c.label_scales) \
                and list(oc.get("strides", ())) == list(c.strides) and old_extra == list(c.extra_bags)[:len(old_extra)]:
            lab = {**old, "config": dataclasses.asdict(c)}
    todo = [k for k in want if k not in set(lab["triples"])]
    it = todo
    if progress:
        from tqdm import tqdm

        it = tqdm(todo, desc="labels", unit="triple", initial=len(want) - len(todo), total=len(want))
    p.pose.eval()
    for n, k in enumerate(it):
        s = p.ds[k]
        depth = p.depth(s)
        with torch.no_grad():
            M_net = p.motions([s], [depth])  # [2, 4, 4]
        for i, f in enumerate((0, 2)):
            with torch.enable_grad():
                r = signed_refinement(p.rgb(s, 1), p.rgb(s, f), depth, s["K"], s["T_ego_cam"], M_net[i],
                                      c.label_scales, c.label_iters)
            lab["triples"].append(k) if i == 0 else None
            lab["M"].append(r["M"].float())
            lab["M_net"].append(M_net[i].float())
            for key in ("error_before", "error_after", "flipped"):
                lab[key].append(r[key])
        if (n + 1) % 8 == 0 or n + 1 == len(todo):
            _save_atomic(path, lab)
    return lab


def _lr(step: int, c: SelftrainConfig) -> float:
    if step < c.warmup_steps:
        return c.lr * (step + 1) / c.warmup_steps
    t = (step - c.warmup_steps) / max(1, c.steps - c.warmup_steps)
    return c.lr * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def fit(p: _Pieces, lab: dict, c: SelftrainConfig, out: Path, progress: bool) -> list[dict]:
    """Fine-tune the pose network on the labels; resumes from ``out``'s newest checkpoint. Returns the history."""
    from .checkpoint import load_checkpoint, save_checkpoint
    from .tb import TBLogger
    from .trainer import pose_distill_loss

    triples = lab["triples"]
    labels = torch.stack(lab["M"]).view(len(triples), 2, 4, 4)  # per triple: (t-1, t+1)
    if c.fresh_network:
        p.replace_pose(c)
    depths: dict[int, torch.Tensor] = {}  # the frozen student's depth per triple, computed once (float16)

    def depth(k, s):
        if k not in depths:
            depths[k] = p.depth(s).half()
        return depths[k].float()

    opt = torch.optim.AdamW(p.pose.parameters(), lr=c.lr, weight_decay=c.weight_decay)
    step, history = 0, []
    st = load_checkpoint(out)
    if st is not None and st.get("pose_selftrain_step") is not None:
        p.pose.load_state_dict(st["pose"])
        opt.load_state_dict(st["optim"])
        step, history = int(st["pose_selftrain_step"]), json.loads(st["history"])
    cfg_out = {**p.cfg, "pose_selftrain": {**dataclasses.asdict(c), "from_run": p.cfg.get("out_dir")}}

    def checkpoint():
        save_checkpoint(out, {"model": p.student.state_dict(), "pose": p.pose.state_dict(), "optim": opt.state_dict(),
                              "step": int(p.state["step"]), "pose_selftrain_step": step,
                              "history": json.dumps(history), "config": json.dumps(cfg_out)}, step)

    tb = TBLogger(out / "tb")
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=c.steps, initial=step, desc="fit", unit="step")
    p.pose.train()
    t0, n0 = time.perf_counter(), step
    while step < c.steps:
        for g in opt.param_groups:
            g["lr"] = _lr(step, c)
        gen = torch.Generator().manual_seed(c.seed * 1_000_003 + step)  # batches: a function of (seed, step)
        pick = torch.randint(len(triples), (c.batch_triples,), generator=gen).tolist()
        samples = [p.ds[triples[i]] for i in pick]
        Ms = p.motions(samples, [depth(i, s) for i, s in zip(pick, samples)], passes=True)
        target = torch.cat([labels[pick, 0], labels[pick, 1]])
        loss = pose_distill_loss(Ms[-1], target)
        if c.pass_weight > 0:
            loss = loss + sum(c.pass_weight ** (len(Ms) - 1 - i) * pose_distill_loss(M, target)
                              for i, M in enumerate(Ms[:-1]))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"pose_selftrain step {step}: non-finite loss (triples {pick})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss = loss.detach()
        step += 1
        history.append({"step": step, "loss": float(loss), "lr": _lr(step - 1, c)})
        if step % c.log_every == 0:
            tb.scalars(step, {"selftrain/loss": float(loss), "selftrain/lr": _lr(step - 1, c),
                              "selftrain/steps_per_s": (step - n0) / (time.perf_counter() - t0)})
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss):.3f}")
        if step % c.checkpoint_every == 0 or step == c.steps:
            checkpoint()
    if bar is not None:
        bar.close()
    tb.close()
    p.pose.eval()
    return history


def label_summary(lab: dict) -> dict:
    """How far the labels moved the network's motions: translation change (% of the label's length), flips."""
    M, Mn = torch.stack(lab["M"]), torch.stack(lab["M_net"])
    lt = M[:, :3, 3].norm(dim=1)
    moving = lt >= 0.1
    change = 100 * (M[:, :3, 3] - Mn[:, :3, 3]).norm(dim=1)[moving] / lt[moving]
    ratio = Mn[:, :3, 3].norm(dim=1)[moving] / lt[moving]
    q = lambda x: {"median": float(x.median()), "p90": float(torch.quantile(x, 0.9))} if len(x) else None  # noqa: E731
    return {"motions": int(len(M)), "moving": int(moving.sum()), "flipped": int(sum(lab["flipped"])),
            "network_vs_label_translation_pct": q(change), "network_over_label_length": q(ratio),
            "alignment_error_median": {"network": float(np.median(lab["error_before"])),
                                       "label": float(np.median(lab["error_after"]))}}


def run(run_dir, out_dir, c: SelftrainConfig, progress: bool = True) -> dict:
    out = Path(out_dir)
    torch.manual_seed(c.seed)
    p = _Pieces(run_dir, c, progress)  # refuses a run it cannot use before anything is written
    out.mkdir(parents=True, exist_ok=True)
    lab = make_labels(p, c, out / "labels.pt", progress)
    if not lab["triples"]:
        raise ValueError(f"{run_dir}: its training data gave no triple to label")
    summary = label_summary(lab)
    history = fit(p, lab, c, out, progress)
    res = {"run": str(run_dir), "config": dataclasses.asdict(c), "labels": summary,
           "loss_first_last": [history[0]["loss"], history[-1]["loss"]] if history else None}
    from ..files import atomic_write_text

    atomic_write_text(out / "result.json", json.dumps(res, indent=2))
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="fsmde-pose-selftrain", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="a self-supervised training run with pose_net: true")
    ap.add_argument("--out", required=True, help="the new run folder (checkpoints, labels.pt, tb/, result.json)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help=f"SelftrainConfig fields ({', '.join(f.name for f in dataclasses.fields(SelftrainConfig))})")
    ap.add_argument("--labels", help="start from this labels.pt (another stage's, made with the same label_every, "
                    "label_scales and strides from the same run); copied into --out")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    a = ap.parse_args(argv)
    try:
        from .config import parse_overrides

        kw = parse_overrides(a.set)
        unknown = set(kw) - {f.name for f in dataclasses.fields(SelftrainConfig)}
        if unknown:
            raise ValueError(f"--set {sorted(unknown)}: not SelftrainConfig fields")
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()}
        if a.labels and not (Path(a.out) / "labels.pt").exists():
            import shutil

            if not Path(a.labels).is_file():
                raise ValueError(f"--labels {a.labels}: no such file (a labels.pt of fsmde-pose-selftrain expected)")
            Path(a.out).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(a.labels, Path(a.out) / "labels.pt.tmp")
            (Path(a.out) / "labels.pt.tmp").replace(Path(a.out) / "labels.pt")
        res = run(a.run, a.out, SelftrainConfig(**kw), progress=not a.quiet)
    except (ValueError, OSError, KeyError, TypeError) as e:
        print(f"fsmde-pose-selftrain: error: {e}", file=sys.stderr)
        return 2
    s = res["labels"]
    print(f"{a.out}: {s['motions']} labelled motions ({s['flipped']} reversed by the sign check); network vs label "
          f"translation median {s['network_vs_label_translation_pct']['median']:.1f} %; fit loss "
          f"{res['loss_first_last'][0]:.3f} -> {res['loss_first_last'][1]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
