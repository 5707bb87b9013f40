"""Safe model loading: bytes verified against the manifest before use, no unpickling of code, paths reported."""
import io
import os
import pickle

import pytest
import torch

from fsmde_ros.backends.torch_backend import TorchBackend, weights_only_loads
from fsmde_ros.core.manifest import ManifestError, load_manifest

MARK = "/tmp/fsmde_pwned_marker"


class Evil:
    def __reduce__(self):
        return (open, (MARK, "w"))


def test_the_guard_turns_a_full_unpickle_into_a_refusal(tmp_path):
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(1), "x": Evil()}, buf, pickle_module=pickle)
    os.environ.pop("TORCH_FORCE_WEIGHTS_ONLY_LOAD", None)
    with weights_only_loads():
        with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
            torch.load(io.BytesIO(buf.getvalue()), weights_only=False)  # what torch.export.load falls back to
    assert not os.path.exists(MARK)
    assert "TORCH_FORCE_WEIGHTS_ONLY_LOAD" not in os.environ, "the process environment is restored"


def test_every_model_file_is_checked_before_it_is_read(tiny_model, tmp_path):
    import shutil

    model = tmp_path / "m"
    shutil.copytree(tiny_model, model)
    m = load_manifest(model)
    prog = m.file_path("torch_program")
    prog.write_bytes(prog.read_bytes() + b"\x00")
    with pytest.raises(ManifestError, match=r"student.pt2: sha256 \w+ does not match"):
        TorchBackend(m)
    assert m.root == model.resolve(), "paths are resolved (and logged by the node) before use"
