"""make weights pins the CPU kernels (ATen, oneDNN, MKL) so the shipped weights do not depend on the machine's SIMD
width (RESULTS.md, "The shipped model and the reproduction check"), and the manifest records what a run used."""
from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys

import pytest
import yaml

from fsmde_train.engine.config import TRAINING_DIR
from fsmde_train.engine.trainer import ISA_PINS


def test_make_weights_pins_every_library_that_picks_kernels_by_the_machine():
    makefile = (TRAINING_DIR.parent / "Makefile").read_text()
    pin = re.search(r"^ISA_PIN := (.*)$", makefile, re.M)
    assert pin, "Makefile: no ISA_PIN line"
    assert sorted(kv.split("=")[0] for kv in pin.group(1).split()) == sorted(ISA_PINS)
    recipe = re.search(r"^weights: .*\n\t(.*)$", makefile, re.M).group(1)
    assert "$(ISA_PIN)" in recipe and "configs/shipped.yaml" in recipe


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="the AVX2 pin is an x86-64 one")
def test_a_pinned_run_uses_avx2_kernels_and_its_manifest_says_so(tiny_world, tmp_path):
    cfg = {"out_dir": str(tmp_path / "run"), "threads": 1, "tensorboard": False, "image_every": 0,
           "export_dir": str(tmp_path / "model"), "teacher": {"kind": "none"},
           "model": {"base_width": 8, "decoder_width": 16, "n_bins": 16, "blocks": [1, 1, 1, 1]},
           "data": {"root": str(tiny_world), "input_hw": [64, 96], "sweeps": False, "gt": "dense", "val_root": None},
           "optim": {"steps": 2, "batch_size": 1}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, ATEN_CPU_CAPABILITY="avx2", ONEDNN_MAX_CPU_ISA="AVX2", MKL_CBWR="AVX2")
    r = subprocess.run([sys.executable, "-m", "fsmde_train.engine.trainer", "--quiet", "--config",
                        str(tmp_path / "c.yaml")], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    numerics = json.loads((tmp_path / "model" / "manifest.json").read_text())["training"]["cpu_numerics"]
    assert numerics["aten_capability"] == "AVX2" and numerics["threads"] == 1
    assert numerics["pins"] == {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}
