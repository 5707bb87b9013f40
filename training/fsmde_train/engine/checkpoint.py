"""Checkpoints that survive SIGKILL at any instant, including mid-write.

Layout of a run folder::

    ckpt_0000200.pt   torch.save of a dict of tensors/numbers/strings (loaded with weights_only=True)
    ckpt_0000400.pt
    latest.json       {"file", "sha256", "step", "previous": [older entries]}, newest first

Each file is written to ``*.tmp``, fsynced and renamed, then ``latest.json`` is replaced the same way, so the
folder always holds a complete, checksummed checkpoint. Loading walks the entries newest first, skipping (and
reporting) any file that is missing, fails its sha256 or does not load; files newer than ``latest.json``
(a kill between the two renames) are tried too — a renamed file is complete by construction.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
from pathlib import Path

import torch

LATEST = "latest.json"
_NAME = re.compile(r"ckpt_(\d{7,})\.pt$")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)  # make the rename itself durable
    finally:
        os.close(fd)


def save_checkpoint(run_dir, state: dict, step: int, keep: int = 2) -> Path:
    """Write ``state`` as the checkpoint of ``step``; keeps the newest ``keep`` files."""
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    path = run / f"ckpt_{step:07d}.pt"
    _write_atomic(path, data)
    entry = {"file": path.name, "sha256": hashlib.sha256(data).hexdigest(), "step": step}
    old = _read_latest(run)
    entries = [entry] + [e for e in old if e["file"] != path.name]
    _write_atomic(run / LATEST, json.dumps({**entry, "previous": entries[1:keep]}, indent=1).encode())
    live = {e["file"] for e in entries[:keep]}
    for p in run.glob("ckpt_*.pt"):
        if p.name not in live and _NAME.match(p.name) and int(_NAME.match(p.name).group(1)) < step:
            p.unlink(missing_ok=True)
    return path


def _read_latest(run: Path) -> list[dict]:
    try:
        d = json.loads((run / LATEST).read_text())
        return [{k: d[k] for k in ("file", "sha256", "step")}] + list(d.get("previous", []))
    except (OSError, ValueError, KeyError, TypeError):
        return []


def load_checkpoint(run_dir, log=print) -> dict | None:
    """The newest checkpoint of ``run_dir`` that verifies and loads, or None when there is none."""
    run = Path(run_dir)
    if not run.is_dir():
        return None
    listed = _read_latest(run)
    known = {e["file"] for e in listed}
    newest_listed = max((e["step"] for e in listed), default=-1)
    unlisted = sorted((p for p in run.glob("ckpt_*.pt") if _NAME.match(p.name) and p.name not in known
                       and int(_NAME.match(p.name).group(1)) > newest_listed), reverse=True)
    candidates = [(run / p.name, None) for p in unlisted] + [(run / e["file"], e["sha256"]) for e in listed]
    for path, sha in candidates:
        try:
            data = path.read_bytes()
        except OSError as e:
            log(f"warning: checkpoint {path} unreadable ({e}); trying an older one")
            continue
        if sha is not None and hashlib.sha256(data).hexdigest() != sha:
            log(f"warning: checkpoint {path} fails its sha256 (partial or corrupted write); trying an older one")
            continue
        try:
            # weights_only: tensors, numbers, strings and containers; nothing executable is unpickled
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - torch raises several types for a damaged archive
            log(f"warning: checkpoint {path} does not load ({type(e).__name__}: {e}); trying an older one")
    return None
