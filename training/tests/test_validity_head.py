"""The sky/validity head: it learns the synthetic world's sky (dense GT 0) from the validity loss alone and the
exported model writes NaN there in every format (the node side: test/test_validity_output.py)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from fsmde_train.data import SurroundDataset
from fsmde_train.export import export_model
from fsmde_train.losses.supervised import validity_loss
from fsmde_train.networks import StudentConfig, build_student

from .conftest import TINY

CFG = StudentConfig(base_width=8, decoder_width=16, n_bins=16, blocks=(1, 1, 1, 1), output_stride=4,
                    validity_head=True)


def test_validity_loss_weights_classes_and_ignores_sparse_images():
    logit = torch.zeros(2, 1, 4, 4, requires_grad=True)
    dense = torch.ones(2, 1, 4, 4)
    dense[0, :, :1] = 0  # one sky row in image 0
    dense[1] = 0  # image 1 has no dense GT (sparse LiDAR only): ignored
    loss = validity_loss(logit, dense)
    loss.backward()
    g = logit.grad[0, 0]
    assert float(logit.grad[1].abs().sum()) == 0.0
    assert np.isclose(float(g[0].abs().sum()), float(g[1:].abs().sum()), rtol=1e-5), "equal weight per class"
    assert float(validity_loss(logit, torch.zeros(2, 1, 4, 4))) == 0.0
    logit.grad = None
    validity_loss(logit, dense, balance=0.0).backward()  # plain BCE: every pixel of image 0 the same weight
    g = logit.grad[0, 0]
    assert np.isclose(float(g[0].abs().sum()) * 3, float(g[1:].abs().sum()), rtol=1e-5), "1 sky row of 4"
    assert float(logit.grad[1].abs().sum()) == 0.0


@pytest.mark.parametrize("beta", [0.0, 0.25, 0.5, 1.0])
def test_partial_validity_balance_interpolates_the_class_weights(beta):
    # one sky row of 4: sky / surface gradient share is 3^(beta - 1) (1/3 plain, 1 balanced); mean weight stays 1,
    # so at logit 0 every beta gives log 2
    logit = torch.zeros(1, 1, 4, 4, requires_grad=True)
    dense = torch.ones(1, 1, 4, 4)
    dense[0, :, :1] = 0
    loss = validity_loss(logit, dense, balance=beta)
    loss.backward()
    g = logit.grad[0, 0].abs()
    assert np.isclose(float(loss), np.log(2.0), rtol=1e-5)
    assert np.isclose(float(g[0].sum() / g[1:].sum()), 3.0 ** (beta - 1.0), rtol=1e-4)
    with pytest.raises(ValueError, match="validity_balance"):
        validity_loss(logit, dense, balance=1.5)


@pytest.mark.parametrize("skip", [False, True], ids=["features", "features+input"])
def test_head_learns_sky_and_the_export_makes_it_nan(tiny_world, tmp_path, skip):
    ds = SurroundDataset(tiny_world, TINY["version"], None, (64, 96), 70.0, gt="lidar", progress=False)
    batch = ds[0]
    x, dense = batch["image"], batch["depth_dense"]  # [6, 3, 64, 96], [6, 1, 64, 96]
    sky = dense <= 0
    assert 0.01 < float(sky.float().mean()) < 0.7, "the tiny world's cameras see some sky"
    torch.manual_seed(0)
    net = build_student(replace(CFG, validity_input_skip=skip))
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    for _ in range(150):
        loss = validity_loss(net(x)["valid_logit"], dense)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    man = export_model(net, tmp_path / "m", name="sky", input_hw=(64, 96), canonical_focal_px=70.0)
    assert "NaN" in man["output"]["invalid"]
    p = man["parity"]
    assert p["onnx_vs_torch_max_rel"] < 1e-4 and p["program_vs_torch_max_rel"] < 1e-4, p  # same NaN pixels too

    import onnxruntime as ort

    sess = ort.InferenceSession(str(tmp_path / "m" / "student.onnx"), providers=["CPUExecutionProvider"])
    depth = sess.run(["depth"], {"image": x.numpy()})[0]
    nan = np.isnan(depth)
    sky_np = sky.numpy()
    print(f"sky pixels NaN {nan[sky_np].mean():.3f}, non-sky NaN {nan[~sky_np].mean():.3f}")
    assert nan[sky_np].mean() > 0.9 and nan[~sky_np].mean() < 0.05


def test_trainer_runs_the_validity_term_from_config(tiny_world, tmp_path):
    """model.validity_head + loss.validity through the real trainer (tiny config): the term is logged, finite."""
    import os

    from fsmde_train.engine.config import load_config
    from fsmde_train.engine.trainer import train

    base = "configs/synthetic_tiny.yaml" if os.path.exists("configs/synthetic_tiny.yaml") else None
    cfg = load_config(base, {"out_dir": str(tmp_path / "run"), "data": {"root": str(tiny_world), "input_hw": [64, 96]},
                             "optim": {"steps": 3}, "log_every": 1, "model": {"validity_head": True},
                             "loss": {"validity": 1.0}})
    r = train(cfg, progress=False)
    assert r["steps"] == 3 and all(np.isfinite(h["loss"]) for h in r["history"])
    assert all("validity" in h and np.isfinite(h["validity"]) for h in r["history"]), r["history"][-1]
    bad = load_config(base, {"out_dir": str(tmp_path / "bad"), "data": {"root": str(tiny_world), "input_hw": [64, 96]},
                             "optim": {"steps": 1}, "loss": {"validity": 1.0}})
    import pytest

    with pytest.raises(ValueError, match="needs model.validity_head"):
        train(bad, progress=False)


def test_input_skip_feeds_the_pooled_input_to_the_head():
    """With model.validity_input_skip the head's first conv reads [decoder features, input avg-pooled to the decoder
    stride]: with the feature weights zeroed the logit still follows the input, pooled cell by cell."""
    torch.manual_seed(0)
    net = build_student(replace(CFG, validity_input_skip=True, geometry_inputs=("ray_elevation",))).eval()
    conv = net.valid_head[0][0]
    assert conv.in_channels == CFG.decoder_width + 4  # RGB + one geometry channel
    with torch.no_grad():
        conv.weight[:, :CFG.decoder_width] = 0
    x = torch.randn(1, 4, 64, 96)
    y = x.clone()
    y[:, :, :4, :4] += 3.0  # one 4x4 cell (output_stride 4) of the input
    with torch.no_grad():
        a, b = net(x)["valid_logit"], net(y)["valid_logit"]
    # the features differ too, but their weights are zero: only the skip can carry the change, and only near the cell
    assert float((a - b).abs()[..., :8, :8].max()) > 1e-3
    assert float((a - b).abs()[..., 16:, 16:].max()) == 0.0
    with pytest.raises(ValueError, match="validity_input_skip needs model.validity_head"):
        build_student(replace(CFG, validity_head=False, validity_input_skip=True))
