"""The shipped configs: only configs/shipped.yaml writes the shipped model; no ablation row can replace it."""
from __future__ import annotations

from pathlib import Path

from fsmde_train.engine.config import TRAINING_DIR, load_config

CONFIGS = TRAINING_DIR / "configs"


def _writes_models(cfg) -> bool:
    return bool(cfg.export_dir) and (CONFIGS.parent / cfg.export_dir).resolve().is_relative_to(
        (TRAINING_DIR.parent / "models").resolve())


def test_no_ablation_row_writes_the_shipped_model():
    rows = sorted((CONFIGS / "ablation").glob("*.yaml"))
    assert len(rows) >= 7
    for row in rows:
        cfg = load_config([CONFIGS / "synthetic_method.yaml", row])
        assert not _writes_models(cfg), f"{row.name} would overwrite models/ (export_dir {cfg.export_dir})"
    assert not _writes_models(load_config(CONFIGS / "synthetic_method.yaml"))


def test_make_weights_writes_it_with_the_real_camera_settings():
    cfg = load_config([CONFIGS / "synthetic_method.yaml", CONFIGS / "ablation" / "ci_vr_kd_two_hot.yaml",
                       CONFIGS / "shipped.yaml"])
    assert _writes_models(cfg) and Path(cfg.export_dir).name == "fsmde_student"
    assert cfg.model.geometry_inputs and cfg.model.validity_head and cfg.loss.validity > 0 and cfg.data.augment > 0
    assert cfg.loss.ci_kd > 0 and cfg.loss.vr_kd > 0 and cfg.loss.ci_target == "two_hot"
    makefile = (TRAINING_DIR.parent / "Makefile").read_text()
    assert "configs/synthetic_method.yaml configs/ablation/ci_vr_kd_two_hot.yaml configs/shipped.yaml" in makefile


def test_eval_input_hw_on_an_exported_model_is_one_clear_error(tmp_path, capsys):
    """Issue 12: `fsmde-eval --model M --input-hw ...` crashed; the exported files take one input size only."""
    from fsmde_train.eval.cli import main
    from fsmde_train.export import export_model
    from fsmde_train.networks import StudentConfig, build_student

    net = build_student(StudentConfig(base_width=8, decoder_width=16, n_bins=8, blocks=(1, 1, 1, 1))).eval()
    export_model(net, tmp_path / "m", name="m", input_hw=(64, 96), canonical_focal_px=70.0)
    for hw, expect in ((["96", "160"], "takes 64x96 input only"), (["64", "96"], "no v1.0-synth/ table folder")):
        rc = main(["--model", str(tmp_path / "m"), "--input-hw", *hw, "--data-root", str(tmp_path / "nowhere"),
                   "--out", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
        if expect:
            assert expect in err, err


def test_the_ablation_uses_the_learned_teacher_and_seeds_on_disjoint_worlds():
    """Issue 12: the KD rows distil the learned teacher (the GT + noise one is a diagnostic), 3 seeds per row,
    validation and test worlds from other seeds than the training world, the test world with its own layout."""
    for row in ("plain_kd", "ci_kd", "ci_vr_kd", "ci_kd_two_hot", "ci_vr_kd_two_hot"):
        cfg = load_config([CONFIGS / "synthetic_method.yaml", CONFIGS / "ablation" / f"{row}.yaml"])
        assert cfg.teacher.kind == "learned", row
        assert cfg.model.bin_space == "log" and cfg.model.bin_width_floor > 0
        assert cfg.loss.vr_kd == 0 or cfg.loss.vr_overlap == "geometric"
    makefile = (TRAINING_DIR.parent / "Makefile").read_text()
    assert "SEEDS := 0 1 2" in makefile and "--data-root ../data/weights/test" in makefile
    recipes = {w: makefile.split(f"\n{w}: ")[1].split("\n")[1]  # the rendering line under each world's rule
               for w in ("data/weights/train", "data/weights/val", "data/weights/test", "data/teacher/world")}
    seeds = {w: int(r.split("--seed ")[1].split()[0]) for w, r in recipes.items()}
    assert len(set(seeds.values())) == 4, seeds
    assert "$(SYNTH) --scenes 2 --duration 4 --width 320 --height 180 --seed 500 --layout boulevard" \
        in recipes["data/weights/test"]



def test_the_second_teacher_world_is_its_own_and_never_the_test_worlds_layout():
    """Issue 12 (results/teacher_v2): teacher v2 trains on a world of its own seed with every generator variation
    except the test world's boulevard layout, validates on the validation world and writes outside models/."""
    from fsmde_train.engine.teacher_trainer import load_teacher_config

    makefile = (TRAINING_DIR.parent / "Makefile").read_text()
    rule = makefile.split("\ndata/teacher/world-v2: ")[1].split("\n\t")
    recipe = next(line for line in rule if line.startswith("$(SYNTH)"))
    assert "--layout" not in recipe and "--open-streets" in recipe and "--cross-streets" in recipe
    test_seed = int(makefile.split("\ndata/weights/test: ")[1].split("--seed ")[1].split()[0])
    assert int(recipe.split("--seed ")[1].split()[0]) != test_seed
    for extra in ([], [CONFIGS / "teacher_v2" / "v1_model.yaml"]):
        cfg = load_teacher_config([CONFIGS / "teacher_v2.yaml", *extra])
        assert cfg.world == "../data/teacher/world-v2" and cfg.val_root == "../data/weights/val"
        assert cfg.out.startswith("../data/teacher/") and "models" not in cfg.out

def test_the_self_supervised_rows_read_no_depth_gt_and_write_no_model():
    rows = [[CONFIGS / "selfsup.yaml"]] + [[CONFIGS / "selfsup.yaml", p] for p in sorted((CONFIGS / "selfsup").glob("*.yaml"))]
    assert len(rows) == 4
    for paths in rows:
        cfg = load_config(paths)
        assert cfg.loss.silog == 0 and cfg.loss.bins == 0 and not cfg.loss.needs_teacher and cfg.loss.validity == 0
        assert cfg.teacher.kind == "none" and cfg.data.sequence and not _writes_models(cfg)
        assert cfg.loss.photo_temporal > 0


def test_the_bag_rows_read_no_depth_gt_and_the_pose_network_rows_no_odometry():
    """Issue 14: every row of configs/selfsup_bag* trains on a bag with no depth GT in any loss; the pose network's
    rows read the bag converted without /tf, so their motion cannot come from odometry."""
    rows = [[CONFIGS / "selfsup_bag.yaml"]] + [[CONFIGS / "selfsup_bag.yaml", p]
                                               for p in sorted((CONFIGS / "selfsup_bag").glob("*.yaml"))]
    assert len(rows) >= 9
    for paths in rows:
        cfg = load_config(paths)
        assert cfg.loss.silog == 0 and cfg.loss.bins == 0 and cfg.loss.validity == 0, paths
        assert cfg.data.bags and cfg.data.sequence and not _writes_models(cfg), paths
        assert all(b.endswith("-noodom") for b in cfg.data.bags) == cfg.pose_net, paths
