"""The auxiliary semantic head: the world's material maps (fsmde-synth), their classes in the batch, the loss, the
head, and a short training run with it (results/semantic_head/PLAN.md)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from fsmde_train.data import SurroundDataset
from fsmde_train.data.surround import SEMANTIC_CLASSES, SEMANTIC_IGNORE, material_to_class
from fsmde_train.engine.config import load_config
from fsmde_train.engine.trainer import train
from fsmde_train.export import export_model
from fsmde_train.losses.supervised import semantic_loss
from fsmde_train.networks import StudentConfig, build_student
from fsmde_train.synth.render import SKY_ID, primitives_at, render_image
from fsmde_train.synth.rig import load_rig
from fsmde_train.synth.world import CAR_BODY, CAR_GLASS, MATERIAL_NAMES, generate_world
from fsmde_train.synth.writer import dense_depth_path

from .conftest import TINY

CFG = StudentConfig(base_width=8, decoder_width=16, n_bins=16, blocks=(1, 1, 1, 1), output_stride=4,
                    semantic_classes=len(SEMANTIC_CLASSES))


def test_material_map_marks_sky_and_leaves_the_image_unchanged():
    w = generate_world(3, 1.0, varied=True, car_detail=True)
    rig = load_rig()
    cam = replace(rig["CAM_FRONT"], width=96, height=54)
    cam = replace(cam, K=cam.K * np.array([[96 / 1600], [54 / 900], [1]]))
    prims, pose = primitives_at(w, 0.5), w.ego_pose_local(0.5)
    img0, d0 = render_image(w, prims, pose, cam, torch.Generator().manual_seed(1), shadows=True, vehicle_looks=0.5)
    labels: dict = {}
    img1, d1 = render_image(w, prims, pose, cam, torch.Generator().manual_seed(1), shadows=True, vehicle_looks=0.5,
                            material=labels)
    assert np.array_equal(img0, img1) and np.array_equal(d0, d1), "asking for the map draws nothing"
    m = labels["material"]
    assert m.dtype == np.uint8 and m.shape == d1.shape
    assert np.array_equal(m == SKY_ID, d1 == 0), "sky in the map exactly where the depth is 0"
    assert set(np.unique(m[m != SKY_ID])) <= set(range(len(MATERIAL_NAMES)))
    assert (m == 0).any(), "the road ahead"


def test_material_lookup_covers_every_material():
    lut = material_to_class()
    for i, name in enumerate(MATERIAL_NAMES):
        assert lut[i] != SEMANTIC_IGNORE, name
    assert SEMANTIC_CLASSES[lut[CAR_BODY]] == SEMANTIC_CLASSES[lut[CAR_GLASS]] == "vehicle"
    assert SEMANTIC_CLASSES[lut[SKY_ID]] == "sky"
    assert lut[len(MATERIAL_NAMES)] == SEMANTIC_IGNORE, "an unknown id is no label"


def test_batch_carries_classes_and_no_labels_where_the_map_is_missing(tiny_world, tmp_path):
    ds = SurroundDataset(tiny_world, TINY["version"], input_hw=(64, 96), canonical_focal_px=70.0, gt="dense",
                         progress=False)
    b = ds[0]
    sem, dense = b["semantic"], b["depth_dense"][:, 0]
    assert sem.shape == (6, 64, 96) and sem.dtype == torch.int64
    assert torch.equal(sem == SEMANTIC_CLASSES.index("sky"), dense <= 0)
    assert (sem == SEMANTIC_CLASSES.index("road")).any() and not (sem == SEMANTIC_IGNORE).any()
    # the first set's CAM_FRONT depth written without the map (as worlds rendered before it): no labels there
    import shutil

    root = tmp_path / "old"
    shutil.copytree(tiny_world, root)
    sd = ds.nusc.get("sample_data", ds.samples[0].tokens[0])
    p = dense_depth_path(root, sd["filename"])
    with np.load(p) as z:
        depth = z["depth"]
    np.savez_compressed(p, depth=depth)
    old = SurroundDataset(root, TINY["version"], input_hw=(64, 96), canonical_focal_px=70.0, gt="dense",
                          progress=False)
    s0 = old[0]["semantic"]
    assert (s0[0] == SEMANTIC_IGNORE).all() and torch.equal(s0[1:], sem[1:])


def test_semantic_loss_ignores_unlabelled_pixels_and_checks_the_classes():
    logits = torch.zeros(2, 3, 4, 4, requires_grad=True)
    labels = torch.full((2, 4, 4), SEMANTIC_IGNORE)
    assert float(semantic_loss(logits, labels).detach()) == 0.0
    labels[0, :2] = 1
    loss = semantic_loss(logits, labels)
    assert np.isclose(float(loss), np.log(3.0), rtol=1e-6)
    loss.backward()
    assert float(logits.grad[1].abs().sum()) == 0.0 and float(logits.grad[0, :, 2:].abs().sum()) == 0.0
    with pytest.raises(ValueError, match="outside"):
        semantic_loss(logits, torch.full((2, 4, 4), 3))
    with pytest.raises(ValueError, match="expected"):
        semantic_loss(logits, torch.zeros(2, 4, 5, dtype=torch.int64))


def test_head_learns_the_classes_of_a_set_and_is_not_exported(tiny_world, tmp_path):
    ds = SurroundDataset(tiny_world, TINY["version"], None, (64, 96), 70.0, gt="dense", progress=False)
    b = ds[0]
    torch.manual_seed(0)
    net = build_student(CFG)
    out = net(b["image"])
    assert out["semantic_logits"].shape == (6, len(SEMANTIC_CLASSES), 64, 96)
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    first = None
    for _ in range(120):
        loss = semantic_loss(net(b["image"])["semantic_logits"], b["semantic"])
        first = float(loss) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        pred = net(b["image"])["semantic_logits"].argmax(1)
    acc = float((pred == b["semantic"]).float().mean())
    assert acc > 0.8, f"pixel accuracy {acc:.3f} after fitting one set"
    assert "semantic_logits" not in build_student(replace(CFG, semantic_classes=0))(b["image"])
    man = export_model(net, tmp_path / "m", name="sem", input_hw=(64, 96), canonical_focal_px=70.0)
    p = man["parity"]
    assert p["onnx_vs_torch_max_rel"] < 1e-4 and p["program_vs_torch_max_rel"] < 1e-4, p
    import onnxruntime as ort

    sess = ort.InferenceSession(str(tmp_path / "m" / "student.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["depth"], "the node gets depth only"


def _cfg(tiny_world, tmp_path, **loss):
    return load_config(None, {"out_dir": str(tmp_path / "run"), "data": {"root": str(tiny_world),
                                                                          "input_hw": [64, 96], "sweeps": False},
                              "model": {"base_width": 8, "decoder_width": 16, "n_bins": 16, "blocks": [1, 1, 1, 1],
                                        "semantic_classes": len(SEMANTIC_CLASSES)},
                              "loss": {"ci_kd": 0.0, "vr_kd": 0.0, **loss}, "teacher": {"kind": "none"},
                              "optim": {"steps": 2}, "checkpoint_every": 2, "log_every": 1})


def test_training_with_the_semantic_term(tiny_world, tmp_path):
    r = train(_cfg(tiny_world, tmp_path, semantic=0.5), progress=False)
    assert r["steps"] == 2
    assert all(np.isfinite(h["loss"]) and h["semantic"] > 0 for h in r["history"]), r["history"]


def test_semantic_term_without_maps_is_one_clear_error(tiny_world, tmp_path):
    import shutil

    root = tmp_path / "old"
    shutil.copytree(tiny_world, root)
    for p in (root / "depth").rglob("*.npz"):
        with np.load(p) as z:
            depth = z["depth"]
        np.savez_compressed(p, depth=depth)
    cfg = _cfg(root, tmp_path, semantic=0.5)
    with pytest.raises(ValueError, match="no material maps"):
        train(cfg, progress=False)
    cfg = _cfg(root, tmp_path)
    with pytest.raises(ValueError, match="road_retexture > 0 but .* no road"):
        train(replace(cfg, data=replace(cfg.data, road_retexture=0.5)), progress=False)
    bad = _cfg(tiny_world, tmp_path, semantic=0.5)
    bad = replace(bad, model=replace(bad.model, semantic_classes=3))
    with pytest.raises(ValueError, match="semantic_classes: 8"):
        train(bad, progress=False)


def test_road_retexture_changes_only_the_road():
    """data.road_retexture: a new surface on the road pixels of the chosen views; every other pixel, the geometry
    channels and the labels bit for bit as they were; the same seed the same surface."""
    from fsmde_train.data.augment import road_retexture

    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    torch.manual_seed(0)
    x = torch.randn(6, 5, 24, 40)
    sem = torch.full((6, 24, 40), SEMANTIC_CLASSES.index("building"))
    road = SEMANTIC_CLASSES.index("road")
    sem[:, 14:] = road  # the lower part of every view is road ...
    sem[5] = SEMANTIC_IGNORE  # ... except one view without a material map
    sem0 = sem.clone()

    def run(seed, p=1.0):
        return road_retexture(x, sem, mean, std, torch.Generator().manual_seed(seed), p)

    out, changed = run(1)
    assert out.shape == x.shape and torch.equal(sem, sem0)
    assert changed.tolist() == [True] * 5 + [False]
    assert torch.equal(out[:, 3:], x[:, 3:])  # geometry channels
    assert torch.equal(out[:, :3, :14], x[:, :3, :14]) and torch.equal(out[5], x[5])  # not road: untouched
    assert (out[:5, :3, 14:] - x[:5, :3, 14:]).abs().mean() > 0.3  # the road: a new surface
    rgb = out[:5, :3, 14:] * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(1, 3, 1, 1)
    assert rgb.min() >= -1e-5 and rgb.max() <= 1 + 1e-5  # an 8-bit image's values
    assert torch.equal(out, run(1)[0]) and not torch.equal(out, run(2)[0])
    assert torch.equal(run(1, p=0.0)[0], x) and not run(1, p=0.0)[1].any()


def test_training_with_road_retexture_and_its_errors(tiny_world, tmp_path):
    r = train(replace(_cfg(tiny_world, tmp_path), data=replace(_cfg(tiny_world, tmp_path).data, road_retexture=1.0)),
              progress=False)
    assert r["steps"] == 2 and all(np.isfinite(h["loss"]) for h in r["history"])
    with pytest.raises(ValueError, match="road_retexture must be a probability"):
        load_config(None, {"data": {"root": str(tiny_world), "road_retexture": 1.5}})
    with pytest.raises(ValueError, match="data.bags have none"):
        load_config(None, {"data": {"bags": ["x.mcap"], "sequence": True, "road_retexture": 0.5}})
