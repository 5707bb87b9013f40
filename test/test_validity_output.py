"""A model with a validity head (NaN where it finds no surface) through the node's pipeline: NaN in the published
depth (REP-118) and no cloud points there, with both the CPU path and the tensor (GPU-path) pipeline."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fsmde_ros.core.manifest import load_manifest
from fsmde_ros.core.pipeline import CloudConfig, SurroundPipeline, View
from fsmde_ros.core.preprocess import Preprocessor


@pytest.fixture(scope="module")
def validity_models(tmp_path_factory):
    """Two exports of one tiny network whose validity logit is constant: -5 (no surface anywhere), +5 (everywhere)."""
    from fsmde_train.export import export_model
    from fsmde_train.networks import StudentConfig, build_student

    torch.manual_seed(0)
    net = build_student(StudentConfig(base_width=8, decoder_width=16, n_bins=16, blocks=(1, 1, 1, 1),
                                      output_stride=4, validity_head=True)).eval()
    out = {}
    for name, bias in (("none", -5.0), ("all", 5.0)):
        last = net.valid_head[-1]
        with torch.no_grad():
            last.weight.zero_()
            last.bias.fill_(bias)
        folder = tmp_path_factory.mktemp(name)
        export_model(net, folder, name=name, input_hw=(96, 160), canonical_focal_px=120.0)
        out[name] = load_manifest(folder)
    return out


@pytest.mark.parametrize("tensor_path", [False, True])
def test_no_surface_is_nan_and_no_cloud(validity_models, tensor_path):
    from fsmde_ros.backends.onnxruntime_backend import OnnxRuntimeBackend

    rng = np.random.default_rng(0)
    rgb = [rng.integers(0, 256, (96, 160, 3), dtype=np.uint8) for _ in range(2)]
    K = np.array([[120.0, 0, 79.5], [0, 120.0, 47.5], [0, 0, 1]])
    cfg = CloudConfig(True, 1, 0.0, 1e4, 0.0)
    for name, nan_frac in (("none", 1.0), ("all", 0.0)):
        m = validity_models[name]
        assert "NaN" in m.raw["output"]["invalid"]
        be = OnnxRuntimeBackend(m)
        if tensor_path:
            from fsmde_ros.core.tensor_input import TensorPreprocessor, TensorSurroundPipeline

            pipe = TensorSurroundPipeline(be, TensorPreprocessor(m), m.min_depth, m.max_depth, cfg)
            views = [View(f"c{i}", torch.from_numpy(im).permute(2, 0, 1), K, (160, 96), np.eye(4))
                     for i, im in enumerate(rgb)]
        else:
            pipe = SurroundPipeline(be, Preprocessor(m), m.min_depth, m.max_depth, cfg)
            views = [View(f"c{i}", im, K, (160, 96), np.eye(4)) for i, im in enumerate(rgb)]
        res = pipe.process(views)
        got = np.mean([np.isnan(d).mean() for d in res.depth])
        assert got == nan_frac, (name, got)
        assert (len(res.cloud) == 0) == (nan_frac == 1.0)
