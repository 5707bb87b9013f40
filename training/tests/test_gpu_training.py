"""AMP training on CUDA (skipped without a GPU): the real loop, teacher and losses on random camera sets."""
import numpy as np
import pytest
import torch

from fsmde_train.engine import trainer as trainer_mod
from fsmde_train.engine.config import load_config

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


class RandomSets(torch.utils.data.Dataset):
    """Camera sets with the real batch keys: a tilted ground plane seen by six cameras, sparse GT."""

    def __init__(self, n=8, hw=(64, 96)):
        self.n, (self.h, self.w) = n, hw

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        rows = torch.linspace(0.1, 1.0, self.h)[None, None, :, None]
        dense = (3.0 / rows).expand(6, 1, self.h, self.w) * (1 + 0.1 * torch.rand(6, 1, 1, 1, generator=g))
        sparse = torch.where(torch.rand(dense.shape, generator=g) < 0.1, dense, torch.zeros_like(dense))
        K = torch.tensor([[70.0, 0, self.w / 2], [0, 70.0, self.h / 2], [0, 0, 1]]).expand(6, 3, 3)
        return {"image": torch.randn(6, 3, self.h, self.w, generator=g), "depth": sparse, "depth_canon": sparse,
                "depth_dense": dense, "K": K, "focal_scale": torch.ones(6), "T_ego_cam": torch.eye(4).expand(6, 4, 4),
                "index": torch.tensor(i)}


def test_amp_training_on_cuda(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer_mod, "make_datasets", lambda cfg, progress, base_dir=None: (RandomSets(), None))
    cfg = load_config(None, {"out_dir": str(tmp_path / "run"), "device": "cuda", "amp": True,
                             "model": {"base_width": 8, "decoder_width": 16, "n_bins": 16, "blocks": [1, 1, 1, 1]},
                             "teacher": {"kind": "depth_anything_tiny"}, "loss": {"ci_kd": 1.0, "vr_kd": 1.0},
                             "optim": {"steps": 20, "batch_size": 2, "warmup_steps": 2}, "log_every": 1})
    r = trainer_mod.train(cfg, progress=False)
    losses = [h["loss"] for h in r["history"]]
    assert r["skipped_steps"] == 0 and all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
