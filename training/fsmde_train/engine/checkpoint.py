"""Atomic checkpoints: write to a temporary file, fsync, then rename, so a kill leaves the last good one."""
from __future__ import annotations

import os
from pathlib import Path

import torch


def save_checkpoint(path, state: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path) -> dict | None:
    path = Path(path)
    if not path.exists():
        return None
    # weights_only: tensors, numbers, strings and containers only; nothing executable is unpickled
    return torch.load(path, map_location="cpu", weights_only=True)
