"""fsmde-eval: evaluate a training run or an exported model on held-out scenes; write a markdown report,
metrics.json and plots. Several --run/--model arguments make a comparison table (the ablation)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from .protocol import evaluate, torch_predictor
from .report import distance_table, plots, report_markdown, rows_table, seeds_table


def load_run(run_dir):
    """(student with the newest checkpoint's weights, eval mode; the run's config dict)."""
    from ..engine.checkpoint import load_checkpoint
    from ..networks import build_student

    st = load_checkpoint(run_dir)
    if st is None:
        raise ValueError(f"{run_dir}: no loadable checkpoint (ckpt_*.pt + latest.json)")
    cfg = json.loads(st["config"])
    net = build_student(cfg["model"])
    net.load_state_dict(st["model"])
    return net.eval(), cfg


def run_predictor(run_dir):
    """The newest checkpoint of a training run, built from the config stored in it: (predict, data config,
    geometry inputs). A temporal network gives its network instead (``main`` makes a TemporalPredictor once the
    dataset, whose stamps it needs, exists)."""
    net, cfg = load_run(run_dir)
    return (net if net.cfg.temporal else torch_predictor(net)), cfg["data"], tuple(net.cfg.geometry_inputs)


def model_predictor(model_dir, backend: str = "onnxruntime"):
    """An exported model folder (manifest.json + student.onnx / student.pt2) through ONNX Runtime or torch."""
    man = json.loads((Path(model_dir) / "manifest.json").read_text())
    if man.get("fusion", {}).get("state", "none") != "none":
        raise ValueError(f"{model_dir}: a model with temporal state (manifest fusion.state); evaluate its training "
                         f"run with --run, which feeds the state set by set")
    if backend == "onnxruntime":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(Path(model_dir) / man["files"]["onnx"]["path"]),
                                    providers=["CPUExecutionProvider"])
        return (lambda img: torch.from_numpy(sess.run(["depth"], {"image": img.numpy()})[0])), man
    if backend == "torch":
        prog = torch.export.load(str(Path(model_dir) / man["files"]["torch_program"]["path"])).module()
        return (lambda img: prog(img)), man
    raise ValueError(f"backend must be onnxruntime or torch, got {backend!r}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="fsmde-eval", description=__doc__)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", nargs="+", help="training run folder(s) (their newest checkpoint)")
    src.add_argument("--model", nargs="+", help="exported model folder(s) (manifest.json)")
    src.add_argument("--from-metrics", help="re-render report.md and the plots from a metrics.json this tool wrote "
                     "(no evaluation; --data-root, if given, only names the data in the titles)")
    ap.add_argument("--names", nargs="*", help="row names (default: folder names)")
    ap.add_argument("--backend", default="onnxruntime", choices=["onnxruntime", "torch"], help="for --model")
    ap.add_argument("--data-root", help="nuScenes-format root of the held-out scenes")
    ap.add_argument("--real", help="real frames instead (../shared/real's layout, or one dataset folder of it): "
                    "metrics against projected LiDAR beside the constant and flat-ground references")
    ap.add_argument("--version", default="v1.0-synth")
    ap.add_argument("--scenes", help="split file or comma-separated scene names (default: all)")
    ap.add_argument("--sweeps", action="store_true", help="every camera set (12 Hz), not only the key frames")
    ap.add_argument("--gt", default="dense", choices=["dense", "lidar"], help="evaluation GT (dense: synthetic)")
    ap.add_argument("--input-hw", type=int, nargs=2, help="H W (default: the run's config / the manifest)")
    ap.add_argument("--canonical-focal", type=float, help="default: the run's config / the manifest")
    ap.add_argument("--temporal-max-gap", type=float, default=0.5, help="a temporal run: drop the previous set's "
                    "state after this many seconds (the node's temporal_max_gap; use --sweeps for 12 Hz sets)")
    ap.add_argument("--out", required=True, help="folder for report.md, metrics.json and plots")
    a = ap.parse_args(argv)
    if a.real:
        return main_real(a)
    if a.from_metrics:
        try:
            rows = json.loads(Path(a.from_metrics).read_text())
        except (OSError, ValueError) as e:
            print(f"fsmde-eval: error: --from-metrics {a.from_metrics}: {e}", file=sys.stderr)
            return 2
        try:
            return write_report(rows, Path(a.out), a.data_root or a.from_metrics)
        except (KeyError, TypeError, AttributeError, IndexError) as e:
            print(f"fsmde-eval: error: --from-metrics {a.from_metrics}: not a metrics.json written by fsmde-eval "
                  f"(expected {{row name: evaluation}}; {type(e).__name__}: {e})", file=sys.stderr)
            return 2
    if not a.data_root:
        ap.error("--data-root is required (or --real)")
    from ..data import SurroundDataset
    from ..engine.config import resolve_scenes

    try:
        preds = []
        for src_dir in a.run or a.model:
            if a.run:
                pred, d, geom = run_predictor(src_dir)
                hw, f = tuple(d["input_hw"]), d["canonical_focal_px"]
            else:
                pred, man = model_predictor(src_dir, a.backend)
                hw, f = (man["input"]["height"], man["input"]["width"]), man["canonical_focal_px"]
                geom = tuple(man["input"].get("geometry", {}).get("channels", ()))
                if a.input_hw and tuple(a.input_hw) != hw:  # the exported files are built for one input size
                    raise ValueError(f"--input-hw {a.input_hw[0]} {a.input_hw[1]}: {src_dir} takes {hw[0]}x{hw[1]} "
                                     f"input only (its manifest's input.height/width); use --run for other sizes")
            hw = tuple(a.input_hw or hw)
            if hw[0] % 32 or hw[1] % 32 or min(hw) <= 0:
                raise ValueError(f"--input-hw {hw[0]} {hw[1]}: expected positive multiples of 32")
            preds.append((pred, hw, a.canonical_focal or f, geom))
        scenes = None
        if a.scenes:
            scenes = resolve_scenes(a.scenes) if Path(a.scenes).exists() else a.scenes.split(",")
        names = a.names or [Path(p).name for p in (a.run or a.model)]
        if len(names) != len(preds):
            raise ValueError(f"{len(names)} --names for {len(preds)} runs/models")
        if not (Path(a.data_root) / a.version).is_dir():  # the devkit would stop on a bare assert
            raise ValueError(f"--data-root {a.data_root}: no {a.version}/ table folder (a nuScenes-format dataroot "
                             f"with --version {a.version} expected)")
        rows, datasets = {}, {}
        for name, (pred, hw, f, geom) in zip(names, preds):
            if (hw, f, geom) not in datasets:
                datasets[(hw, f, geom)] = SurroundDataset(a.data_root, a.version, scenes, hw, f, sweeps=a.sweeps,
                                                          gt="lidar" if a.gt == "lidar" else "dense", progress=False,
                                                          geometry_inputs=geom)
            ds = datasets[(hw, f, geom)]
            if isinstance(pred, torch.nn.Module):  # a temporal run: with the previous set's state, and without
                from .temporal import TemporalPredictor

                for hist in (True, False):
                    tp = TemporalPredictor(pred, ds.set_stamps(), ds.set_scenes(), a.temporal_max_gap, history=hist)
                    row = name if hist else f"{name} (no history)"
                    rows[row] = evaluate(tp, ds, gt=a.gt, progress=True)
                    rows[row]["temporal"] = {"sets_with_state": tp.used, "sets_without": tp.resets}
                    print(f"{row}: {tp.used} sets used the previous set's state, {tp.resets} did not")
                continue
            rows[name] = evaluate(pred, ds, gt=a.gt, progress=True)
    except (ValueError, OSError, KeyError) as e:
        print(f"fsmde-eval: error: {e}", file=sys.stderr)
        return 2
    return write_report(rows, Path(a.out), a.data_root)


def write_report(rows: dict[str, dict], out: Path, data_label: str) -> int:
    """metrics.json, report.md (mean ± std and by-distance tables for <row>/<seed> names) and the plots."""
    md = [report_markdown(ev, f"{name} on {data_label}") for name, ev in rows.items()]
    if len(rows) > 1:
        md.insert(0, "# Comparison (nuScenes protocol, scale-aware)\n\n" + rows_table(rows) + "\n\n"
                  "# Comparison (nuScenes protocol, median-scaled)\n\n" + rows_table(rows, scaling="median_scaled")
                  + "\n")
    seeds = any("/" in n for n in rows)
    by_distance = (f"# AbsRel / median pred/GT by GT distance (scale-aware{', mean over seeds' if seeds else ''})\n\n"
                   + distance_table(rows) + "\n")
    md.insert(0, by_distance)
    if seeds:  # rows named <row>/<seed>: the seeds' mean ± std first
        md.insert(0, "# Mean ± std over seeds (nuScenes protocol, scale-aware)\n\n" + seeds_table(rows) + "\n")
        print(seeds_table(rows))
    out.mkdir(parents=True, exist_ok=True)  # written only once every table is made
    (out / "metrics.json").write_text(json.dumps(rows, indent=2))
    (out / "report.md").write_text("\n\n".join(md))
    paths = plots(next(iter(rows.values())), out, rows)
    print(rows_table(rows))
    print(distance_table(rows))
    print(f"wrote {out / 'report.md'}, {out / 'metrics.json'}, " + ", ".join(str(p) for p in paths))
    return 0


def main_real(a) -> int:
    from ..data.real import RealDataError, load_real
    from .real import distance_profile, distance_table, evaluate_real, real_plots, real_table

    if not a.model or len(a.model) != 1:
        print("fsmde-eval: error: --real takes exactly one --model (an exported model folder)", file=sys.stderr)
        return 2
    try:
        views = [v for vs in load_real(a.real).values() for v in vs]
        pred, man = model_predictor(a.model[0], a.backend)
    except (RealDataError, ValueError, OSError, KeyError) as e:
        print(f"fsmde-eval: error: {e}", file=sys.stderr)
        return 2
    res = evaluate_real(pred, man, views)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    table = real_table(res)
    profile = distance_profile(res)
    (out / "metrics.json").write_text(json.dumps({k: v for k, v in res.items() if k != "arrays"}
                                                 | {"by_distance": profile}, indent=2))
    paths = real_plots(res, out)
    (out / "report.md").write_text(f"# {Path(a.model[0]).name} on real frames ({a.real}, {a.backend})\n\n{table}\n\n"
                                   f"Model by LiDAR depth: AbsRel / median pred/GT (points)\n\n{distance_table(profile)}\n\n"
                                   + "\n".join(f"![{p.stem}]({p.name})" for p in paths) + "\n")
    print(table)
    print(distance_table(profile))
    print(f"wrote {out / 'report.md'}, {out / 'metrics.json'}, " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
