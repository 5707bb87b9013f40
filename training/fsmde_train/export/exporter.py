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


STATE_INPUTS, STATE_OUTPUT = ("prev_state", "prev_valid"), "state"


def _names(example: tuple) -> tuple[list[str], list[str]]:
    """Input and output names: image -> depth, or for a temporal model (image, prev_state, prev_valid) ->
    (depth, state)."""
    return (["image"], ["depth"]) if len(example) == 1 else (["image", *STATE_INPUTS], ["depth", STATE_OUTPUT])


def export_onnx(module: torch.nn.Module, example: tuple, path: Path, opset: int = 17) -> None:
    # the batch axis stays dynamic; a cross-view model still needs whole sets (the manifest's "fusion" says so)
    ins, outs = _names(example)
    torch.onnx.export(module, example, str(path), input_names=ins, output_names=outs,
                      dynamic_axes={k: {0: "n"} for k in ins + outs}, opset_version=opset, dynamo=False)


def export_program(module: torch.nn.Module, example: tuple, path: Path, dynamic_batch: bool = True) -> None:
    """``dynamic_batch`` False: the program takes exactly ``example``'s batch (a cross-view model: one set; torch.export
    specialises a set count of 1, so a dynamic count could not run the node's one-set batches)."""
    n = torch.export.Dim("n", min=1, max=64)
    args = ["image", "prev_state", "prev_valid"][:len(example)]
    shapes = {k: {0: n} for k in args} if dynamic_batch else None
    ep = torch.export.export(module, example, dynamic_shapes=shapes)
    torch.export.save(ep, str(path))


def parity(module: torch.nn.Module, onnx_path: Path, program_path: Path, example) -> dict:
    """Eager torch vs ONNX Runtime (CPU) and vs the saved torch program on ``example`` (a tensor, or a temporal
    model's inputs): max abs error in metres and max error relative to the depth (|a - b| / b); for a temporal
    model also the largest state difference."""
    import onnxruntime as ort

    example = example if isinstance(example, tuple) else (example,)
    ins, outs = _names(example)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    as_list = lambda y: list(y) if isinstance(y, tuple) else [y]  # noqa: E731
    with torch.no_grad():
        ref = [t.numpy() for t in as_list(module(*example))]
        prog = [t.numpy() for t in as_list(torch.export.load(str(program_path)).module()(*example))]
    got = sess.run(outs, {k: v.numpy() for k, v in zip(ins, example)})
    ok = np.isfinite(ref[0])  # NaN = the validity head's "no surface": must be NaN in the same pixels everywhere

    def err(other):
        if not np.array_equal(np.isfinite(other), ok):
            return float("inf"), float("inf")
        d = np.abs(ref[0][ok] - other[ok])
        return (float(d.max()), float((d / np.abs(ref[0][ok])).max())) if ok.any() else (0.0, 0.0)

    (oa, orel), (pa, prel) = err(got[0]), err(prog[0])
    res = {"onnx_vs_torch_max_abs_m": oa, "onnx_vs_torch_max_rel": orel, "program_vs_torch_max_abs_m": pa,
           "program_vs_torch_max_rel": prel, "invalid_fraction": float(1 - ok.mean())}
    if len(ref) > 1:
        res["state_max_abs"] = float(max(np.abs(ref[1] - got[1]).max(), np.abs(ref[1] - prog[1]).max()))
    return res


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
    state_shape = [net.encoder.channels[-1], h // 32, w // 32]

    def inputs(n):  # a temporal model's example: random previous state, some views without one
        x = torch.randn(n, c, h, w, generator=gen)
        if not cfg.temporal:
            return (x,)
        return x, torch.randn(n, *state_shape, generator=gen), (torch.arange(n) % 3 != 0).float()

    onnx_path, prog_path = out / "student.onnx", out / "student.pt2"
    example = inputs(2 if per_set == 1 else per_set)
    export_onnx(module, example, onnx_path)
    export_program(module, example, prog_path, dynamic_batch=per_set == 1)
    par = parity(module, onnx_path, prog_path, inputs(6 if per_set == 1 else per_set))
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
        # "state": "none", or "previous_set" (a temporal model: inputs prev_state [N, *state_shape] float32 and
        # prev_valid [N] float32 (1 = that camera's state from the previous set, 0 = none: first set, gap, loop),
        # output "state" to feed the next set; the node keeps it and resets it)
        "fusion": {**({"kind": "cross_view", "views_per_set": cfg.n_cam, "order": "cameras (a ring)"}
                      if cfg.cross_view else {"kind": "none"}),
                   **({"state": "previous_set", "state_shape": state_shape, "state_inputs": list(STATE_INPUTS),
                       "state_output": STATE_OUTPUT} if cfg.temporal else {"state": "none"})},
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
