"""Shared fixtures: one tiny synthetic world per test session (2 scenes x 1 s at 192x108)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from fsmde_train.synth import SynthConfig, generate_dataset

TINY = dict(scenes=2, duration=1.0, width=192, height=108, seed=5, version="v1.0-synth")
F_CANON = 70.0  # canonical focal (px) of the view-augmentation tests' 64 x 96 input
GEOM = ("ground_inverse_depth", "ray_elevation")


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    reuse = os.environ.get("FSMDE_TINY_WORLD")  # development: a world made once with TINY's settings
    if reuse and (Path(reuse) / TINY["version"]).is_dir():
        return Path(reuse)
    root = tmp_path_factory.mktemp("world")
    generate_dataset(SynthConfig(out=str(root), **TINY), progress=False)
    return root


@pytest.fixture(scope="session")
def nusc(tiny_world):
    from nuscenes.nuscenes import NuScenes

    return NuScenes(version=TINY["version"], dataroot=str(tiny_world), verbose=False)


def check_view_augmentation_config(world, out_dir, key: str, teacher: str = "none") -> None:
    """The shared checks of a per-view augmentation ``data.<key>`` (a probability): two training steps of a tiny
    student with it at 0.5 and the camera-aware channels run with finite losses; a probability over 1 and a
    sequence dataset are refused by name."""
    import numpy as np

    from fsmde_train.engine.config import load_config
    from fsmde_train.engine.trainer import train

    kd = 0.5 if teacher != "none" else 0.0
    base = {"out_dir": str(out_dir), "data": {"root": str(world), "input_hw": [64, 96], "sweeps": False, key: 0.5},
            "model": {"base_width": 8, "decoder_width": 16, "n_bins": 16, "blocks": [1, 1, 1, 1],
                      "geometry_inputs": ["ground_inverse_depth", "ray_elevation"]},
            "loss": {"ci_kd": kd, "vr_kd": kd}, "teacher": {"kind": teacher},
            "optim": {"steps": 2}, "checkpoint_every": 2, "log_every": 1}
    r = train(load_config(None, base), progress=False)
    assert r["steps"] == 2 and all(np.isfinite(h["loss"]) for h in r["history"])
    with pytest.raises(ValueError, match=f"data.{key}"):
        load_config(None, {**base, "data": {**base["data"], key: 1.5}})
    with pytest.raises(ValueError, match="sequence"):
        load_config(None, {**base, "data": {**base["data"], "sequence": True}})


def flat_sets(world, n_sets: int = 1) -> dict:
    """The tiny world's first ``n_sets`` camera sets at 64 x 96 with dense GT and the camera-aware channels, flattened
    as the trainer's step sees them ([n_sets * 6, ...])."""
    import torch

    from fsmde_train.data import SurroundDataset
    from fsmde_train.engine.trainer import _flat

    ds = SurroundDataset(world, TINY["version"], None, (64, 96), F_CANON, gt="dense", progress=False,
                         geometry_inputs=GEOM)
    sets = [ds[i] for i in range(n_sets)]
    return _flat({k: torch.stack([s[k] for s in sets]) for k in sets[0]}, "cpu")
