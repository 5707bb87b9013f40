"""Cross-view fusion in the student (issue 14 item 3): identity at init, only ring neighbours interact, whole sets
only, and the export (ONNX, torch program, manifest) keeps it (the node's side: test/test_node_inprocess.py)."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from fsmde_train.engine.config import load_config
from fsmde_train.export import export_model
from fsmde_train.networks import StudentConfig, build_student

TINY_YAML = Path(__file__).resolve().parents[1] / "configs" / "synthetic_tiny.yaml"

CAMS = ["CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_FRONT_LEFT"]
TINY = StudentConfig(base_width=8, decoder_width=16, n_bins=16, blocks=(1, 1, 1, 1), output_stride=4,
                     cross_view=True, cross_view_heads=2)


def _net(open_gate: bool = True):
    torch.manual_seed(0)
    net = build_student(TINY).eval()
    if open_gate:
        with torch.no_grad():
            net.cross_view.gate.fill_(1.0)
    return net


def test_an_untrained_block_is_the_identity():
    fused = build_student(TINY).eval()
    plain = build_student(dataclasses.replace(TINY, cross_view=False)).eval()
    missing, unexpected = plain.load_state_dict(fused.state_dict(), strict=False)
    assert not missing and all(k.startswith("cross_view.") for k in unexpected)
    x = torch.randn(6, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(fused(x)["depth"], plain(x)["depth"])


def test_a_view_changes_only_its_ring_neighbours_and_its_own_set():
    net = _net()
    x = torch.randn(12, 3, 64, 96)  # two sets of six
    y = x.clone()
    y[3] += torch.randn(3, 64, 96)  # CAM_BACK of set 0
    with torch.no_grad():
        a, b = net(x)["depth"], net(y)["depth"]
    changed = [(a[i] - b[i]).abs().max().item() > 1e-6 for i in range(12)]
    assert changed[:6] == [False, False, True, True, True, False], changed  # CAM_BACK_RIGHT and CAM_BACK_LEFT
    assert not any(changed[6:])  # the other set is untouched
    # the ring closes: CAM_FRONT's neighbours are CAM_FRONT_LEFT (last) and CAM_FRONT_RIGHT
    z = x.clone()
    z[0] += torch.randn(3, 64, 96)
    with torch.no_grad():
        c = net(z)["depth"]
    assert [(a[i] - c[i]).abs().max().item() > 1e-6 for i in range(6)] == [True, True, False, False, False, True]


def test_a_partial_set_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="not whole sets of model.n_cam=6"):
        _net()(torch.randn(5, 3, 64, 96))


def test_config_refuses_cross_view_with_another_camera_count():
    with pytest.raises(ValueError, match="model.n_cam is 6 but data.cameras has 2"):
        load_config(overrides={"model": {"cross_view": True}, "data": {"cameras": CAMS[:2]}})


def test_export_keeps_the_fusion(tmp_path):
    net = _net()
    net.train()
    for _ in range(2):  # non-trivial BatchNorm statistics
        net(torch.randn(6, 3, 64, 96))
    net.eval()
    man = export_model(net, tmp_path, name="cv", input_hw=(64, 96), canonical_focal_px=70.0, cameras=CAMS)
    assert man["fusion"]["kind"] == "cross_view" and man["fusion"]["views_per_set"] == 6
    p = man["parity"]
    assert p["onnx_vs_torch_max_rel"] < 1e-4 and p["program_vs_torch_max_rel"] < 1e-4, p
    import onnxruntime as ort

    x = torch.randn(12, 3, 64, 96)  # two sets: another batch than the export's example
    with torch.no_grad():
        ref = net(x)["depth"].numpy()
    got = ort.InferenceSession(str(tmp_path / "student.onnx"), providers=["CPUExecutionProvider"]).run(
        ["depth"], {"image": x.numpy()})[0]
    assert np.abs(got - ref).max() / np.abs(ref).min() < 1e-4
    prog = torch.export.load(str(tmp_path / "student.pt2")).module()(x[6:]).detach().numpy()  # one set, as the node
    assert np.abs(prog - ref[6:]).max() / np.abs(ref[6:]).min() < 1e-4
    assert man["input"]["dynamic_batch"] is False
    assert man["cameras"] == CAMS  # the ring order the node must keep (test/test_node_inprocess.py)
    with pytest.raises(ValueError, match="cameras in ring order"):
        export_model(net, tmp_path / "bad", name="cv", input_hw=(64, 96), canonical_focal_px=70.0, cameras=["A"])


def test_a_model_without_fusion_says_so(tmp_path):
    net = build_student(dataclasses.replace(TINY, cross_view=False)).eval()
    man = export_model(net, tmp_path, name="plain", input_hw=(64, 96), canonical_focal_px=70.0, cameras=CAMS)
    assert man["fusion"] == {"kind": "none", "state": "none"} and man["input"]["dynamic_batch"] is True


def test_fusion_trains_and_switches_on_over_a_plain_run(tiny_world, tmp_path):
    from fsmde_train.engine.trainer import train
    from fsmde_train.eval.cli import load_run

    base = {"data": {"root": str(tiny_world), "input_hw": [64, 96]}, "optim": {"steps": 3}, "checkpoint_every": 3,
            "log_every": 1, "tensorboard": False}
    train(load_config(TINY_YAML, {**base, "out_dir": str(tmp_path / "plain")}), progress=False)
    fused_cfg = load_config(TINY_YAML,
                            {**base, "out_dir": str(tmp_path / "fused"), "init_from": str(tmp_path / "plain"),
                             "model": {"cross_view": True, "cross_view_heads": 2}})
    r = train(fused_cfg, progress=False)
    assert r["steps"] == 3 and all(np.isfinite(h["loss"]) for h in r["history"])
    net, _ = load_run(tmp_path / "fused")
    assert net.cfg.cross_view and float(net.cross_view.gate.abs()) > 0  # the gate learned to open
    with pytest.raises(ValueError, match="init_from"):  # the other way round is not a switch-on
        train(load_config(TINY_YAML, {**base, "out_dir": str(tmp_path / "back"),
                                                          "init_from": str(tmp_path / "fused")}), progress=False)
