"""The learned stand-in teacher (issue 12, item 1): SSI loss, fsmde-teacher (tiny, seconds), checked loading, eval."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fsmde_train.losses.ssi import ssi_loss
from fsmde_train.networks.teacher import TEACHER_MANIFEST, TeacherConfig, build_teacher

TRAINING = Path(__file__).resolve().parents[1]


def test_ssi_loss_is_invariant_to_scale_and_shift_and_sees_structure():
    g = torch.Generator().manual_seed(0)
    depth = torch.rand(2, 1, 16, 24, generator=g) * 40 + 1
    depth[:, :, :3] = 0  # sky rows: inverse depth 0
    inv = torch.where(depth > 0, 1 / depth.clamp_min(1e-3), torch.zeros_like(depth))
    assert float(ssi_loss(inv, depth)) < 1e-5
    assert float(ssi_loss(7.0 * inv + 0.3, depth)) < 1e-5
    assert float(ssi_loss(depth, depth)) > 0.5  # depth instead of inverse depth: wrong structure
    assert float(ssi_loss(torch.rand(2, 1, 16, 24, generator=g), depth)) > 0.5


def _train(tiny_world, out: Path, *sets: str) -> int:
    from fsmde_train.engine.teacher_trainer import main

    return main(["--config", str(TRAINING / "configs/teacher_tiny.yaml"), "--quiet", "--set", f"world={tiny_world}",
                 f"out={out}", *sets])


@pytest.fixture(scope="module")
def tiny_teacher(tiny_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("teacher") / "learned"
    assert _train(tiny_world, out, "steps=20", "checkpoint_every=10") == 0
    return out


def test_fsmde_teacher_writes_a_checked_transformers_folder(tiny_teacher, tmp_path):
    files = sorted(p.name for p in tiny_teacher.iterdir())
    assert files == ["config.json", "model.safetensors", TEACHER_MANIFEST]
    assert not tiny_teacher.with_name("learned.run").exists() and not tiny_teacher.with_name("learned.tmp").exists()
    m = json.loads((tiny_teacher / TEACHER_MANIFEST).read_text())
    assert set(m["files"]) == {"config.json", "model.safetensors"} and m["input_hw"] == [70, 126]
    t = build_teacher(TeacherConfig(kind="learned", model=str(tiny_teacher)))
    out = t(torch.randn(3, 3, 64, 96))
    assert out["rel"].shape == (3, 1, 64, 96) and out["features"].shape == (3, 24, 5, 9)
    assert torch.isfinite(out["rel"]).all()
    # the output is calibrated to DA-V2's range: farthest ~0, nearest ~10 on its own world's images
    from fsmde_train.data import SurroundDataset

    assert m["output_calibration"]["scale"] > 0
    ds = SurroundDataset(m["train"]["world"], "v1.0-synth", input_hw=(64, 96), sweeps=False, progress=False)
    rel = t(ds[0]["image"][:, :3])["rel"]
    assert float(rel.min()) >= 0 and 3 < float(rel.quantile(0.99)) < 30

    # an altered or missing file is refused by name
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny_teacher, bad)
    data = bytearray((bad / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (bad / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="model.safetensors does not match its sha256"):
        build_teacher(TeacherConfig(kind="learned", model=str(bad)))
    (bad / TEACHER_MANIFEST).unlink()
    with pytest.raises(ValueError, match="teacher_manifest.json not found"):
        build_teacher(TeacherConfig(kind="learned", model=str(bad)))


def test_an_interrupted_teacher_run_resumes_to_the_same_weights(tiny_world, tiny_teacher, tmp_path, monkeypatch):
    import fsmde_train.engine.teacher_trainer as tt
    from safetensors.torch import load_file

    real = tt.ssi_loss
    calls = {"n": 0}

    def dies_at_step_15(*a, **k):
        calls["n"] += 1
        if calls["n"] > 15:
            raise KeyboardInterrupt
        return real(*a, **k)

    out = tmp_path / "learned"
    monkeypatch.setattr(tt, "ssi_loss", dies_at_step_15)
    with pytest.raises(KeyboardInterrupt):
        _train(tiny_world, out, "steps=20", "checkpoint_every=10")
    assert not out.exists() and (tmp_path / "learned.run" / "latest.json").exists()
    monkeypatch.setattr(tt, "ssi_loss", real)
    assert _train(tiny_world, out, "steps=20", "checkpoint_every=10") == 0
    a, b = load_file(out / "model.safetensors"), load_file(tiny_teacher / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


def test_teacher_eval_measures_the_diagnostic_teachers_edge_bleeding(tiny_world, nusc, tiny_teacher):
    """The GT + blur + noise diagnostic fits to a small AbsRel, worse near depth edges (its blur) than elsewhere;
    the tiny learned teacher runs through the same evaluation."""
    from fsmde_train.data import SurroundDataset
    from fsmde_train.eval.teacher_eval import evaluate_teacher, format_report

    ds = SurroundDataset(tiny_world, "v1.0-synth", input_hw=(64, 96), sweeps=False, gt="lidar", progress=False,
                         nusc=nusc)
    r = evaluate_teacher(build_teacher(TeacherConfig(kind="standin")), ds, max_sets=4)
    assert r["images"] >= 12 and r["abs_rel"] < 0.1
    assert r["abs_rel_near_edges"] > 1.5 * r["abs_rel_elsewhere"]
    assert "AbsRel" in format_report("standin", r)
    r = evaluate_teacher(build_teacher(TeacherConfig(kind="learned", model=str(tiny_teacher))), ds, max_sets=2)
    assert r["images"] + r["unfit_images"] == 12


def test_teacher_outputs_are_cached_per_set_without_changing_training(tiny_world, tiny_teacher, tmp_path):
    """With the cache on, each camera set's teacher forward runs once; the run is the same as with it off."""
    from fsmde_train.engine import trainer as T
    from fsmde_train.engine.config import load_config

    calls = []

    def run(cache: bool, out):
        cfg = load_config(TRAINING / "configs/synthetic_tiny.yaml",
                          {"data": {"root": str(tiny_world)}, "out_dir": str(out), "optim": {"steps": 12},
                           "teacher": {"kind": "learned", "model": str(tiny_teacher), "cache": cache},
                           "tensorboard": False, "image_every": 0, "log_every": 4, "threads": 1})
        orig = T.build_teacher

        def counting(c):
            t = orig(c)
            f = t.forward
            t.forward = lambda *a, **k: (calls.append(1), f(*a, **k))[1]
            return t

        T.build_teacher = counting
        try:
            calls.clear()
            r = T.train(cfg, progress=False)
        finally:
            T.build_teacher = orig
        return r, len(calls)

    cached, n_cached = run(True, tmp_path / "a")
    plain, n_plain = run(False, tmp_path / "b")
    assert n_plain == 12 and n_cached < 12  # the tiny world's key frames repeat within 12 steps
    for a, b in zip(cached["history"], plain["history"]):
        assert abs(a["loss"] - b["loss"]) < 1e-4 * abs(b["loss"]), (a, b)


