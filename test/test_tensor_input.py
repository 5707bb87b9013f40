"""The GPU input path (fsmde_ros/core/tensor_input.py) against the CPU path.

The tensor code is device-agnostic, so CI runs it on CPU tensors with the real backends; the nvJPEG decoder and
the whole path on a GPU are the CUDA tests at the end (skipped without one). Tolerances, stated once:
- resize: the tensor box filter equals OpenCV's INTER_AREA from the same decoded pixels within 1 grey level;
- the whole path vs the CPU node path (libjpeg DCT-reduced decode) on 1600x900 JPEGs: model-size pixels within
  2 grey levels on average (p99 <= 24, at edges), metric depth median relative difference <= 1.5 %;
- the same model-size pixels through both pipelines: depth within 1e-4 relative, cloud points equal.
"""
from __future__ import annotations

import glob
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fsmde_ros.core.codecs import ImageError, compressed_size, decode_compressed, jpeg_reduction  # noqa: E402
from fsmde_ros.core.manifest import load_manifest  # noqa: E402
from fsmde_ros.core.pipeline import default_geometry, CloudConfig, SurroundPipeline, View  # noqa: E402
from fsmde_ros.core.preprocess import Preprocessor  # noqa: E402
from fsmde_ros.core.rig import load_rig  # noqa: E402
from fsmde_ros.core.tensor_input import (TensorDecoder, TensorPreprocessor, TensorSurroundPipeline,  # noqa: E402
                                         nvjpeg_decoder)
from fsmde_ros.core.views import ViewBuilder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REAL_NUSCENES = sorted(glob.glob(str(ROOT.parent / "shared" / "real" / "nuscenes_keyframe" / "imgs" / "*.jpg")))
RNG = np.random.default_rng(11)


