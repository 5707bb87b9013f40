"""Export (ONNX + torch program + manifest, parity), TensorRT build where possible, evaluation and its CLIs."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fsmde_train.data import SurroundDataset
from fsmde_train.eval import cross_view_disagreement, evaluate
from fsmde_train.export import export_model
from fsmde_train.export.tensorrt import build_engine, tensorrt_available
from fsmde_train.networks import StudentConfig, build_student

from .conftest import TINY

TRAINING = Path(__file__).resolve().parents[1]
TINY_STUDENT = StudentConfig(base_width=8, decoder_width=16, n_bins=16, blocks=(1, 1, 1, 1), output_stride=4)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    net = build_student(TINY_STUDENT)
    net.train()
    for _ in range(3):  # non-trivial BatchNorm statistics
        net(torch.randn(4, 3, 64, 96))
    out = tmp_path_factory.mktemp("model")
    man = export_model(net.eval(), out, name="tiny", input_hw=(64, 96), canonical_focal_px=70.0, cameras=["A"])
    return net, out, man


def test_export_parity_of_every_format_on_random_inputs(exported):
    import onnx
    import onnxruntime as ort

    net, out, man = exported
    p = man["parity"]
    assert p["onnx_vs_torch_max_rel"] < 1e-4 and p["program_vs_torch_max_rel"] < 1e-4, p
    print(f"parity (max abs m): onnx {p['onnx_vs_torch_max_abs_m']:.2e}, program {p['program_vs_torch_max_abs_m']:.2e}")
    assert onnx.load(str(out / "student.onnx")).opset_import[0].version >= 17
    x = torch.randn(6, 3, 64, 96) * 2  # fresh inputs, another batch size than the export example
    with torch.no_grad():
        ref = net(x)["depth"].numpy()
    sess = ort.InferenceSession(str(out / "student.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(["depth"], {"image": x.numpy()})[0]
    prog = torch.export.load(str(out / "student.pt2")).module()(x).detach().numpy()
    for name, y in (("onnx", got), ("program", prog)):
        rel = np.abs(y - ref).max() / np.abs(ref).min()
        assert rel < 1e-4, f"{name}: {rel:.2e}"
    assert man["input"]["height"] == 64 and man["n_bins"] == 16 and man["canonical_focal_px"] == 70.0
    assert man["files"]["onnx"]["sha256"] and man["files"]["torch_program"]["sha256"]


@pytest.mark.skipif(not tensorrt_available()[0], reason=f"TensorRT: {tensorrt_available()[1]}")
def test_tensorrt_engine_builds_from_the_export(exported, tmp_path):
    _, out, man = exported
    engine = build_engine(out / "student.onnx", tmp_path / "s.engine", 6, 64, 96)
    assert engine.stat().st_size > 0


def test_oracle_scores_perfectly_and_median_scaling_removes_a_global_scale(tiny_world, nusc):
    ds = SurroundDataset(tiny_world, TINY["version"], input_hw=(64, 96), sweeps=False, gt="lidar", progress=False,
                         nusc=nusc)

    def oracle(scale):
        order = iter(range(len(ds)))  # evaluate() predicts each set once, in order

        def predict(image):  # the dense GT at the canonical focal length (sky: far)
            b = ds[next(order)]
            d = b["depth_dense"] / b["focal_scale"][:, None, None, None]
            return torch.where(d > 0, d, torch.full_like(d, 1e3)) * scale
        return predict

    ev = evaluate(oracle(1.0), ds, gt="dense")
    m = ev["nuscenes"]["scale_aware"]["mean"]
    assert m["abs_rel"] < 1e-6 and m["d1"] == 1.0
    ev2 = evaluate(oracle(2.0), ds, gt="dense")
    assert ev2["nuscenes"]["scale_aware"]["mean"]["abs_rel"] > 0.9
    assert ev2["nuscenes"]["median_scaled"]["mean"]["abs_rel"] < 1e-6
    assert ev2["ddad"]["median_scaled"]["mean"]["d1"] == 1.0
    assert ev["cross_view"]["gt"] < 0.1 and abs(ev["cross_view"]["pred"] - ev["cross_view"]["gt"]) < 0.02
    r1, r2 = (np.array([np.nan if x is None else x for x in e["abs_rel_by_distance"]["median_ratio"][:5]])
              for e in (ev, ev2))  # bands to 80 m: the DDAD cap (200 m) clips none of the doubled depth there
    assert np.nanmax(np.abs(r1 - 1)) < 2e-3 and np.nanmax(np.abs(r2 - 2)) < 4e-3 and np.isfinite(r1).sum() >= 3


def test_median_ratio_by_distance_shows_a_squeeze():
    from fsmde_train.eval.protocol import DISTANCE_BINS, LOG_RATIO_EDGES, _by_distance, _hist_median_ratio

    g = np.linspace(1.0, 79.0, 20000).reshape(100, 200).astype(np.float32)
    pred = g * np.where(g < 10, 1.3, np.where(g < 40, 0.8, 0.45))  # near too far, far too near
    pred[0, :50] = np.nan  # a NaN (sky) prediction is skipped, not counted
    acc = [[0.0, 0] for _ in range(len(DISTANCE_BINS) - 1)]
    hist = np.zeros((len(DISTANCE_BINS) - 1, len(LOG_RATIO_EDGES) - 1), np.int64)
    _by_distance(pred, g, 1e-3, 80.0, acc, hist)
    ratios = [_hist_median_ratio(h) for h in hist]
    np.testing.assert_allclose(ratios[:5], [1.3, 1.3, 0.8, 0.8, 0.45], rtol=2e-3)
    assert ratios[5] is None and hist.sum() == sum(n for _, n in acc) == 20000 - 50


def test_cross_view_disagreement_sees_one_camera_off_scale(tiny_world, nusc):
    ds = SurroundDataset(tiny_world, TINY["version"], input_hw=(64, 96), sweeps=False, gt="dense", progress=False,
                         nusc=nusc)
    b = ds[2]
    d = b["depth_dense"][:, 0].numpy()
    K, T = b["K"].double().numpy(), b["T_ego_cam"].double().numpy()
    base, pairs = cross_view_disagreement(d, K, T)
    off = d.copy()
    off[3] *= 1.3  # CAM_BACK 30 % too far
    worse, pairs_off = cross_view_disagreement(off, K, T)
    assert worse > base
    assert pairs_off[2] > pairs[2] + 0.1 and pairs_off[3] > pairs[3] + 0.1, "both pairs that touch CAM_BACK"
    assert abs(pairs_off[0] - pairs[0]) < 1e-9, "pairs without CAM_BACK unchanged"


def test_train_export_eval_clis_agree(tiny_world, tmp_path):
    def cli(mod, *args):
        r = subprocess.run([sys.executable, "-m", mod, *map(str, args)], cwd=TRAINING, capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    run, model = tmp_path / "run", tmp_path / "model"
    cli("fsmde_train.engine.trainer", "--config", "configs/synthetic_tiny.yaml", "--quiet", "--set",
        f"data.root={tiny_world}", "optim.steps=6", "threads=1", f"out_dir={run}", "tensorboard=false")
    out = cli("fsmde_train.export.cli", "--run", run, "--out", model)
    assert "exported" in out and (model / "manifest.json").exists()
    man = json.loads((model / "manifest.json").read_text())
    assert man["training"]["step"] == 6 and "ci_kd" in man["training"]["recipe"]
    evals = {}
    for kind, src, extra in (("run", run, []), ("onnx", model, ["--backend", "onnxruntime"]),
                             ("torch", model, ["--backend", "torch"])):
        cli("fsmde_train.eval.cli", "--run" if kind == "run" else "--model", src, *extra, "--data-root", tiny_world,
            "--scenes", "scene-0001", "--out", tmp_path / kind)
        evals[kind] = json.loads((tmp_path / kind / "metrics.json").read_text())
        assert (tmp_path / kind / "per_camera.png").stat().st_size > 0
        assert (tmp_path / kind / "error_vs_distance.png").stat().st_size > 0
        assert "| **mean** |" in (tmp_path / kind / "report.md").read_text()
    a = next(iter(evals["run"].values()))["nuscenes"]["scale_aware"]["mean"]["abs_rel"]
    for k in ("onnx", "torch"):
        b = next(iter(evals[k].values()))["nuscenes"]["scale_aware"]["mean"]["abs_rel"]
        assert abs(a - b) < 1e-4 * a, (k, a, b)
    r = subprocess.run([sys.executable, "-m", "fsmde_train.eval.cli", "--run", tmp_path / "nothing", "--data-root",
                        tiny_world, "--out", tmp_path / "x"], cwd=TRAINING, capture_output=True, text=True)
    assert r.returncode == 2 and "no loadable checkpoint" in r.stderr
    # --from-metrics re-renders the same report without evaluating; a file it did not write is refused, unwritten
    cli("fsmde_train.eval.cli", "--from-metrics", tmp_path / "run" / "metrics.json", "--data-root", tiny_world,
        "--out", tmp_path / "again")
    assert (tmp_path / "again" / "report.md").read_text() == (tmp_path / "run" / "report.md").read_text()
    (tmp_path / "bad.json").write_text('{"row": 1}')
    r = subprocess.run([sys.executable, "-m", "fsmde_train.eval.cli", "--from-metrics", tmp_path / "bad.json",
                        "--out", tmp_path / "bad"], cwd=TRAINING, capture_output=True, text=True)
    assert r.returncode == 2 and "not a metrics.json written by fsmde-eval" in r.stderr
    assert not (tmp_path / "bad").exists()


def test_seeds_table_gives_mean_and_std_per_row():
    from fsmde_train.eval.report import seeds_table

    def ev(a, cv):
        m = {"abs_rel": a, "sq_rel": 0.1, "rmse": 1.0, "d1": 0.9}
        return {"nuscenes": {"scale_aware": {"mean": m}}, "cross_view": {"pred": cv}}

    t = seeds_table({"sparse/0": ev(0.10, 0.2), "sparse/1": ev(0.12, 0.3), "sparse/2": ev(0.14, 0.4),
                     "full/0": ev(0.08, 0.1)})
    rows = t.splitlines()
    assert rows[2].startswith("| sparse | 0.120 ± 0.020 |") and rows[2].endswith("| 0.300 ± 0.100 | 3 |")
    assert rows[3].startswith("| full | 0.080 |") and rows[3].endswith("| 1 |")


def test_distance_table_and_plots_group_seeds(tmp_path):
    from fsmde_train.eval.report import distance_table, plots

    def ev(by_dist):
        cams = {c: {"abs_rel": by_dist[0]} for c in ("CAM_FRONT", "CAM_BACK")}
        return {"nuscenes": {"scale_aware": {"per_camera": cams}},
                "abs_rel_by_distance": {"bins": [0, 10, 80], "abs_rel": by_dist}}

    rows = {"sparse/0": ev([0.1, 0.3]), "sparse/1": ev([0.2, None]), "full/0": ev([0.05, 0.2])}
    t = distance_table(rows).splitlines()
    assert t[0] == "| row | 0–10 m | 10–80 m |"
    assert t[2] == "| sparse | 0.150 | – |"  # a bin empty for one seed is empty in the mean
    assert t[3] == "| full | 0.050 | 0.200 |"
    paths = plots(rows["sparse/0"], tmp_path, rows)
    assert [p.name for p in paths] == ["per_camera.png", "error_vs_distance.png"]
    assert all(p.stat().st_size > 1000 for p in paths)


def test_scale_ratio_is_one_for_a_perfect_prediction():
    from fsmde_train.eval.scale_ratio import scale_ratios

    class Exact(torch.nn.Module):  # predicts the GT (at the canonical focal) of the sample it is shown
        def __init__(self, ds):
            super().__init__()
            self.ds, self.i = ds, 0

        def forward(self, image):
            b = self.ds.items[self.i]
            self.i += 1
            return {"depth": b["depth_dense"] / b["focal_scale"][:, None, None, None] * 1.3}

    class DS:
        def __init__(self):
            g = torch.Generator().manual_seed(0)
            self.items = [{"image": torch.zeros(2, 3, 4, 4), "focal_scale": torch.tensor([1.0, 2.0]),
                           "depth_dense": torch.rand(2, 1, 4, 4, generator=g) * 50 + 1} for _ in range(3)]

        def __len__(self):
            return 3

        def __getitem__(self, i):
            return self.items[i]

    ds = DS()
    r = scale_ratios(Exact(ds), ds)
    assert len(r) == 6 and all(abs(x - 1.3) < 1e-5 for x in r)
