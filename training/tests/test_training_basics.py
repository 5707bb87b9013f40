"""Dataset batch contract, losses, metrics, and a short training run that checkpoints and resumes."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fsmde_train.data import BATCH_KEYS, SurroundDataset
from fsmde_train.engine.checkpoint import load_checkpoint
from fsmde_train.engine.config import load_config
from fsmde_train.engine.trainer import train
from fsmde_train.eval.metrics import depth_metrics
from fsmde_train.losses import silog_loss
from fsmde_train.losses.supervised import band_weights
from fsmde_train.networks import StudentConfig, build_student

from .conftest import TINY


def test_dataset_keys_shapes_and_focal_normalisation(tiny_world, nusc):
    ds = SurroundDataset(tiny_world, TINY["version"], input_hw=(64, 96), canonical_focal_px=70.0, sweeps=True,
                         gt="dense", progress=False, nusc=nusc)
    assert len(ds) == TINY["scenes"] * TINY["duration"] * 12, "every 12 Hz camera set"
    b = ds[0]
    assert set(b) == set(BATCH_KEYS)
    assert b["image"].shape == (6, 3, 64, 96) and b["depth"].shape == (6, 1, 64, 96) and b["K"].shape == (6, 3, 3)
    fs = b["focal_scale"]
    assert fs[3] < 0.75 * fs[0], "CAM_BACK's wide lens has a shorter focal length"
    m = b["depth"] > 0
    torch.testing.assert_close(b["depth_canon"][m], (b["depth"] / fs[:, None, None, None])[m])
    assert (b["depth"][:, :, -2:] > 0).all(), "dense GT on the ground rows"
    assert torch.equal(b["depth"], b["depth_dense"]) and b["index"].item() == 0


def test_silog_is_scale_invariant_in_its_variance_term_and_masks():
    gt = torch.rand(2, 1, 8, 8) * 50 + 1
    assert silog_loss(gt, gt).item() == pytest.approx(0, abs=1e-2)
    assert silog_loss(gt * 2, gt, lam=1.0).item() == pytest.approx(0, abs=1e-2)
    assert silog_loss(gt * 2, gt, lam=0.85).item() > 1
    empty = torch.zeros_like(gt)
    assert silog_loss(gt, empty).item() == 0
    assert silog_loss(gt, empty, balance=1.0).item() == 0
    assert silog_loss(gt * 2, gt, lam=1.0, balance=1.0).item() == pytest.approx(0, abs=1e-2)


def test_band_balance_gives_each_distance_band_equal_weight():
    gt = torch.zeros(2, 1, 10, 10)
    gt.view(-1)[:90] = 7.0  # 90 points in 5-10 m
    gt.view(-1)[90:100] = 50.0  # 10 in 40-80 m
    mask = gt > 0.5
    w = band_weights(gt, mask, 1.0)
    assert w[~mask].eq(0).all() and float(w[mask].mean()) == pytest.approx(1.0)
    assert float(w[gt == 7.0].sum()) == pytest.approx(float(w[gt == 50.0].sum()))
    assert torch.equal(band_weights(gt, mask, 0.0), mask.float())
    # the far band's error counts as much as the near band's: a 2x error on the 10 far points alone
    pred = torch.where(gt == 50.0, gt * 2, gt).clamp_min(1)
    plain, balanced = silog_loss(pred, gt, lam=0.0), silog_loss(pred, gt, lam=0.0, balance=1.0)
    assert balanced > 2 * plain


def test_metrics_known_values():
    gt = np.array([10.0, 20.0, 0.0, 100.0])
    r = depth_metrics(np.array([11.0, 18.0, 5.0, 5.0]), gt, "nuscenes")
    assert r["abs_rel"] == pytest.approx((0.1 + 0.1) / 2)
    assert r["d1"] == 1.0
    gt3 = np.array([10.0, 20.0, 40.0])
    assert depth_metrics(gt3 * 2, gt3, median_scale=True)["abs_rel"] == pytest.approx(0, abs=1e-9)


def test_student_shapes_and_ordered_centres():
    net = build_student(StudentConfig(base_width=8, decoder_width=16, n_bins=16, blocks=(1, 1, 1, 1)))
    out = net(torch.randn(2, 3, 64, 96))
    assert out["depth"].shape == (2, 1, 64, 96) and out["probs"].shape == (2, 16, 32, 48)
    c = out["centers"]
    assert (c[:, 1:] > c[:, :-1]).all() and (c > 0.5).all() and (c < 100).all()


def test_short_training_checkpoints_and_resumes(tiny_world, tmp_path):
    over = {"out_dir": str(tmp_path / "run"), "data": {"root": str(tiny_world), "input_hw": [64, 96]},
            "optim": {"steps": 4}, "checkpoint_every": 2, "log_every": 1}
    cfg = load_config("configs/synthetic_tiny.yaml" if __import__("os").path.exists("configs/synthetic_tiny.yaml")
                      else None, over)
    r1 = train(cfg, progress=False)
    assert r1["steps"] == 4 and all(np.isfinite(h["loss"]) for h in r1["history"])
    ck = load_checkpoint(tmp_path / "run")
    assert ck["step"] == 4
    cfg2 = load_config(None, {**over, "model": cfg.model.__dict__ | {"blocks": list(cfg.model.blocks)},
                              "optim": {"steps": 6}})
    r2 = train(cfg2, progress=False)
    assert r2["steps"] == 6 and [h["step"] for h in r2["history"]][-2:] == [5, 6]
    assert json.loads((tmp_path / "run" / "result.json").read_text())["steps"] == 6


def test_unknown_config_keys_are_errors():
    with pytest.raises(ValueError, match="unknown config key 'optim.stepz'"):
        load_config(None, {"optim": {"stepz": 3}})


def test_stop_at_ends_a_run_early_on_the_full_runs_schedule(tiny_world, tmp_path):
    """optim.stop_at S: the network the full run passes through at step S (same lr schedule, same batches), then a
    resume without it runs on to optim.steps."""
    def cfg(out, **optim):
        over = {"out_dir": str(tmp_path / out), "data": {"root": str(tiny_world), "input_hw": [64, 96]},
                "optim": {"steps": 6, **optim}, "checkpoint_every": 3, "log_every": 1}
        return load_config(Path(__file__).resolve().parents[1] / "configs" / "synthetic_tiny.yaml", over)

    full = train(cfg("full"), progress=False)
    stopped = train(cfg("stopped", stop_at=3), progress=False)
    assert stopped["steps"] == 3 and [h["step"] for h in stopped["history"]] == [1, 2, 3]
    assert [h["lr"] for h in stopped["history"]] == [h["lr"] for h in full["history"]][:3]
    ck = load_checkpoint(tmp_path / "stopped")
    assert ck["step"] == 3
    full3 = torch.load(tmp_path / "full" / "ckpt_0000003.pt", map_location="cpu", weights_only=False)
    for k, v in ck["model"].items():
        torch.testing.assert_close(v, full3["model"][k], msg=k)
    assert train(cfg("stopped"), progress=False)["steps"] == 6
    with pytest.raises(ValueError, match="optim.stop_at"):
        cfg("bad", stop_at=7)


def test_weight_average_is_the_mean_of_the_tail_and_survives_resume(tiny_world, tmp_path):
    """optim.average_from K: the validated (and exported) network is the mean of the weights after steps K..N; the
    training itself is unchanged, and a run stopped and resumed in the tail gives the same mean."""
    def cfg(out, **optim):
        over = {"out_dir": str(tmp_path / out), "data": {"root": str(tiny_world), "input_hw": [64, 96]},
                "optim": {"steps": 6, **optim}, "checkpoint_every": 1, "log_every": 1}
        return load_config(Path(__file__).resolve().parents[1] / "configs" / "synthetic_tiny.yaml", over)

    def ckpt(out, step):
        return torch.load(tmp_path / out / f"ckpt_{step:07d}.pt", map_location="cpu", weights_only=False)

    train(cfg("plain"), progress=False)
    train(cfg("at4", stop_at=4), progress=False)  # the plain run's step 4, bit for bit (the stop_at test)
    tail = [ckpt("at4", 4)["model"], ckpt("plain", 5)["model"], ckpt("plain", 6)["model"]]
    floats = [k for k, v in tail[0].items() if v.is_floating_point()]
    assert any(not torch.equal(tail[0][k], tail[2][k]) for k in floats)  # the tail moves: the mean is not one of them

    res = train(cfg("avg", average_from=4), progress=False)
    ck = load_checkpoint(tmp_path / "avg")
    assert res["averaged_steps"] == 3 and ck["average"]["n"] == 3
    for k, v in ck["model"].items():  # averaging does not change the training: the last step's weights are kept
        torch.testing.assert_close(v, tail[2][k], rtol=0, atol=0, msg=k)
    mean = {k: torch.stack([w[k] for w in tail]).mean(0) for k in floats}
    for k in floats:
        torch.testing.assert_close(ck["average"]["avg"][k], mean[k], msg=k)
    params = {n for n, _ in build_student(cfg("avg").model).named_parameters()}
    assert res["weights_by_rank"][0] == pytest.approx(sum(float(mean[k].double().sum()) for k in params), rel=1e-5)

    train(cfg("resumed", average_from=4, stop_at=5), progress=False)
    again = train(cfg("resumed", average_from=4), progress=False)
    assert again["averaged_steps"] == 3
    for k in floats:
        torch.testing.assert_close(load_checkpoint(tmp_path / "resumed")["average"]["avg"][k], ck["average"]["avg"][k],
                                   msg=k)
    with pytest.raises(ValueError, match="no weight average"):  # the plain run's step-6 checkpoint has none
        train(cfg("plain", average_from=4), progress=False)
    with pytest.raises(ValueError, match="optim.average_from"):
        cfg("bad", average_from=7)
