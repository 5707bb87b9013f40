"""Temporal fusion in the student (issue 14 item 3): the previous set's state per camera, identity without it,
exported with its state inputs and output (ONNX, torch program, manifest); the node's side is
test/test_temporal_state.py."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from fsmde_train.engine.config import load_config
from fsmde_train.export import export_model
from fsmde_train.networks import StudentConfig, build_student

TINY_YAML = Path(__file__).resolve().parents[1] / "configs" / "synthetic_tiny.yaml"

TINY = StudentConfig(base_width=8, decoder_width=16, n_bins=16, blocks=(1, 1, 1, 1), output_stride=4, temporal=True)


def _trained_like(cfg=TINY):
    """A temporal net whose fusion block is not the identity (as after training)."""
    torch.manual_seed(0)
    net = build_student(cfg)
    with torch.no_grad():
        for p in net.temporal.parameters():
            p.normal_(0, 0.1)
    return net.eval()


def test_without_history_the_network_is_the_plain_one():
    net = build_student(TINY).eval()  # untrained: the last conv is 0
    plain = build_student(dataclasses.replace(TINY, temporal=False)).eval()
    plain.load_state_dict(net.state_dict(), strict=False)
    x, prev = torch.randn(3, 3, 64, 96), torch.randn(3, 64, 2, 3)
    with torch.no_grad():
        ref = plain(x)["depth"]
        assert torch.equal(net(x)["depth"], ref)
        assert torch.equal(net(x, prev, torch.ones(3))["depth"], ref)  # zero-initialised: identity at first
        trained = _trained_like()
        a = trained(x)["depth"]
        b = trained(x, prev, torch.zeros(3))["depth"]  # valid 0 = no history, whatever the state holds
        c = trained(x, prev, torch.tensor([1.0, 0.0, 1.0]))["depth"]
    assert torch.equal(a, b)
    assert torch.equal(c[1], a[1]) and not torch.allclose(c[0], a[0]) and not torch.allclose(c[2], a[2])


def test_the_state_is_the_bottleneck_before_fusion():
    net = _trained_like()
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        out = net(x, torch.randn(2, 64, 2, 3), torch.ones(2))
        assert out["state"].shape == (2, 64, 2, 3)
        assert torch.equal(out["state"], net.state_of(x))  # never feeds back on itself


def test_config_needs_sequences():
    with pytest.raises(ValueError, match="model.temporal needs data.sequence"):
        load_config(overrides={"model": {"temporal": True}})
    # the node's state is the previous set's: a stride-2 triple would train on a state two sets back
    with pytest.raises(ValueError, match="model.temporal needs data.sequence_strides"):
        load_config(overrides={"model": {"temporal": True}, "data": {"sequence": True, "sequence_strides": [1, 2]}})
    with pytest.raises(ValueError, match="data.sequence_strides must be distinct integers"):
        load_config(overrides={"data": {"sequence": True, "sequence_strides": [0]}})


def test_export_carries_the_state(tmp_path):
    import onnxruntime as ort

    net = _trained_like()
    man = export_model(net, tmp_path, name="tmp", input_hw=(64, 96), canonical_focal_px=70.0, cameras=["A", "B"])
    f = man["fusion"]
    assert f["state"] == "previous_set" and f["state_shape"] == [64, 2, 3] and f["kind"] == "none"
    p = man["parity"]
    assert p["onnx_vs_torch_max_rel"] < 1e-4 and p["program_vs_torch_max_rel"] < 1e-4 and p["state_max_abs"] < 1e-4
    x, prev, valid = torch.randn(4, 3, 64, 96), torch.randn(4, 64, 2, 3), torch.tensor([1.0, 0.0, 1.0, 1.0])
    with torch.no_grad():
        ref = net(x, prev, valid)
    sess = ort.InferenceSession(str(tmp_path / "student.onnx"), providers=["CPUExecutionProvider"])
    depth, state = sess.run(["depth", "state"], {"image": x.numpy(), "prev_state": prev.numpy(),
                                                 "prev_valid": valid.numpy()})
    np.testing.assert_allclose(depth, ref["depth"].numpy(), rtol=1e-4)
    np.testing.assert_allclose(state, ref["state"].numpy(), rtol=1e-4, atol=1e-5)
    d2, s2 = torch.export.load(str(tmp_path / "student.pt2")).module()(x, prev, valid)
    np.testing.assert_allclose(d2.detach().numpy(), ref["depth"].numpy(), rtol=1e-4)


def test_a_temporal_run_trains_its_fusion_from_the_previous_frame(tiny_world, tmp_path):
    from fsmde_train.engine.trainer import train
    from fsmde_train.eval.cli import load_run

    over = {"out_dir": str(tmp_path / "run"), "data": {"root": str(tiny_world), "input_hw": [64, 96], "sequence": True, "sweeps": True,
                                                       "gt": "dense"},
            "model": {"temporal": True}, "loss": {"photo_temporal": 1.0, "photo_spatial": 1.0, "smooth": 0.001},
            "optim": {"steps": 3}, "checkpoint_every": 3, "log_every": 1, "tensorboard": False}
    r = train(load_config(TINY_YAML, over), progress=False)
    assert r["steps"] == 3 and all(np.isfinite(h["loss"]) for h in r["history"])
    net, _ = load_run(tmp_path / "run")
    assert float(net.temporal.mix[-1].weight.abs().max()) > 0  # the zero-initialised block learned


def test_evaluation_feeds_the_state_set_by_set_within_a_scene(tiny_world, nusc, tmp_path):
    """fsmde-eval on a temporal run: sets in time order get the previous set's state, each scene starts fresh;
    the same network without history is reported beside it."""
    import json

    from fsmde_train.data import SurroundDataset
    from fsmde_train.eval import evaluate
    from fsmde_train.eval.cli import main
    from fsmde_train.eval.temporal import TemporalPredictor

    ds = SurroundDataset(tiny_world, "v1.0-synth", None, (64, 96), 70.0, sweeps=True, gt="dense", progress=False,
                         nusc=nusc)
    net = _trained_like()
    with_state = TemporalPredictor(net, ds.set_stamps(), ds.set_scenes())
    a = evaluate(with_state, ds, gt="dense")
    without = TemporalPredictor(net, ds.set_stamps(), ds.set_scenes(), history=False)
    b = evaluate(without, ds, gt="dense")
    n_scenes = len(set(ds.set_scenes()))
    assert with_state.resets == n_scenes and with_state.used == len(ds) - n_scenes  # time-ordered sets
    assert without.used == 0 and without.resets == len(ds)
    assert a["nuscenes"]["scale_aware"]["mean"]["abs_rel"] != b["nuscenes"]["scale_aware"]["mean"]["abs_rel"]
    # through the CLI, from a run folder
    run = tmp_path / "run"
    run.mkdir()
    from fsmde_train.engine.checkpoint import save_checkpoint

    cfg = {"model": {**net.cfg.__dict__, "blocks": list(net.cfg.blocks)},
           "data": {"input_hw": [64, 96], "canonical_focal_px": 70.0}}
    save_checkpoint(run, {"model": net.state_dict(), "step": 1, "config": json.dumps(cfg)}, 1)
    assert main(["--run", str(run), "--data-root", str(tiny_world), "--sweeps", "--out", str(tmp_path / "ev")]) == 0
    rows = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert set(rows) == {"run", "run (no history)"}
    assert rows["run"]["temporal"] == {"sets_with_state": len(ds) - n_scenes, "sets_without": n_scenes}
