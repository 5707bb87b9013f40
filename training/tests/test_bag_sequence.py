"""Camera sets and (t-1, t, t+1) triples straight from a rosbag2 (issue 14), checked against the dataset it came from."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fsmde_train.data.bag import BagError, BagSurround, expand_bags
from fsmde_train.data.sequence import SurroundSequence

HW = (108, 192)


@pytest.fixture(scope="module")
def bags(tiny_world, tmp_path_factory):
    from fsmde_train.convert.nusc2bag import ConvertConfig, Topics, convert

    out = tmp_path_factory.mktemp("bags")
    convert(tiny_world, "v1.0-synth", out / "ok", ["scene-0001"], ConvertConfig(lidar=False), log=lambda *a: None)
    convert(tiny_world, "v1.0-synth", out / "notf", ["scene-0001"], ConvertConfig(lidar=False, tf=False),
            log=lambda *a: None)
    convert(tiny_world, "v1.0-synth", out / "noinfo", ["scene-0001"],
            ConvertConfig(lidar=False, topics=Topics(camera_info="/{channel}/elsewhere")), log=lambda *a: None)
    return out


def test_a_bag_gives_the_datasets_sets_poses_and_triples(bags, tiny_world, nusc):
    from fsmde_train.data import SurroundDataset

    ds = SurroundDataset(tiny_world, "v1.0-synth", ["scene-0001"], HW, sweeps=True, gt="dense", progress=False,
                         nusc=nusc)
    bag = BagSurround(bags / "ok" / "scene-0001", input_hw=HW)
    assert len(bag) == len(ds) and not bag.unmatched
    np.testing.assert_array_equal(bag.set_stamps(), ds.set_stamps())
    np.testing.assert_array_equal(bag.images, ds.images)  # the same JPEG bytes, decoded and resized alike
    np.testing.assert_allclose(bag.K, ds.K, rtol=1e-6)
    np.testing.assert_allclose(bag.T, ds.T, atol=1e-5)
    np.testing.assert_allclose(bag.E, ds.E, atol=1e-5)
    a, b = SurroundSequence(bag), SurroundSequence(ds)
    assert len(a) == len(b) and not a.skipped
    torch.testing.assert_close(a[2]["T_ref_cam"], b[2]["T_ref_cam"], atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(a[2]["image"], b[2]["image"])


def test_bad_bags_get_one_clear_error(bags, tmp_path):
    with pytest.raises(BagError, match="camera_info"):
        BagSurround(bags / "noinfo" / "scene-0001", input_hw=HW)
    with pytest.raises(BagError, match="tf_static"):
        BagSurround(bags / "notf" / "scene-0001", input_hw=HW)
    with pytest.raises(BagError, match="not a rosbag2 folder"):
        BagSurround(tmp_path / "nothing", input_hw=HW)
    with pytest.raises(BagError, match="no image topic"):
        BagSurround(bags / "ok" / "scene-0001", cameras=("CAM_FRONT", "CAM_ROOF"), input_hw=HW)
    # data.bags entries: a bag, or the converter's output folder (one bag per scene); anything else is refused
    assert expand_bags([bags / "ok"]) == expand_bags([bags / "ok" / "scene-0001"]) == [bags / "ok" / "scene-0001"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(BagError, match="expected a rosbag2 folder"):
        expand_bags([tmp_path / "empty"])


def _tb_images(run_dir) -> set[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tb"))
    acc.Reload()
    return set(acc.Tags()["images"])


def test_fsmde_train_trains_from_a_bag_with_the_photometric_terms_only(bags, tmp_path):
    """No depth GT anywhere (the bag has none, no teacher): the temporal and spatial reconstruction terms train the
    student through fsmde-train's own loop (checkpoints, history); both fall over 40 steps. TensorBoard shows the
    depth and the reconstructions from t-1 and from the ring neighbour."""
    from fsmde_train.engine.config import load_config
    from fsmde_train.engine.trainer import train

    cfg = load_config(None, {
        "out_dir": str(tmp_path / "run"), "threads": 1, "log_every": 5, "image_every": 20,
        "model": {"base_width": 8, "decoder_width": 16, "n_bins": 16, "blocks": [1, 1, 1, 1], "bin_space": "log",
                  "bin_width_floor": 0.5},
        "teacher": {"kind": "none"},
        "loss": {"silog": 0.0, "bins": 0.0, "photo_temporal": 1.0, "photo_spatial": 1.0, "smooth": 0.001},
        "data": {"bags": [str(bags / "ok")], "sequence": True, "input_hw": [64, 96]},
        "optim": {"steps": 40, "batch_size": 1, "lr": 0.002, "warmup_steps": 5}})
    h = train(cfg, progress=False)["history"]
    assert {"depth/pred_over_gt", "reconstruction/target_from_prev_from_left"} <= _tb_images(tmp_path / "run")
    assert all(np.isfinite(e["photo_temporal"]) and np.isfinite(e["photo_spatial"]) for e in h)
    first = np.mean([e["photo_spatial"] + e["photo_temporal"] for e in h[:2]])
    last = np.mean([e["photo_spatial"] + e["photo_temporal"] for e in h[-2:]])
    assert last < 0.9 * first, (first, last)
    assert "silog" not in h[0] or h[0]["silog"] == 0.0


def test_a_bag_without_sequence_samples_is_refused(bags, tmp_path):
    from fsmde_train.engine.config import load_config
    from fsmde_train.engine.trainer import train

    cfg = load_config(None, {"out_dir": str(tmp_path / "run"), "data": {"bags": [str(bags / "ok" / "scene-0001")]}})
    with pytest.raises(ValueError, match="data.sequence"):
        train(cfg, progress=False)


@pytest.mark.parametrize("depth_input,iterations,from_step,strides",
                         [("none", 1, 0, [1]), ("scaled_difference", 2, 15, [1, 2])])
def test_without_ego_motion_the_pose_network_supplies_it(bags, tiny_world, tmp_path, depth_input, iterations,
                                                         from_step, strides):
    """A bag with extrinsics but no /tf: refused in one line unless pose_net is on; with it, fsmde-train trains
    depth and motion together from the images alone, saves the pose network in its checkpoints and resumes.
    With pose_depth_input the pose network also reads the student's depth (and with pose_iterations, warps through
    it, from step ``from_step`` on), in training and in fsmde-pose-eval; ``strides`` [1, 2] adds (t-2, t, t+2)
    triples."""
    from fsmde_train.convert.nusc2bag import ConvertConfig, convert
    from fsmde_train.engine.checkpoint import load_checkpoint
    from fsmde_train.engine.config import load_config
    from fsmde_train.engine.trainer import train

    convert(tiny_world, "v1.0-synth", tmp_path / "noodom", ["scene-0001"], ConvertConfig(lidar=False, odometry=False),
            log=lambda *a: None)
    bag = str(tmp_path / "noodom" / "scene-0001")
    with pytest.raises(BagError, match="no /tf map -> base_link"):
        BagSurround(bag, input_hw=HW)

    def cfg(steps):
        return load_config(None, {
            "out_dir": str(tmp_path / "run"), "threads": 1, "log_every": 5, "image_every": 10,
            "checkpoint_every": 10, "pose_net": True, "pose_depth_input": depth_input,
            "pose_iterations": iterations, "pose_iterations_from": from_step,
            "model": {"base_width": 8, "decoder_width": 16, "n_bins": 16, "blocks": [1, 1, 1, 1]},
            "teacher": {"kind": "none"}, "loss": {"silog": 0.0, "bins": 0.0, "photo_temporal": 1.0, "photo_spatial": 1.0},
            "data": {"bags": [bag], "sequence": True, "input_hw": [64, 96], "sequence_strides": strides},
            "optim": {"steps": steps, "batch_size": 1, "lr": 0.002, "warmup_steps": 5}})

    train(cfg(10), progress=False)
    st = load_checkpoint(tmp_path / "run")
    assert "pose" in st and st["step"] == 10
    h = train(cfg(20), progress=False)["history"]
    assert h[-1]["step"] == 20 and all(np.isfinite(e["photo_temporal"]) for e in h)
    st2 = load_checkpoint(tmp_path / "run")
    moved = sum(float((st2["pose"][k] - st["pose"][k]).abs().sum()) for k in st["pose"])
    assert moved > 0, "the pose network did not train"
    assert "reconstruction/target_from_prev_from_left" in _tb_images(tmp_path / "run")  # with the learned motion
    if depth_input != "none":
        from fsmde_train.eval.pose_eval import main as pose_eval

        out = tmp_path / "pose.json"
        assert pose_eval(["--run", str(tmp_path / "run"), "--data-root", str(tiny_world), "--out", str(out)]) == 0
        res = json.loads(out.read_text())
        assert res["motions"] > 0 and res["iterations"] == iterations and res["pose_depth"] == "student"
        # the diagnostics: the world's exact depth as the pose network's input, on one scene, at stride 2
        assert pose_eval(["--run", str(tmp_path / "run"), "--data-root", str(tiny_world), "--pose-depth", "gt",
                          "--scenes", "scene-0001", "--stride", "2", "--out", str(out)]) == 0
        res2 = json.loads(out.read_text())
        assert res2["pose_depth"] == "gt" and set(res2["per_scene"]) == {"scene-0001"} and res2["stride"] == 2
        assert res2["gt_translation_m"]["median"] == pytest.approx(
            2 * res["per_scene"]["scene-0001"]["gt_translation_m_median"], rel=0.1)  # twice the motion a triple
    else:
        from fsmde_train.eval.pose_eval import main as pose_eval

        assert pose_eval(["--run", str(tmp_path / "run"), "--data-root", str(tiny_world), "--pose-depth", "gt"]) == 2


@pytest.mark.parametrize("term", ["curvature", "teacher_ssi"])
def test_the_teacher_guides_a_bag_run(bags, tmp_path, term):
    """Self-supervised terms + the teacher only (no GT anywhere): the curvature / teacher SSI term is computed
    from the teacher's relative depth and logged; the teacher is never aligned to metric (no GT to align to)."""
    from fsmde_train.engine.config import load_config
    from fsmde_train.engine.trainer import train

    cfg = load_config(None, {
        "out_dir": str(tmp_path / "run"), "threads": 1, "tensorboard": False, "log_every": 2, "image_every": 0,
        "model": {"base_width": 8, "decoder_width": 16, "n_bins": 16, "blocks": [1, 1, 1, 1]},
        "teacher": {"kind": "depth_anything_tiny"},
        "loss": {"silog": 0.0, "bins": 0.0, "photo_temporal": 1.0, "photo_spatial": 1.0, term: 0.1},
        "data": {"bags": [str(bags / "ok" / "scene-0001")], "sequence": True, "input_hw": [64, 96]},
        "optim": {"steps": 4, "batch_size": 1, "warmup_steps": 1}})
    h = train(cfg, progress=False)["history"]
    assert all(np.isfinite(e[term]) and e[term] > 0 for e in h)
    assert all(e["teacher_aligned_frac"] == 0 for e in h)


