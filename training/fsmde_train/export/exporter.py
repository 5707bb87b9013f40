"""Write ``models/<name>/``: student.onnx, student.pt2 (torch.export program) and manifest.json.

The manifest is the contract with the node (fsmde_ros/core/manifest.py validates it; a test keeps the two
in agreement). Normalisation, resolution, units, depth range, the canonical focal length and the sha256
of every file travel with the weights, so the node never guesses them.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..files import atomic_write_text, sha256_file  # noqa: F401 (re-exported: tests and the TensorRT builder use it from here)
from ..geometry import GROUND_CLIP, GROUND_SCALE
from ..networks.student import DepthOnly, SurroundDepthStudent

MANIFEST_VERSION = 1


def _atomic_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2))


def geometry_manifest(names) -> dict:
    """How the camera-aware channels after RGB are computed (fsmde_train.geometry.camera_channels), for the node."""
    return {"channels": list(names), "version": 1, "ground_scale": GROUND_SCALE, "ground_clip": GROUND_CLIP,
            "vehicle_frame": "z up; the road is the plane z = -ground_height (0 for nuScenes' ego frame)",
            "pixel_convention": "pixel centres at integer coordinates of K scaled to the input size",
            "focal_scale": "(fx + fy) / 2 / canonical_focal_px at the input size"}


def export_onnx(module: torch.nn.Module, example: torch.Tensor, path: Path, opset: int = 17) -> None:
    # the batch axis stays dynamic; a cross-view model still needs whole sets (the manifest's "fusion" says so)
    torch.onnx.export(module, (example,), str(path), input_names=["image"], output_names=["depth"],
                      dynamic_axes={"image": {0: "n"}, "depth": {0: "n"}}, opset_version=opset, dynamo=False)


def export_program(module: torch.nn.Module, example: torch.Tensor, path: Path, dynamic_batch: bool = True) -> None:
    """``dynamic_batch`` False: the program takes exactly ``example``'s batch (a cross-view model: one set; torch.export
    specialises a set count of 1, so a dynamic count could not run the node's one-set batches)."""
    shapes = {"image": {0: torch.export.Dim("n", min=1, max=64)}} if dynamic_batch else None
    ep = torch.export.export(module, (example,), dynamic_shapes=shapes)
    torch.export.save(ep, str(path))


def parity(module: torch.nn.Module, onnx_path: Path, program_path: Path, example: torch.Tensor) -> dict:
    """Eager torch vs ONNX Runtime (CPU) and vs the saved torch program on ``example``: max abs error in metres
    and max error relative to the depth (|a - b| / b)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ref = module(example).numpy()
        prog = torch.export.load(str(program_path)).module()(example).numpy()
    got = sess.run(["depth"], {"image": example.numpy()})[0]
    ok = np.isfinite(ref)  # NaN = the validity head's "no surface": must be NaN in the same pixels everywhere

    def err(other):
        if not np.array_equal(np.isfinite(other), ok):
            return float("inf"), float("inf")
        d = np.abs(ref[ok] - other[ok])
        return (float(d.max()), float((d / np.abs(ref[ok])).max())) if ok.any() else (0.0, 0.0)

    (oa, orel), (pa, prel) = err(got), err(prog)
    return {"onnx_vs_torch_max_abs_m": oa, "onnx_vs_torch_max_rel": orel, "program_vs_torch_max_abs_m": pa,
            "program_vs_torch_max_rel": prel, "invalid_fraction": float(1 - ok.mean())}


def export_model(net: SurroundDepthStudent, out_dir, *, name: str, input_hw: tuple[int, int],
                 canonical_focal_px: float, cameras=(),
                 training: dict | None = None, metrics: dict | None = None, seed: int = 0) -> dict:
    """Export ``net`` for images of ``input_hw`` (H, W); returns the manifest written beside the files."""
    h, w = input_hw
    mean, std = tuple(net.cfg.mean), tuple(net.cfg.std)  # the normalisation the network was trained with
    if h % 32 or w % 32:
        raise ValueError(f"input size must be multiples of 32, got {h}x{w}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    module = DepthOnly(net).eval()
    gen = torch.Generator().manual_seed(seed)
    c = net.cfg.in_channels
    cfg = net.cfg
    per_set = cfg.n_cam if cfg.cross_view else 1
    if cfg.cross_view and len(cameras) != cfg.n_cam:
        raise ValueError(f"a cross-view model needs its {cfg.n_cam} cameras in ring order (the manifest's "
                         f"'cameras'), got {list(cameras)}")
    example = torch.randn(2 if per_set == 1 else per_set, c, h, w, generator=gen)
    onnx_path, prog_path = out / "student.onnx", out / "student.pt2"
    export_onnx(module, example, onnx_path)
    export_program(module, example, prog_path, dynamic_batch=per_set == 1)
    par = parity(module, onnx_path, prog_path, torch.randn(6 if per_set == 1 else per_set, c, h, w, generator=gen))
    manifest = {
        "format": "fsmde-model",
        "format_version": MANIFEST_VERSION,
        "name": name,
        "architecture": {"type": "SurroundDepthStudent",
                         "config": {**cfg.__dict__, "blocks": list(cfg.blocks),
                                    "geometry_inputs": list(cfg.geometry_inputs)}},
        "input": {"height": h, "width": w, "channel_order": "RGB", "layout": "NCHW", "dtype": "float32",
                  "scale": 1.0 / 255.0, "mean": list(mean), "std": list(std),
                  # ONNX keeps a dynamic batch either way; a cross-view torch program takes one set
                  "dynamic_batch": per_set == 1,
                  "channels": c, **({"geometry": geometry_manifest(cfg.geometry_inputs)} if cfg.geometry_inputs else {})},
        "output": {"name": "depth", "units": "m", "layout": "N1HW", "min_depth": cfg.min_depth,
                   "max_depth": cfg.max_depth,
                   "invalid": ("NaN where the validity head finds no surface (sky)" if cfg.validity_head
                               else "none (every pixel has a depth)")},
        "canonical_focal_px": float(canonical_focal_px),
        # how the views of a batch relate: "none" = each view alone (any batch); "cross_view" = whole sets of
        # views_per_set images in the order of "cameras" (the ring), attending to their neighbours
        "fusion": ({"kind": "cross_view", "views_per_set": cfg.n_cam, "order": "cameras (a ring)", "state": "none"}
                   if cfg.cross_view else {"kind": "none", "state": "none"}),
        "n_bins": cfg.n_bins,
        "cameras": list(cameras),
        "files": {
            "onnx": {"path": onnx_path.name, "sha256": sha256_file(onnx_path), "opset": 17},
            "torch_program": {"path": prog_path.name, "sha256": sha256_file(prog_path),
                              "torch": torch.__version__.split("+")[0]},
        },
        "parity": par,
        "training": training or {},
        "metrics": metrics or {},
    }
    _atomic_json(out / "manifest.json", manifest)
    return manifest
