"""A model with camera-aware input (manifest input.geometry) through the node: the node's channels equal the training
package's, the exported model sees them (CPU and tensor pipelines agree with the network fed by hand), a camera
without extrinsics is skipped with a reason instead of being fed zeros, and a bad declaration is refused."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from fsmde_ros.core.geometry_input import GeometryError, GeometryInputs, camera_channels
from fsmde_ros.core.manifest import ManifestError, load_manifest
from fsmde_ros.core.pipeline import CloudConfig, SurroundPipeline, View
from fsmde_ros.core.preprocess import Preprocessor

HW = (96, 160)


@pytest.fixture(scope="module")
def geo_model(tmp_path_factory):
    from fsmde_train.export import export_model
    from fsmde_train.networks import StudentConfig, build_student

    torch.manual_seed(0)
    net = build_student(StudentConfig(base_width=8, decoder_width=16, n_bins=16, blocks=(1, 1, 1, 1),
                                      output_stride=4, geometry_inputs=("ground_inverse_depth", "ray_elevation")))
    folder = tmp_path_factory.mktemp("geo")
    export_model(net.eval(), folder, name="geo", input_hw=HW, canonical_focal_px=120.0)
    return net, load_manifest(folder)


def _cams():
    """Three nuScenes cameras of the node's default rig: K at 1600x900, pose in base_link."""
    from fsmde_train.synth.rig import load_rig as synth_rig

    rig = synth_rig(1600, 900)
    return [(rig[n].K, rig[n].T_ego_sensor) for n in ("CAM_FRONT", "CAM_BACK", "CAM_FRONT_LEFT")]


def test_node_channels_equal_the_training_definition(geo_model):
    from fsmde_train.geometry import GROUND_CLIP, GROUND_SCALE
    from fsmde_train.geometry import camera_channels as train_channels

    _, m = geo_model
    assert m.channels == 5 and m.geometry["ground_scale"] == GROUND_SCALE and m.geometry["ground_clip"] == GROUND_CLIP
    g = GeometryInputs(m.geometry, HW, m.canonical_focal_px)
    pre = Preprocessor(m)
    for K, T in _cams():
        for src in ((1600, 900), (1600, 450)):  # the second squeezes the image vertically: fx != fy at the input
            Km = pre.model_intrinsics(K, (1600, 900)) if src == (1600, 900) else pre.model_intrinsics(
                np.diag([1, 0.5, 1]) @ K, src)
            a = g.for_view(Km, T)
            b = train_channels(Km, T, HW, m.canonical_focal_px, m.geometry["channels"])
            assert np.array_equal(a, b)
    with pytest.raises(GeometryError, match="no extrinsics"):
        g.for_view(Km, None)
    low = T.copy()
    low[2, 3] = 0.1
    with pytest.raises(GeometryError, match="ground_height"):
        g.for_view(Km, low)
    raised = GeometryInputs(m.geometry, HW, m.canonical_focal_px, ground_height=0.1)  # a base_link above the road
    assert raised.for_view(Km, low).shape == (2, *HW)