def test_a_teacher_whose_head_died_stops_with_one_line_and_writes_nothing(tiny_world, tmp_path, monkeypatch, capsys):
    """TV2A (RESULTS.md) died this way at step ~350: the head's inner ReLU 0 everywhere, the output one constant,
    and no gradient left to revive it. Here the same state is made at step 0 (conv2's bias far below its input)."""
    import fsmde_train.engine.teacher_trainer as tt

    real = tt._prepare_head

    def dead_head(model, cfg):
        real(model, cfg)
        with torch.no_grad():
            model.head.conv2.bias.fill_(-100.0)

    monkeypatch.setattr(tt, "_prepare_head", dead_head)
    out = tmp_path / "learned"
    assert _train(tiny_world, out, "steps=20", "checkpoint_every=5", "collapse_patience=8") == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "ReLU has been 0 on every pixel of every view since step 1" in err[0] and "head_leak" in err[0], err
    assert not out.exists() and not list((tmp_path / "learned.run").glob("ckpt_*"))  # no dead checkpoint either


def test_the_head_leak_falls_to_a_plain_relu_before_the_end(tiny_world, tmp_path):
    from fsmde_train.engine.teacher_trainer import TeacherTrainConfig, head_leak_at

    cfg = TeacherTrainConfig(steps=100, head_leak=0.2)
    assert head_leak_at(cfg, 0) == 0.2 and 0 < head_leak_at(cfg, 45) < 0.2
    assert head_leak_at(cfg, 90) == 0.0 and head_leak_at(cfg, 99) == 0.0
    assert head_leak_at(TeacherTrainConfig(steps=100), 0) == 0.0  # off: v1's recipe
    out = tmp_path / "learned"
    assert _train(tiny_world, out, "steps=20", "checkpoint_every=10", "head_leak=0.2") == 0
    rel = build_teacher(TeacherConfig(kind="learned", model=str(out)))(torch.randn(2, 3, 64, 96))["rel"]
    assert torch.isfinite(rel).all() and float(rel.flatten(1).std(1).min()) > 0
