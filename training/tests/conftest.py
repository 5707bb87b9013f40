"""Shared fixtures: one tiny synthetic world per test session (2 scenes x 1 s at 192x108)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from fsmde_train.synth import SynthConfig, generate_dataset

TINY = dict(scenes=2, duration=1.0, width=192, height=108, seed=5, version="v1.0-synth")


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