def street_like(h=900, w=1600):
    """A 1600x900 JPEG with edges at every scale (real frames are used too when ../shared/real is present)."""
    img = cv2.resize(RNG.integers(0, 256, (h // 16, w // 16, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(40):
        x, y = RNG.integers(0, w), RNG.integers(0, h)
        cv2.rectangle(img, (int(x), int(y)), (int(x + RNG.integers(5, 300)), int(y + RNG.integers(5, 200))),
                      tuple(int(c) for c in RNG.integers(0, 256, 3)), -1)
    img = cv2.add(img, RNG.integers(0, 12, img.shape, dtype=np.uint8))
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


@pytest.fixture(scope="module")
def jpegs():
    if REAL_NUSCENES:
        return [Path(p).read_bytes() for p in REAL_NUSCENES]
    return [street_like() for _ in range(6)]


@pytest.fixture(scope="module")
def manifest(tiny_model):
    return load_manifest(tiny_model)


def cpu_decode_to_tensor(datas):
    """libjpeg at full size as the decoder: what nvJPEG returns, up to its IDCT rounding (checked on CUDA below)."""
    out = []
    for d in datas:
        img = cv2.imdecode(np.frombuffer(d, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise RuntimeError("decode failed")
        out.append(torch.from_numpy(np.ascontiguousarray(img[:, :, ::-1])).permute(2, 0, 1))
    return out


@pytest.mark.parametrize("size", [(900, 1600), (1216, 1936), (375, 1242), (60, 100)])
def test_tensor_resize_is_opencv_inter_area(manifest, size):
    pre, tp = Preprocessor(manifest), TensorPreprocessor(manifest)
    img = cv2.GaussianBlur(RNG.integers(0, 256, (*size, 3), dtype=np.uint8), (5, 5), 1.5)
    want = pre.resize(img).astype(int)  # INTER_AREA down, INTER_LINEAR up
    got = tp.fit([tp.to_device(img)])[0].permute(1, 2, 0).numpy().astype(int)
    assert got.shape == want.shape == (manifest.height, manifest.width, 3)
    assert np.abs(got - want).max() <= 1


def test_tensor_path_vs_cpu_node_path_on_full_size_jpegs(jpegs):
    """Same JPEG bytes: CPU path (DCT-reduced libjpeg + INTER_AREA) vs tensor path (full decode + box filter),
    with the shipped model (its 224x128 input sets the libjpeg reduction: 1/4 for 1600x900)."""
    from fsmde_ros.backends.onnxruntime_backend import OnnxRuntimeBackend

    manifest = load_manifest(ROOT / "models" / "fsmde_student")
    pre, tp = Preprocessor(manifest), TensorPreprocessor(manifest)
    hw = (manifest.height, manifest.width)
    cpu = [pre.fit_bgr(decode_compressed("jpeg", j, jpeg_reduction(compressed_size(j), hw), bgr=True)) for j in jpegs]
    dec = TensorDecoder(tp, cpu_decode_to_tensor)
    ten = tp.fit(dec.decode_many([("jpeg", j) for j in jpegs]))
    grey = np.abs(np.stack(cpu).astype(int) - torch.stack(ten).permute(0, 2, 3, 1).numpy().astype(int))
    print(f"model-size pixels: mean |diff| {grey.mean():.2f}, p99 {np.percentile(grey, 99):.0f} grey levels")
    assert grey.mean() <= 2.0 and np.percentile(grey, 99) <= 24
    x_cpu, x_ten = pre.batch(cpu), tp.batch(ten).numpy()
    geo = default_geometry(pre)
    if geo is not None:  # the same camera-aware channels for both paths: nuScenes' cameras from the rig file
        K = pre.model_intrinsics(np.array([[1266.4, 0, 816.3], [0, 1266.4, 491.5], [0, 0, 1]]), (1600, 900))
        rig = load_rig(ROOT / "config" / "nuscenes_rig.yaml")
        g = np.stack([geo.for_view(K, cam.T_base_camera) for cam in rig.cameras][:len(cpu)])
        x_cpu[:, 3:] = g
        x_ten = np.concatenate([x_ten, g], 1)
    be = OnnxRuntimeBackend(manifest)
    a, b = be.infer(x_cpu), be.infer_tensor(torch.from_numpy(x_ten)).numpy()
    rel = np.abs(a - b) / a  # NaN where the validity head finds no surface (sky)
    same_mask = float(np.mean(np.isnan(a) == np.isnan(b)))
    print(f"depth: median relative difference {np.nanmedian(rel):.4f}; NaN masks agree on {100 * same_mask:.2f} %")
    assert np.nanmedian(rel) <= 0.015, np.nanmedian(rel)
    assert same_mask >= 0.98


def views_for(manifest, rgbs, tensor: bool):
    rig = load_rig(ROOT / "config" / "nuscenes_rig.yaml")
    K = np.array([[180.0, 0, 111.5], [0, 180.0, 63.5], [0, 0, 1]])
    out = []
    for i, (cam, rgb) in enumerate(zip(rig.cameras, rgbs)):
        im = None if rgb is None else (torch.from_numpy(rgb).permute(2, 0, 1) if tensor else rgb)
        out.append(View(cam.name, im, K, (manifest.width, manifest.height), cam.T_base_camera))
    return out


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_tensor_pipeline_equals_numpy_pipeline_on_the_same_pixels(manifest, backend):
    """Model-size pixels, one view missing: depth, intrinsics and the fused cloud agree (CPU tensors, real
    backends: ONNX Runtime through the host default of infer_tensor, torch on the device)."""
    from fsmde_ros.backends import build_backend

    be = build_backend(backend, manifest, "cpu")
    rgbs = [RNG.integers(0, 256, (manifest.height, manifest.width, 3), dtype=np.uint8) for _ in range(6)]
    rgbs[4] = None
    cfg = CloudConfig(True, 2, 0.5, 500.0, 0.0)
    ref = SurroundPipeline(be, Preprocessor(manifest), manifest.min_depth, manifest.max_depth, cfg)
    ten = TensorSurroundPipeline(be, TensorPreprocessor(manifest), manifest.min_depth, manifest.max_depth, cfg)
    # the node's call, keywords included (the GPU path once refused stamp_ns: every set on a GPU failed)
    a = ref.process(views_for(manifest, rgbs, False), cloud=True, stamp_ns=1_000_000_000)
    b = ten.process(views_for(manifest, rgbs, True), cloud=True, stamp_ns=1_000_000_000)
    assert b.depth[4] is None and b.K_depth[4] is None and set(b.timings) == set(a.timings)
    for i in (0, 1, 2, 3, 5):
        np.testing.assert_allclose(b.depth[i], a.depth[i], rtol=1e-4, equal_nan=True)
        np.testing.assert_allclose(b.K_depth[i], a.K_depth[i])
    assert len(a.cloud) > 0 and len(b.cloud) == len(a.cloud)
    assert (b.cloud["rgb"] == a.cloud["rgb"]).all()
    for k in "xyz":
        np.testing.assert_allclose(b.cloud[k], a.cloud[k], rtol=1e-4, atol=1e-3)
    assert ten.process(views_for(manifest, rgbs, True), cloud=False).cloud is None
    # ego motion per view (core/motion.py): both fusers move the views alike, and the views do move
    from fsmde_ros.core.geometry import pose_matrix

    motions = [None if i % 2 else pose_matrix([0.3 * i, -0.05, 0.0], [np.cos(0.01 * i), 0, 0, np.sin(0.01 * i)])
               for i in range(6)]
    va, vb = views_for(manifest, rgbs, False), views_for(manifest, rgbs, True)
    for v, w, M in zip(va, vb, motions):
        v.T_motion = w.T_motion = M
    am, bm = ref.process(va, cloud=True), ten.process(vb, cloud=True)
    assert len(am.cloud) == len(bm.cloud) == len(a.cloud) and not np.allclose(am.cloud["x"], a.cloud["x"])
    for k in "xyz":
        np.testing.assert_allclose(bm.cloud[k], am.cloud[k], rtol=1e-4, atol=1e-3)


def test_view_builder_decodes_to_tensors_and_isolates_a_bad_image(manifest, jpegs):
    """One batched decode; a corrupt JPEG in the batch fails only its own view (the batch is retried one by one),
    a PNG goes through libpng, and a raw rgb8 Image is uploaded as is."""
    tp = TensorPreprocessor(manifest)
    calls = []

    def decoder(datas):
        calls.append(len(datas))
        return cpu_decode_to_tensor(datas)

    warns = []
    vb = ViewBuilder([f"c{i}" for i in range(4)], [f"c{i}/image" for i in range(4)], [f"c{i}/info" for i in range(4)],
                     (manifest.height, manifest.width), lambda f, i: np.eye(4), lambda k, m: warns.append(m),
                     tensor_decoder=TensorDecoder(tp, decoder))
    good = jpegs[0]
    broken = good[:2] + bytes(len(good) - 4) + good[-2:]  # SOI/EOI intact, entropy data zeroed: decoder fails
    png = cv2.imencode(".png", np.full((90, 160, 3), 7, np.uint8))[1].tobytes()
    raw = np.full((90, 160, 3), 9, np.uint8)
    hdr = SimpleNamespace(frame_id="cam")
    imgs = [SimpleNamespace(format="jpeg", data=good, header=hdr), SimpleNamespace(format="jpeg", data=broken, header=hdr),
            SimpleNamespace(format="png", data=png, header=hdr),
            SimpleNamespace(encoding="rgb8", height=90, width=160, step=480, data=raw.tobytes(), header=hdr)]
    h, w = compressed_size(good)
    infos = [SimpleNamespace(k=[900.0, 0, w / 2, 0, 900.0, h / 2, 0, 0, 1], width=w, height=h)] * 2 + \
        [SimpleNamespace(k=[90.0, 0, 80, 0, 90.0, 45, 0, 0, 1], width=160, height=90)] * 2
    views = vb.build(imgs, infos)
    assert calls[0] == 2, "both JPEGs went to the GPU decoder in one call"
    assert isinstance(views[0].rgb, torch.Tensor) and tuple(views[0].rgb.shape) == (3, h, w)
    assert views[1].rgb is None and any("c1/image" in m for m in warns), warns
    assert int(views[2].rgb[0, 0, 0]) == 7 and int(views[3].rgb[0, 0, 0]) == 9
    with pytest.raises(ImageError):
        decode_compressed("jpeg", broken)


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (nvJPEG)")


@cuda
def test_nvjpeg_decode_matches_libjpeg(jpegs):
    """nvJPEG vs libjpeg: the same luma (IDCT rounding only); chroma differs by the 4:2:0 upsampling filter (libjpeg's
    'fancy' triangular one vs nvJPEG's), ~2 grey levels at full size on an H200 (mean RGB 2.5, 0.0 for 4:4:4 JPEGs),
    which the resize to the model's input averages down to a fraction of a level."""
    dec = nvjpeg_decoder("cuda")
    gpu = dec(jpegs)
    for g, ref in zip(gpu, cpu_decode_to_tensor(jpegs)):
        assert g.is_cuda and g.shape == ref.shape
        g, ref = g.cpu().permute(1, 2, 0).numpy(), ref.permute(1, 2, 0).numpy()
        luma = [cv2.cvtColor(a, cv2.COLOR_RGB2YCrCb)[..., 0].astype(int) for a in (g, ref)]
        assert np.abs(luma[0] - luma[1]).mean() <= 0.25
        assert np.abs(g.astype(int) - ref.astype(int)).mean() <= 4.0
        small = [cv2.resize(a, (224, 128), interpolation=cv2.INTER_AREA).astype(float) for a in (g, ref)]
        assert np.abs(small[0] - small[1]).mean() <= 0.6


@cuda
def test_gpu_path_end_to_end_matches_cpu_path(manifest, jpegs):
    """Bytes -> nvJPEG -> fit/normalise -> torch CUDA (fp16, graph) -> depth + cloud, vs the CPU node path."""
    from fsmde_ros.backends import build_backend

    tp = TensorPreprocessor(manifest, "cuda")
    gpu_be, cpu_be = build_backend("torch", manifest, "cuda"), build_backend("onnxruntime", manifest, "cpu")
    K = np.array([[1266.0, 0, 816.0], [0, 1266.0, 491.0], [0, 0, 1]])
    hdr = SimpleNamespace(frame_id="cam")
    imgs = [SimpleNamespace(format="jpeg", data=j, header=hdr) for j in jpegs]
    infos = [SimpleNamespace(k=K.reshape(-1).tolist(), width=1600, height=900)] * len(jpegs)
    names = [f"c{i}" for i in range(len(jpegs))]
    rig = load_rig(ROOT / "config" / "nuscenes_rig.yaml")
    T = [c.T_base_camera for c in rig.cameras]
    mk = (lambda **kw: ViewBuilder(names, names, names, (manifest.height, manifest.width), lambda f, i: T[i],
                                   lambda k, m: None, **kw))
    cfg = CloudConfig(True, 2, 0.5, 500.0, 0.0)
    ref = SurroundPipeline(cpu_be, Preprocessor(manifest), manifest.min_depth, manifest.max_depth, cfg)
    a = ref.process(mk(fit_bgr=ref.pre.fit_bgr).build(imgs, infos))
    ten = TensorSurroundPipeline(gpu_be, tp, manifest.min_depth, manifest.max_depth, cfg)
    b = ten.process(mk(tensor_decoder=TensorDecoder(tp, nvjpeg_decoder("cuda"))).build(imgs, infos))
    for da, db in zip(a.depth, b.depth):
        ok = np.isfinite(da) & np.isfinite(db)
        assert np.median(np.abs(da[ok] - db[ok]) / da[ok]) <= 0.015
    assert abs(len(b.cloud) - len(a.cloud)) <= 0.02 * len(a.cloud)
