"""Training survives being killed: checksummed checkpoints with fallback, exact resume, NaN guard, SIGKILL."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from fsmde_train.data import StepBatchSampler
from fsmde_train.engine import trainer as trainer_mod
from fsmde_train.engine.checkpoint import load_checkpoint, save_checkpoint
from fsmde_train.engine.config import load_config

TRAINING = Path(__file__).resolve().parents[1]


def test_checkpoint_fallbacks(tmp_path):
    run = tmp_path / "run"
    for step in (10, 20, 30):
        save_checkpoint(run, {"w": torch.full((3,), float(step)), "step": step}, step, keep=2)
    assert sorted(p.name for p in run.glob("ckpt_*.pt")) == ["ckpt_0000020.pt", "ckpt_0000030.pt"]
    assert load_checkpoint(run)["step"] == 30
    # a kill mid-write leaves only a .tmp: ignored
    (run / "ckpt_0000040.pt.tmp").write_bytes(b"\x00" * 100)
    assert load_checkpoint(run)["step"] == 30
    # the newest file damaged after the fact: its sha256 fails, the previous one loads, with a warning
    (run / "ckpt_0000030.pt").write_bytes((run / "ckpt_0000030.pt").read_bytes()[:-10])
    logs = []
    assert load_checkpoint(run, log=logs.append)["step"] == 20
    assert "fails its sha256" in logs[0]
    # a kill between the file's rename and latest.json's: the renamed (complete) newer file is used
    save_checkpoint(tmp_path / "r2", {"step": 1}, 1)
    torch.save({"step": 2}, tmp_path / "r2" / "ckpt_0000002.pt")
    assert load_checkpoint(tmp_path / "r2")["step"] == 2
    # latest.json itself garbage: files on disk still found
    (tmp_path / "r2" / "latest.json").write_text("{")
    assert load_checkpoint(tmp_path / "r2")["step"] == 2
    assert load_checkpoint(tmp_path / "empty") is None


def test_checkpoints_never_unpickle_code(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    run = tmp_path / "run"
    save_checkpoint(run, {"step": 1}, 1)
    (run / "ckpt_0000002.pt").write_bytes(pickle.dumps({"step": Evil()}))
    logs = []
    assert load_checkpoint(run, log=logs.append)["step"] == 1, "the unsafe file is refused, the safe one loads"
    assert "does not load" in logs[0]


def test_batches_are_a_function_of_seed_and_step():
    full = list(StepBatchSampler(10, 3, seed=4, start_step=0, total_steps=9))
    resumed = list(StepBatchSampler(10, 3, seed=4, start_step=5, total_steps=9))
    assert full[5:] == resumed and all(len(b) == 3 for b in full)
    assert sorted(sum(full[:3], [])) == sorted(set(sum(full[:3], []))), "no repeats within an epoch"
    shards = [list(StepBatchSampler(10, 2, 4, 0, 3, rank=r, world=2)) for r in (0, 1)]
    assert all(not set(a) & set(b) for a, b in zip(*shards)), "ranks take disjoint shares of a batch"


def tiny_over(world, out, steps, **extra):
    return {"out_dir": str(out), "threads": 1, "data": {"root": str(world), "input_hw": [64, 96], "sweeps": False},
            "model": {"base_width": 8, "decoder_width": 16, "n_bins": 16, "blocks": [1, 1, 1, 1]},
            "optim": {"steps": steps, "batch_size": 1, "warmup_steps": 2}, "log_every": 1, **extra}


def test_nan_loss_skips_the_step_and_leaves_weights(tiny_world, tmp_path, monkeypatch, capsys):
    from fsmde_train.losses import objective

    real, calls = objective.silog_loss, []

    def flaky(*a, **k):
        calls.append(1)
        loss = real(*a, **k)
        return loss * float("nan") if len(calls) == 4 else loss

    monkeypatch.setattr(objective, "silog_loss", flaky)
    r = trainer_mod.train(load_config(None, tiny_over(tiny_world, tmp_path / "run", 4, checkpoint_every=1)),
                          progress=False)
    assert r["steps"] == 4 and r["skipped_steps"] == 1
    assert "warning: non-finite loss nan at step 3; step skipped, weights untouched" in capsys.readouterr().out
    ck3 = torch.load(tmp_path / "run" / "ckpt_0000003.pt", weights_only=True)
    ck4 = load_checkpoint(tmp_path / "run")
    assert ck4["step"] == 4 and ck4["skipped"] == 1
    for k, v in ck3["model"].items():
        assert torch.equal(v, ck4["model"][k]), f"{k} changed in the skipped step"
    assert all(torch.isfinite(v).all() for v in ck4["model"].values() if v.is_floating_point())


def run_cli(args, **kw):
    return subprocess.Popen([sys.executable, "-m", "fsmde_train.engine.trainer", *args], cwd=TRAINING,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def cli_args(world, out, steps=40):
    sets = [f"out_dir={out}", f"data.root={world}", "data.sweeps=false", "threads=1", f"optim.steps={steps}",
            "checkpoint_every=3", "log_every=1"]
    return ["--config", "configs/synthetic_tiny.yaml", "--set", *sets]


def test_sigkill_at_a_random_point_then_resume_matches_an_uninterrupted_run(tiny_world, tmp_path):
    ref = run_cli(cli_args(tiny_world, tmp_path / "ref"))
    assert ref.wait(timeout=300) == 0, ref.stdout.read()
    seed = int(os.environ.get("FSMDE_KILL_SEED", time.time_ns() % 10**6))
    delay = random.Random(seed).uniform(0.0, 1.5)
    print(f"kill point: {delay:.3f} s after the first checkpoint (FSMDE_KILL_SEED={seed} repeats it)")
    run = tmp_path / "killed"
    p = run_cli(cli_args(tiny_world, run))
    deadline = time.time() + 120
    while not (run / "latest.json").exists() and p.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(delay)
    p.send_signal(signal.SIGKILL)
    p.wait()
    killed_at = load_checkpoint(run)
    assert killed_at is not None, "a loadable checkpoint survives the kill"
    r = run_cli(cli_args(tiny_world, run))
    out = r.communicate(timeout=300)[0]
    assert r.returncode == 0, out
    if killed_at["step"] < 40:
        assert f"resumed from {run} at step {killed_at['step']}" in out
    got, want = (json.loads((d / "result.json").read_text()) for d in (run, tmp_path / "ref"))
    assert got["steps"] == want["steps"] == 40
    a, b = load_checkpoint(run)["model"], load_checkpoint(tmp_path / "ref")["model"]
    for k in a:  # same batches, same RNG, same optimizer state: the same weights
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=f"{k} differs after resume")
    assert [h["loss"] for h in got["history"]][-5:] == [h["loss"] for h in want["history"]][-5:]
