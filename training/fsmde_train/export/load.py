"""Back from an exported model folder to a trainable student (fsmde-adapt fine-tunes the shipped model).

The folder's manifest holds the training config (the one builder rebuilds the network from its ``model``
dict) and the sha256 of every file; the weights come out of the torch program (``student.pt2``: its state
dict is the DepthOnly wrapper's, keys ``net.*``). The rebuilt network must reproduce the program's output.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..files import sha256_file
from ..networks.student import DepthOnly, build_student


def load_exported_student(model_dir):
    """(student in eval mode, manifest) of an exported folder; a missing/altered file or a config that does not
    reproduce the program is one clear ValueError."""
    d = Path(model_dir)
    mpath = d / "manifest.json"
    if not mpath.is_file():
        raise ValueError(f"{d}: no manifest.json (an exported model folder is expected)")
    man = json.loads(mpath.read_text())
    cfg = man.get("training", {}).get("config", {}).get("model")
    if cfg is None:
        raise ValueError(f"{d}: the manifest has no training.config.model (exported by an older fsmde-export?)")
    entry = man["files"]["torch_program"]
    prog_path = d / entry["path"]
    if not prog_path.is_file() or sha256_file(prog_path) != entry["sha256"]:
        raise ValueError(f"{d}: {entry['path']} is missing or does not match its sha256 in manifest.json")
    prog = torch.export.load(str(prog_path)).module()
    net = build_student(cfg)
    state = {k[len("net."):]: v for k, v in prog.state_dict().items() if k.startswith("net.")}
    net.load_state_dict(state, strict=False)
    missing = set(net.state_dict()) - set(state)
    if any(not k.endswith("num_batches_tracked") for k in missing):
        raise ValueError(f"{d}: the program lacks weights {sorted(missing)[:3]}...")
    net.eval()
    x = torch.randn(1, net.cfg.in_channels, man["input"]["height"], man["input"]["width"],
                    generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = DepthOnly(net)(x), prog(x)
    same = torch.isnan(a) == torch.isnan(b)
    if not bool(same.all()) or not torch.allclose(a.nan_to_num(0), b.nan_to_num(0), rtol=1e-3, atol=1e-3):
        raise ValueError(f"{d}: the rebuilt network does not reproduce {entry['path']}")
    return net, man
