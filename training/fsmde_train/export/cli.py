"""fsmde-export: a training run's newest checkpoint -> models/<name>/ (ONNX opset 17, torch.export program,
manifest.json with sha256 and parity), optionally a TensorRT engine for this GPU."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .. import CAMERAS


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="fsmde-export", description=__doc__)
    ap.add_argument("--run", required=True, help="training run folder (ckpt_*.pt + latest.json)")
    ap.add_argument("--out", required=True, help="model folder to write (manifest.json, student.onnx, student.pt2)")
    ap.add_argument("--name", help="model name in the manifest (default: the run's config name)")
    ap.add_argument("--tensorrt", action="store_true", help="also build student_b<batch>.engine (GPU + tensorrt)")
    ap.add_argument("--batch", type=int, default=6, help="TensorRT engine batch (default 6 cameras)")
    a = ap.parse_args(argv)
    from ..engine.checkpoint import load_checkpoint
    from ..engine.trainer import recipe
    from ..engine.config import load_config
    from ..networks import build_student
    from .exporter import export_model

    st = load_checkpoint(a.run)
    if st is None:
        print(f"fsmde-export: error: {a.run}: no loadable checkpoint", file=sys.stderr)
        return 2
    cfg_dict = json.loads(st["config"])
    net = build_student(cfg_dict["model"])
    net.load_state_dict(st["model"])
    net.eval()
    d = cfg_dict["data"]
    result = Path(a.run) / "result.json"
    metrics = {}
    if result.exists():
        metrics = json.loads(result.read_text()).get("val", {}).get("nuscenes", {}).get("scale_aware", {}).get("mean", {})
    cfg = load_config(None, cfg_dict)
    man = export_model(net, a.out, name=a.name or cfg_dict["name"], input_hw=tuple(d["input_hw"]),
                       canonical_focal_px=d["canonical_focal_px"], cameras=list(d.get("cameras", CAMERAS)),
                       training={"config": cfg_dict, "recipe": recipe(cfg), "step": st["step"]}, metrics=metrics)
    print(f"exported {a.run} (step {st['step']}) to {a.out}: parity {man['parity']}")
    if a.tensorrt:
        from .tensorrt import TensorRTUnavailable, build_engine

        try:
            p = build_engine(Path(a.out) / man["files"]["onnx"]["path"], Path(a.out) / f"student_b{a.batch}.engine",
                             a.batch, man["input"]["height"], man["input"]["width"],
                             channels=man["input"]["channels"], state_shape=man["fusion"].get("state_shape"))
            print(f"TensorRT engine: {p}")
        except TensorRTUnavailable as e:
            print(f"fsmde-export: error: {e}", file=sys.stderr)
            return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
