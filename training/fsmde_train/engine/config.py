"""One typed training config; YAML files override its defaults (unknown keys are errors)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..networks.student import StudentConfig


@dataclass
class DataConfig:
    root: str = "data/synth"
    version: str = "v1.0-synth"
    train_scenes: list[str] | None = None  # None = every scene of root
    val_root: str | None = None  # held-out scenes (another root), None = no validation
    val_scenes: list[str] | None = None
    input_hw: tuple[int, int] = (128, 224)
    canonical_focal_px: float = 177.3  # CAM_FRONT's fx scaled to 224 px width
    sweeps: bool = True  # use the 12 Hz camera sets too (synthetic world: dense GT on every frame)
    dense: bool = True  # dense GT where the dataset has it, else projected LiDAR


@dataclass
class OptimConfig:
    steps: int = 1000
    batch_size: int = 2  # camera sets per step (x 6 views)
    lr: float = 1e-3
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    warmup_steps: int = 50


@dataclass
class TrainConfig:
    name: str = "fsmde_student"
    out_dir: str = "runs/fsmde_student"
    seed: int = 0
    threads: int = 0
    model: StudentConfig = field(default_factory=StudentConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    checkpoint_every: int = 200
    log_every: int = 20
    export_dir: str | None = None  # export the final weights (onnx + torch program + manifest) here


def _merge(obj, overrides: dict, path=""):
    names = {f.name: f for f in dataclasses.fields(obj)}
    for k, v in overrides.items():
        if k not in names:
            raise ValueError(f"unknown config key '{path}{k}' (known: {sorted(names)})")
        cur = getattr(obj, k)
        if dataclasses.is_dataclass(cur):
            if not isinstance(v, dict):
                raise ValueError(f"config key '{path}{k}' expects a mapping")
            if dataclasses.is_dataclass(cur) and getattr(type(cur), "__dataclass_params__").frozen:
                cur = dataclasses.replace(cur, **{kk: tuple(vv) if isinstance(vv, list) else vv for kk, vv in v.items()})
                setattr(obj, k, cur)
            else:
                _merge(cur, v, f"{path}{k}.")
        else:
            setattr(obj, k, tuple(v) if isinstance(cur, tuple) and isinstance(v, list) else v)
    return obj


def load_config(path=None, overrides: dict | None = None) -> TrainConfig:
    cfg = TrainConfig()
    if path:
        text = Path(path).read_text()
        _merge(cfg, yaml.safe_load(text) or {})
    if overrides:
        _merge(cfg, overrides)
    return cfg


def config_to_dict(cfg: TrainConfig) -> dict:
    return dataclasses.asdict(cfg)