def test_fsmde_adapt_fine_tunes_an_exported_model_on_a_bag_and_exports_it(bags, tiny_world, tmp_path, capsys):
    """An exported model -> its weights back (the rebuilt network reproduces the program) -> the photometric terms
    on a bag -> a new exported folder; before/after numbers are printed where GT exists."""
    from fsmde_train.engine.adapt import main
    from fsmde_train.engine.config import load_config
    from fsmde_train.engine.trainer import train
    from fsmde_train.export.load import load_exported_student

    src = tmp_path / "model"
    cfg = load_config(None, {
        "out_dir": str(tmp_path / "run"), "threads": 1, "tensorboard": False, "image_every": 0, "export_dir": str(src),
        "model": {"base_width": 8, "decoder_width": 16, "n_bins": 16, "blocks": [1, 1, 1, 1], "validity_head": True,
                  "geometry_inputs": ["ground_inverse_depth", "ray_elevation"]},
        "teacher": {"kind": "none"}, "loss": {"validity": 0.5},
        "data": {"root": str(tiny_world), "input_hw": [64, 96], "sweeps": False, "gt": "dense"},
        "optim": {"steps": 3, "batch_size": 1}})
    train(cfg, progress=False)
    net, _ = load_exported_student(src)
    out = tmp_path / "adapted"
    rc = main([str(bags / "ok" / "scene-0001"), "--model", str(src), "--out", str(out), "--steps", "4", "--quiet",
               "--eval-root", str(tiny_world), "--photo-scales", "1", "2"])
    text = capsys.readouterr().out
    assert rc == 0 and "before: AbsRel" in text and "after: AbsRel" in text, text
    adapted, man = load_exported_student(out)
    loss = man["training"]["config"]["loss"]
    assert man["training"]["config"]["data"]["bags"] and loss["silog"] == 0.0
    assert list(loss["photo_scales"]) == [1, 2] and loss["photo_scale_mode"] == "pyramid"
    changed = sum(float((a - b).abs().sum()) for a, b in zip(adapted.state_dict().values(), net.state_dict().values())
                  if a.is_floating_point())
    assert changed > 0
    rc = main([str(bags / "ok" / "scene-0001"), "--model", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")])
    assert rc == 2 and not (tmp_path / "x").exists()


def test_rig_overlap_reports_the_spatial_coverage_of_a_bag(bags, tmp_path, capsys):
    """The nuScenes rig's neighbours overlap by 5-12 degrees: some coverage, growing with depth; a bag that cannot be
    read is skipped with its reason, not fatal."""
    from fsmde_train.eval.rig_overlap import DEPTHS, coverage, main
    from fsmde_train.data.bag import BagSurround
    from fsmde_train.data.sequence import SurroundSequence

    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    seq = SurroundSequence(BagSurround(bags / "ok" / "scene-0001", input_hw=(64, 96), mean=mean, std=std))
    c = coverage(seq[len(seq) // 2], mean, std)
    cov = [c["spatial"][d] for d in DEPTHS]
    assert 0.01 < cov[0] and cov == sorted(cov) and cov[-1] < 0.6, c
    assert main([str(bags / "ok"), str(bags / "noinfo"), "--input-hw", "64", "96"]) == 0
    out = capsys.readouterr().out
    assert "skipped" in out and "noinfo" in out and "%" in out


def test_odometry_gives_the_ego_motion_where_tf_has_none(bags):
    """The converter's /odom (nav_msgs/Odometry) carries the same poses as /tf: a bag whose /tf does not link the
    map frame asked for falls back to it, and without either the error names both."""
    via_tf = BagSurround(bags / "ok" / "scene-0001", input_hw=HW)
    via_odom = BagSurround(bags / "ok" / "scene-0001", input_hw=HW, map_frame="no_such_map")
    np.testing.assert_allclose(via_odom.E, via_tf.E, atol=1e-6)
    with pytest.raises(BagError, match="no /tf no_such_map -> base_link and no /nothing odometry"):
        BagSurround(bags / "ok" / "scene-0001", input_hw=HW, map_frame="no_such_map", odom_topic="/nothing")
