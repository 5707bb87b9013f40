"""The shipped demo weights reproduce training/RESULTS.md through the node's own backends.

RESULTS.md states the held-out numbers of models/fsmde_student (measured with fsmde-eval); this test re-renders
that held-out scene with the same generator settings (per-scene seeds make it bit-for-bit the same scene), runs
the exported model through the node's ONNX Runtime and torch backends and compares AbsRel within 1 %.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "training" / "RESULTS.md"
MODEL = ROOT / "models" / "fsmde_student"
# "reproduction scene: `fsmde-synth --scenes 1 --duration 1 --width 320 --height 180 --seed 200`, scene-0001,
#  all 12 camera sets, dense GT, nuScenes protocol, scale-aware: AbsRel 0.0xyz"
PATTERN = re.compile(r"reproduction scene: `fsmde-synth --scenes 1 --duration (\S+) --width (\d+) --height (\d+) "
                     r"--seed (\d+)`, (scene-\d+), all (\d+) camera sets, .*?AbsRel (\d+\.\d+)")


def stated():
    m = PATTERN.search(RESULTS.read_text())
    assert m, f"{RESULTS} has no line matching {PATTERN.pattern}"
    dur, w, h, seed, scene, n, absrel = m.groups()
    return dict(duration=float(dur), width=int(w), height=int(h), seed=int(seed)), scene, int(n), float(absrel)


@pytest.fixture(scope="module")
def heldout(tmp_path_factory):
    from fsmde_train.data import SurroundDataset
    from fsmde_train.synth import SynthConfig, generate_dataset
    from fsmde_ros.core.manifest import load_manifest

    synth, scene, n, absrel = stated()
    root = tmp_path_factory.mktemp("heldout")
    generate_dataset(SynthConfig(out=str(root), scenes=1, version="v1.0-synth", **synth), progress=False)
    man = load_manifest(MODEL)
    ds = SurroundDataset(root, "v1.0-synth", [scene], (man.height, man.width), man.canonical_focal_px, sweeps=True,
                         gt="dense", progress=False,
                         geometry_inputs=tuple(man.geometry["channels"]) if man.geometry else ())
    assert len(ds) == n
    return ds, man, absrel


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_demo_weights_reproduce_results_md(heldout, backend):
    import torch

    from fsmde_ros.backends import make_backend
    from fsmde_train.eval import evaluate

    ds, man, want = heldout
    be, why = make_backend(man, backend, device="cpu", log=lambda *_: None)

    def predict(image):
        return torch.from_numpy(np.asarray(be.infer(np.ascontiguousarray(image.numpy(), np.float32))))

    got = evaluate(predict, ds, gt="dense")["nuscenes"]["scale_aware"]["mean"]["abs_rel"]
    print(f"{backend}: AbsRel {got:.4f} on the held-out scene; RESULTS.md states {want:.4f}")
    assert abs(got - want) <= 0.01 * want, f"{backend}: AbsRel {got:.4f} vs RESULTS.md {want:.4f} (1 % allowed)"