@pytest.mark.parametrize("tensor_path", [False, True])
def test_pipeline_feeds_the_channels_and_skips_views_without_extrinsics(geo_model, tensor_path):
    from fsmde_ros.backends.onnxruntime_backend import OnnxRuntimeBackend

    net, m = geo_model
    rng = np.random.default_rng(0)
    cams = _cams()
    rgb = [rng.integers(0, 256, (225, 400, 3), dtype=np.uint8) for _ in cams]
    Ks = [np.diag([0.25, 0.25, 1]) @ K for K, _ in cams]  # K of the 400x225 images
    Ts = [T for _, T in cams]
    Ts_missing = [Ts[0], None, Ts[2]]
    geo = GeometryInputs(m.geometry, HW, m.canonical_focal_px)
    be = OnnxRuntimeBackend(m)
    cfg = CloudConfig(True, 2, 0.0, 1e4, 0.0)
    if tensor_path:
        from fsmde_ros.core.tensor_input import TensorPreprocessor, TensorSurroundPipeline

        pipe = TensorSurroundPipeline(be, TensorPreprocessor(m), m.min_depth, m.max_depth, cfg, geo)
        mk = lambda i, T: View(f"c{i}", torch.from_numpy(rgb[i]).permute(2, 0, 1), Ks[i], (400, 225), T)  # noqa: E731
    else:
        pipe = SurroundPipeline(be, Preprocessor(m), m.min_depth, m.max_depth, cfg, geometry=geo)
        mk = lambda i, T: View(f"c{i}", rgb[i], Ks[i], (400, 225), T)  # noqa: E731
    full = pipe.process([mk(i, T) for i, T in enumerate(Ts)])
    assert full.skipped == {} and all(d is not None for d in full.depth)
    # the same input by hand: resized RGB normalised + the training package's channels, through the network
    from fsmde_train.geometry import camera_channels as train_channels

    pre = Preprocessor(m)
    x = pre.batch([pre.resize(im) for im in rgb])
    for i in range(3):
        Km = pre.model_intrinsics(Ks[i], (400, 225))
        x[i, 3:] = train_channels(Km, Ts[i], HW, m.canonical_focal_px, m.geometry["channels"])
    with torch.no_grad():
        ref = net(torch.from_numpy(x))["depth"].numpy()[:, 0]
    for i in range(3):
        fs = pre.focal_scale(pre.model_intrinsics(Ks[i], (400, 225)))
        tol = 0.02 if tensor_path else 1e-3  # the tensor path resizes on its own (within a grey level)
        assert np.nanmax(np.abs(full.depth[i] - ref[i] * fs) / (ref[i] * fs)) < tol
    part = pipe.process([mk(i, T) for i, T in enumerate(Ts_missing)])
    assert part.depth[1] is None and "no extrinsics" in part.skipped[1]
    assert part.depth[0] is not None and np.allclose(part.depth[0], full.depth[0], rtol=1e-5, equal_nan=True)


def test_bad_geometry_declarations_are_refused(geo_model, tmp_path):
    _, m = geo_model
    for change, expect in ((lambda d: d["input"]["geometry"].update(channels=["lidar_depth"]), "input.geometry"),
                           (lambda d: d["input"].update(channels=3), "input.channels is 3, expected 5"),
                           (lambda d: d["input"]["geometry"].pop("ground_scale"), "ground_scale")):
        folder = tmp_path / f"bad{len(list(tmp_path.iterdir()))}"
        shutil.copytree(m.root, folder)
        d = json.loads((folder / "manifest.json").read_text())
        change(d)
        (folder / "manifest.json").write_text(json.dumps(d))
        with pytest.raises(ManifestError, match=expect):
            load_manifest(folder)


def test_channels_are_cached_per_camera():
    spec = {"channels": ["ground_inverse_depth"], "ground_scale": 10.0, "ground_clip": 4.0}
    g = GeometryInputs(spec, HW, 120.0, max_cached=2)
    K = np.array([[120.0, 0, 79.5], [0, 120.0, 47.5], [0, 0, 1]])
    T = np.eye(4)
    T[:3, :3] = [[0, 0, 1], [-1, 0, 0], [0, -1, 0]]  # optical frame looking along +x of a z-up base frame
    T[2, 3] = 1.5
    a = g.for_view(K, T)
    assert g.for_view(K, T) is a
    # the row through the principal point looks at the horizon: channel 0 there; rows below meet the road
    assert abs(a[0, 47, 80]) < 0.1 and a[0, -1, 80] > 0
    assert np.isclose(a[0, -1, 80], 10.0 * (95 - 47.5) / 120.0 / 1.5, rtol=1e-6)
    assert np.array_equal(camera_channels(K, T, HW, 120.0, ["ground_inverse_depth"], 10.0, 4.0), a)
