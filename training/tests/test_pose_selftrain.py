"""The pose network trained toward its own refined motion (engine/pose_selftrain.py; issue 14's pose line)."""
from __future__ import annotations

import json

import torch

from fsmde_train.engine.pose_selftrain import reversed_motion, signed_refinement
from fsmde_train.eval.pose_eval import rotation_angle_deg
from fsmde_train.networks.pose_refine import refine_motion

from .test_pose_refine import _frame, seq  # noqa: F401 - the tiny world's sequence (fixture) and one frame of it


def _t_err(M, M_gt):
    return float(torch.linalg.norm(M[:3, 3] - M_gt[:3, 3]) / torch.linalg.norm(M_gt[:3, 3]))


def test_the_sign_check_leaves_a_reversed_start_that_the_refinement_alone_keeps(seq):  # noqa: F811 (fixture)
    """Through exact depth, levels 4 and 2 only (the labels'): within 5 % on the tiny 108 x 192 world."""
    rgb_t, rgb_s, depth, K, E, M_gt = _frame(seq)
    M_rev = reversed_motion(M_gt)
    M_rev[:3, 3] *= 0.9  # a reversed network answer, a little short
    assert _t_err(M_rev, M_gt) > 1.8
    plain = refine_motion(rgb_t, rgb_s, depth, K, E, M_rev, scales=(4, 2))
    assert _t_err(plain["M"], M_gt) > 1.0  # local: it stays on the wrong side
    r = signed_refinement(rgb_t, rgb_s, depth, K, E, M_rev)
    assert r["flipped"] and _t_err(r["M"], M_gt) < 0.05
    assert rotation_angle_deg(r["M"][:3, :3].double().T @ M_gt[:3, :3].double()) < 0.05
    M_short = M_gt.clone()
    M_short[:3, 3] *= 0.8  # a start of the right sign keeps it
    r = signed_refinement(rgb_t, rgb_s, depth, K, E, M_short)
    assert not r["flipped"] and _t_err(r["M"], M_gt) < 0.05 and r["error_after"] < r["error_before"]


