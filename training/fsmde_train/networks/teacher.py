"""Teachers: Depth-Anything-V2 through ``transformers`` (the real one, and the learned stand-in of the synthetic
testbed: the same architecture reduced, trained by ``fsmde-teacher`` on a world the student never sees) and the
GT-plus-noise diagnostic.

Both map a surround batch (views flattened, ``[B, 3, H, W]`` normalised with ImageNet mean/std, plus the batch
dict) to

- ``rel``       [B, 1, H, W]  relative *inverse* depth: affine-invariant (unknown scale and shift per image),
                             larger = nearer; sky ~ 0 (DA-V2's convention)
- ``features``  [B, C, h, w]  dense features for view-relational KD, or ``None`` when the teacher has none

Neither is ever trained; both run under ``torch.no_grad`` in eval mode.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class TeacherConfig:
    # none | learned (fsmde-teacher's output folder, sha256-checked) | depth_anything (HF weights) |
    # standin (GT + noise: a labelled diagnostic, not a teacher a real student could have) | depth_anything_tiny
    kind: str = "none"
    model: str = "depth-anything/Depth-Anything-V2-Small-hf"  # HF model id or local folder (depth_anything, learned)
    feature_layer: int = -1  # backbone hidden state used as features (depth_anything)
    cache: bool = True  # reuse the outputs per camera set when training without augmentation (engine/trainer.py)
    # stand-in: GT inverse depth under a random per-image affine map, blurred, with low-frequency and pixel noise
    blur_sigma_px: float = 1.5
    lowfreq_noise: float = 0.05  # std of a smooth multiplicative error field (teacher's structural error)
    pixel_noise: float = 0.01  # std of per-pixel multiplicative noise
    seed: int = 1234


class DepthAnythingTeacher(nn.Module):
    """``DepthAnythingForDepthEstimation`` by model id or local path (``from_pretrained``), or from a config.

    Inputs are resized to the nearest multiple of the patch size (14) and the prediction back to H x W. DA-V2's
    image processor uses the ImageNet mean/std the student uses, so the normalised batch is passed as is.
    Features are the patch tokens of backbone hidden state ``feature_layer`` as a [B, C, H/14, W/14] map.
    """

    def __init__(self, model: str | None = None, config=None, feature_layer: int = -1, input_hw=None):
        super().__init__()
        from transformers import DepthAnythingForDepthEstimation

        if config is not None:
            self.model = DepthAnythingForDepthEstimation(config)
        elif model:
            self.model = DepthAnythingForDepthEstimation.from_pretrained(model)
        else:
            raise ValueError("DepthAnythingTeacher needs a model id / path or a config")
        self.model.eval().requires_grad_(False)
        self.patch = self.model.config.backbone_config.patch_size
        self.feature_layer = feature_layer
        self.input_hw = tuple(input_hw) if input_hw else None

    def train(self, mode: bool = True):  # always eval: a frozen teacher
        return super().train(False)

    @torch.no_grad()
    def forward(self, image: torch.Tensor, batch: dict | None = None) -> dict:
        return run_depth_anything(self.model, image, self.input_hw, self.feature_layer)


def run_depth_anything(model, image: torch.Tensor, input_hw=None, feature_layer: int = -1) -> dict:
    """``DepthAnythingForDepthEstimation`` on image [B, 3, H, W] (ImageNet-normalised): the network sees
    ``input_hw`` (default: H, W rounded to multiples of the patch size); ``rel`` [B, 1, H, W] comes back at the
    input's size and ``features`` [B, C, H_p, W_p] are the patch tokens of hidden state ``feature_layer``.
    With gradients when the caller has them on (fsmde-teacher trains through this)."""
    patch = model.config.backbone_config.patch_size
    h, w = image.shape[-2:]
    ph, pw = input_hw or (max(1, round(h / patch)) * patch, max(1, round(w / patch)) * patch)
    if ph % patch or pw % patch:
        raise ValueError(f"teacher input_hw {(ph, pw)} must be multiples of the patch size {patch}")
    x = F.interpolate(image, size=(ph, pw), mode="bilinear", align_corners=False)
    out = model(pixel_values=x, output_hidden_states=True)
    rel = F.interpolate(out.predicted_depth[:, None], size=(h, w), mode="bilinear", align_corners=False)
    tokens = out.hidden_states[feature_layer]
    gh, gw = ph // patch, pw // patch
    tokens = tokens[:, tokens.shape[1] - gh * gw:]  # drop the CLS (and any register) tokens
    feats = tokens.transpose(1, 2).reshape(tokens.shape[0], -1, gh, gw)
    return {"rel": rel.float(), "features": feats.float()}


def tiny_depth_anything_config(hidden: int = 32, layers: int = 2):
    """A tiny random config of the real architecture (tests, smoke runs): DINOv2 backbone + DPT neck + head."""
    from transformers import DepthAnythingConfig, Dinov2Config

    bc = Dinov2Config(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                      intermediate_size=2 * hidden, out_indices=list(range(1, layers + 1)),
                      out_features=[f"stage{i}" for i in range(1, layers + 1)], image_size=56, patch_size=14,
                      reshape_hidden_states=False)
    return DepthAnythingConfig(backbone_config=bc, reassemble_hidden_size=hidden,
                               neck_hidden_sizes=[hidden // 2 * 2 ** i for i in range(layers)],
                               reassemble_factors=[4, 2, 1, 0.5][:layers], fusion_hidden_size=hidden // 2,
                               head_hidden_size=8, depth_estimation_type="relative")


def learned_teacher_config(hidden: int = 96, layers: int = 6, heads: int = 3):
    """The learned stand-in teacher: DA-V2's architecture (DINOv2 ViT-S/14 backbone, DPT neck, relative head)
    reduced about 4x in width and 2x in depth (ViT-S: 384 wide, 12 layers; this: 96, 6). The one builder:
    fsmde-teacher trains it, its saved config.json rebuilds it."""
    from transformers import DepthAnythingConfig, Dinov2Config

    outs = [round(layers * k / 4) for k in (1, 2, 3, 4)]  # DPT taps four evenly spaced blocks, as DA-V2 does
    bc = Dinov2Config(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                      intermediate_size=4 * hidden, out_indices=outs, out_features=[f"stage{i}" for i in outs],
                      image_size=518, patch_size=14, reshape_hidden_states=False)
    return DepthAnythingConfig(backbone_config=bc, reassemble_hidden_size=hidden,
                               neck_hidden_sizes=[hidden // 4, hidden // 2, hidden, hidden],
                               reassemble_factors=[4, 2, 1, 0.5], fusion_hidden_size=hidden // 3,
                               head_hidden_size=16, depth_estimation_type="relative")


TEACHER_MANIFEST = "teacher_manifest.json"


def load_learned_teacher(folder, feature_layer: int = -1) -> DepthAnythingTeacher:
    """fsmde-teacher's output folder: ``config.json`` + ``model.safetensors`` (transformers) and
    ``teacher_manifest.json`` (sha256 of every file, the input size it was trained at). A missing or altered file
    is refused with its name, never loaded half-checked."""
    import json
    from pathlib import Path

    from ..files import sha256_file

    folder = Path(folder)
    mpath = folder / TEACHER_MANIFEST
    if not mpath.is_file():
        raise ValueError(f"learned teacher {folder}: {TEACHER_MANIFEST} not found (make teacher writes it)")
    manifest = json.loads(mpath.read_text())
    for name, digest in manifest.get("files", {}).items():
        f = folder / name
        if not f.is_file():
            raise ValueError(f"learned teacher {folder}: {name} is missing (listed in {TEACHER_MANIFEST})")
        if sha256_file(f) != digest:
            raise ValueError(f"learned teacher {folder}: {name} does not match its sha256 in {TEACHER_MANIFEST}")
    return DepthAnythingTeacher(str(folder), feature_layer=feature_layer, input_hw=manifest["input_hw"])


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma <= 0:
        return x
    r = max(1, int(3 * sigma))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=x.dtype) / sigma) ** 2)
    k = (k / k.sum()).to(x.device)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))


class StandInTeacher(nn.Module):
    """Diagnostic only (``kind: standin``): the evaluation GT's own structure plus noise, not scale.
    It is better than any student could learn to be, so KD rows built on it measure "add dense GT"
    (issue 12). The testbed's teacher is the learned one (``kind: learned``).

    rel = a * blur(1 / depth_dense) * (1 + smooth error + pixel noise) + b with a ~ logU(0.5, 20) and
    b ~ U(0, 0.2) * a * mean(inverse depth), all drawn per image from (seed, sample index, camera): like a real
    teacher, the same image always gets the same output. It has no features (VR-KD then relates the teacher's
    GT-aligned depth; see losses/relational.py).
    """

    def __init__(self, cfg: TeacherConfig = TeacherConfig()):
        super().__init__()
        self.cfg = cfg

    @torch.no_grad()
    def forward(self, image: torch.Tensor, batch: dict) -> dict:
        dense = batch["depth_dense"]  # [B, 1, H, W] (views flattened)
        if not bool((dense > 0).any()):
            raise ValueError("the stand-in teacher needs dense GT ('depth_dense'); this dataset has none")
        n_cam = batch["n_cam"]
        idx = batch["index"]  # [B] sample index per view (repeated over the cameras of a set)
        inv = torch.where(dense > 0, 1.0 / dense.clamp_min(1e-3), torch.zeros_like(dense))
        inv = _gaussian_blur(inv, self.cfg.blur_sigma_px)
        out = torch.empty_like(inv)
        h, w = inv.shape[-2:]
        for v in range(inv.shape[0]):
            rng = np.random.default_rng([self.cfg.seed, int(idx[v]), v % n_cam])
            a = float(np.exp(rng.uniform(np.log(0.5), np.log(20.0))))
            field = torch.from_numpy(rng.normal(0, self.cfg.lowfreq_noise, (1, 1, 4, 7)).astype(np.float32))
            field = F.interpolate(field, size=(h, w), mode="bicubic", align_corners=False)[0].to(inv.device)
            pix = torch.from_numpy(rng.normal(0, self.cfg.pixel_noise, (1, h, w)).astype(np.float32)).to(inv.device)
            mean_inv = float(inv[v][inv[v] > 0].mean()) if bool((inv[v] > 0).any()) else 0.0
            b = float(rng.uniform(0, 0.2)) * a * mean_inv
            out[v] = a * inv[v] * (1 + field + pix) + b
        return {"rel": out, "features": None}


def build_teacher(cfg: TeacherConfig) -> nn.Module | None:
    if cfg.kind == "none":
        return None
    if cfg.kind == "standin":
        return StandInTeacher(cfg)
    if cfg.kind == "learned":
        return load_learned_teacher(cfg.model, feature_layer=cfg.feature_layer)
    if cfg.kind == "depth_anything":
        return DepthAnythingTeacher(cfg.model, feature_layer=cfg.feature_layer)
    if cfg.kind == "depth_anything_tiny":  # random weights of the real architecture: smoke runs and tests only
        return DepthAnythingTeacher(config=tiny_depth_anything_config(), feature_layer=cfg.feature_layer)
    raise ValueError(f"teacher.kind must be none, learned, standin, depth_anything or depth_anything_tiny, "
                     f"got {cfg.kind!r}")