def test_pose_selftrain_fits_the_pose_network_to_its_labels_leaves_the_student_and_resumes(tiny_world, tmp_path):
    from fsmde_train.convert.nusc2bag import ConvertConfig, convert
    from fsmde_train.engine.checkpoint import load_checkpoint
    from fsmde_train.engine.config import load_config
    from fsmde_train.engine.pose_selftrain import SelftrainConfig, _Pieces, main
    from fsmde_train.engine.trainer import pose_distill_loss, train
    from fsmde_train.eval.pose_eval import main as pose_eval

    convert(tiny_world, "v1.0-synth", tmp_path / "noodom", ["scene-0001"], ConvertConfig(lidar=False, odometry=False),
            log=lambda *a: None)
    run, out = tmp_path / "run", tmp_path / "selftrain"
    train(load_config(None, {
        "out_dir": str(run), "threads": 1, "log_every": 5, "checkpoint_every": 10, "pose_net": True,
        "pose_stagger": False, "pose_depth_input": "inverse",
        "model": {"base_width": 8, "decoder_width": 16, "n_bins": 16, "blocks": [1, 1, 1, 1]},
        "teacher": {"kind": "none"}, "loss": {"silog": 0.0, "bins": 0.0, "photo_temporal": 1.0, "photo_spatial": 1.0},
        "data": {"bags": [str(tmp_path / "noodom" / "scene-0001")], "sequence": True, "input_hw": [64, 96]},
        "optim": {"steps": 10, "batch_size": 1, "lr": 0.002, "warmup_steps": 5}}), progress=False)
    before = load_checkpoint(run)
    args = ["--run", str(run), "--out", str(out), "--quiet", "--set", "label_every=4", "label_iters=4",
            "checkpoint_every=10", "lr=0.001", "warmup_steps=2"]
    assert main([*args, "steps=40"]) == 0
    lab = torch.load(out / "labels.pt", weights_only=True)
    n = len(lab["triples"])
    assert n >= 2 and len(lab["M"]) == 2 * n and set(json.loads((out / "result.json").read_text())) >= {"labels"}
    st = load_checkpoint(out)
    assert st["pose_selftrain_step"] == 40 and "pose_selftrain" in json.loads(st["config"])
    assert all(torch.equal(st["model"][k], before["model"][k]) for k in before["model"])  # the student is kept
    # toward the labels: the whole labelled set's L1 falls below the trained network's (labels.pt's M_net)
    p = _Pieces(out, SelftrainConfig(**{k: tuple(v) if isinstance(v, list) else v
                                        for k, v in lab["config"].items()}), progress=False)
    with torch.no_grad():
        M = torch.cat([p.motions([p.ds[k]], [p.depth(p.ds[k])]) for k in lab["triples"]])
    target = torch.stack(lab["M"])
    assert float(pose_distill_loss(M, target)) < float(pose_distill_loss(torch.stack(lab["M_net"]), target))
    # resumed: labels kept, the fit continues from step 40
    mtime = (out / "labels.pt").stat().st_mtime_ns
    assert main([*args, "steps=44"]) == 0
    st = load_checkpoint(out)
    assert st["pose_selftrain_step"] == 44 and len(json.loads(st["history"])) == 44
    assert (out / "labels.pt").stat().st_mtime_ns == mtime
    assert pose_eval(["--run", str(out), "--data-root", str(tiny_world), "--scenes", "scene-0001"]) == 0
    # another fit from the same labels (--labels), every pass pulled toward them: no labelling, the fit runs
    out2 = tmp_path / "selftrain_pw"
    assert main(["--run", str(run), "--out", str(out2), "--quiet", "--labels", str(out / "labels.pt"), "--set",
                 "label_every=4", "label_iters=4", "steps=3", "pass_weight=0.8"]) == 0
    assert (out2 / "labels.pt").read_bytes() == (out / "labels.pt").read_bytes()
    assert load_checkpoint(out2)["pose_selftrain_step"] == 3
    # a new one-pass network with a correlation volume fitted from scratch to the same labels; fsmde-pose-eval
    # rebuilds it from the checkpoint's config
    out3 = tmp_path / "selftrain_corr"
    assert main(["--run", str(run), "--out", str(out3), "--quiet", "--labels", str(out / "labels.pt"), "--set",
                 "label_every=4", "label_iters=4", "steps=3", "fresh_network=true", "correlation=2"]) == 0
    cfg3 = json.loads(load_checkpoint(out3)["config"])
    assert cfg3["pose_correlation"] == 2 and cfg3["pose_iterations"] == 1
    assert pose_eval(["--run", str(out3), "--data-root", str(tiny_world), "--scenes", "scene-0001"]) == 0
    # labels of another bag (another scene) appended: the run's own labels are kept as they were, the new bag's are
    # made, and the fit reads both
    convert(tiny_world, "v1.0-synth", tmp_path / "noodom2", ["scene-0002"],
            ConvertConfig(lidar=False, odometry=False), log=lambda *a: None)
    out4 = tmp_path / "selftrain_more"
    assert main(["--run", str(run), "--out", str(out4), "--quiet", "--labels", str(out / "labels.pt"), "--set",
                 "label_every=4", "label_iters=4", "steps=3", f"extra_bags=[{tmp_path / 'noodom2'}]"]) == 0
    lab4 = torch.load(out4 / "labels.pt", weights_only=True)
    assert lab4["triples"][:n] == lab["triples"] and len(lab4["triples"]) > n
    assert all(torch.equal(a, b) for a, b in zip(lab4["M"][:2 * n], lab["M"]))
    assert list(lab4["config"]["extra_bags"]) == [str(tmp_path / "noodom2")]
    p4 = _Pieces(out4, SelftrainConfig(extra_bags=(str(tmp_path / "noodom2"),)), progress=False)
    assert len(p4.ds) > len(p.ds) and max(lab4["triples"]) >= len(p.ds)  # labels inside the new bag
    assert main(["--run", str(run), "--out", str(tmp_path / "y"), "--set", "correlation=2"]) == 2  # fine-tune: no
    assert main(["--run", str(run), "--out", str(tmp_path / "x"), "--labels", str(tmp_path / "none.pt")]) == 2


def test_pose_selftrain_refuses_a_run_without_a_pose_network_and_writes_nothing(tmp_path, capsys):
    from fsmde_train.engine.pose_selftrain import main

    assert main(["--run", str(tmp_path / "none"), "--out", str(tmp_path / "out")]) == 2
    assert "fsmde-pose-selftrain: error:" in capsys.readouterr().err and not (tmp_path / "out").exists()
    assert main(["--run", str(tmp_path / "none"), "--out", str(tmp_path / "out"), "--set", "steps=0"]) == 2
    assert main(["--run", str(tmp_path / "none"), "--out", str(tmp_path / "out"), "--set", "bogus=1"]) == 2
    assert main(["--run", str(tmp_path / "none"), "--out", str(tmp_path / "out"), "--set", "pass_weight=2"]) == 2
