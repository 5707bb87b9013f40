"""ROS-free core: codecs (REP-118), geometry round trips, cloud packing read back independently, manifest."""
import json
import shutil
import struct

import cv2
import numpy as np
import pytest

from fsmde_ros.core import cloud as cloudlib
from fsmde_ros.core.codecs import (ImageError, colorize_depth, decode_compressed, decode_raw, depth_to_16uc1,
                                   depth_to_32fc1, jpeg_reduction)
from fsmde_ros.core.geometry import backproject, check_intrinsics, pose_matrix, scale_intrinsics, transform
from fsmde_ros.core.manifest import ManifestError, load_manifest
from fsmde_ros.core.throttle import Throttle

RNG = np.random.default_rng(0)


def test_decode_raw_encodings_and_padding():
    rgb = RNG.integers(0, 255, (5, 7, 3), dtype=np.uint8)
    assert np.array_equal(decode_raw("rgb8", 5, 7, 21, rgb.tobytes()), rgb)
    assert np.array_equal(decode_raw("bgr8", 5, 7, 21, rgb[:, :, ::-1].tobytes()), rgb)
    bgra = np.concatenate([rgb[:, :, ::-1], np.full((5, 7, 1), 9, np.uint8)], 2)
    assert np.array_equal(decode_raw("bgra8", 5, 7, 28, bgra.tobytes()), rgb)
    padded = np.zeros((5, 24), np.uint8)
    padded[:, :21] = rgb.reshape(5, 21)
    assert np.array_equal(decode_raw("rgb8", 5, 7, 24, padded.tobytes()), rgb)


@pytest.mark.parametrize("enc,h,w,step,n,msg", [
    ("mono8", 5, 7, 7, 35, "unsupported encoding 'mono8'"),
    ("bayer_rggb8", 5, 7, 7, 35, "unsupported encoding"),
    ("16UC1", 5, 7, 14, 70, "unsupported encoding"),
    ("rgb8", 5, 7, 21, 100, "expected step\\*height"),
    ("rgb8", 5, 7, 20, 100, "step 20 is smaller"),
    ("rgb8", 0, 7, 21, 0, "empty image"),
])
def test_decode_raw_rejects_with_a_reason(enc, h, w, step, n, msg):
    with pytest.raises(ImageError, match=msg):
        decode_raw(enc, h, w, step, bytes(n))


def test_compressed_decode_full_and_reduced():
    img = cv2.GaussianBlur(RNG.integers(0, 255, (64, 96, 3), dtype=np.uint8), (7, 7), 3)
    ok, jpg = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    full = decode_compressed("jpeg", jpg.tobytes())
    assert full.shape == (64, 96, 3) and np.abs(full.astype(int) - img).mean() < 6
    assert decode_compressed("rgb8; jpeg compressed bgr8", jpg.tobytes(), 2).shape == (32, 48, 3)
    assert jpeg_reduction((900, 1600), (224, 384)) == 4 and jpeg_reduction((900, 1600), (450, 800)) == 2
    assert jpeg_reduction((900, 1600), (896, 1600)) == 1 and jpeg_reduction(None, (10, 10)) == 1
    with pytest.raises(ImageError, match="truncated"):
        decode_compressed("jpeg", jpg.tobytes()[: len(jpg) // 2])
    with pytest.raises(ImageError, match="empty"):
        decode_compressed("jpeg", b"")
    with pytest.raises(ImageError, match="unsupported compressed format"):
        decode_compressed("h264", b"\x00\x01")


def test_rep118_depth_encodings():
    d = np.array([[1.2345, 0.0, np.nan], [70.0, -1.0, np.inf]], np.float32)
    f = depth_to_32fc1(d)
    assert f.dtype == np.float32 and f[0, 0] == pytest.approx(1.2345) and f[1, 0] == 70.0
    assert np.isnan(f[[0, 0, 1, 1], [1, 2, 1, 2]]).all()
    mm = depth_to_16uc1(d)
    assert mm.dtype == np.uint16 and mm[0, 0] in (1234, 1235)
    assert mm[1, 0] == 0, "beyond 65.535 m is invalid (0) in 16UC1"
    assert (mm[[0, 0, 1, 1], [1, 2, 1, 2]] == 0).all()
    c = colorize_depth(d, 0.5, 80)
    assert c.shape == (2, 3, 3) and c.dtype == np.uint8 and (c[0, 1] == 0).all()


def test_intrinsics_scaling_round_trip_and_checks():
    K = np.array([[1266.4, 0, 816.3], [0, 1266.4, 491.5], [0, 0, 1]])
    K2 = scale_intrinsics(K, (1600, 900), (400, 225))
    np.testing.assert_allclose(scale_intrinsics(K2, (400, 225), (1600, 900)), K, atol=1e-9)
    # the same 3-D point lands on corresponding pixel centres at both resolutions
    p = np.array([2.0, -1.0, 15.0])
    u1 = K @ p / p[2]
    u2 = K2 @ p / p[2]
    assert (u2[0] + 0.5) * 4 == pytest.approx(u1[0] + 0.5) and (u2[1] + 0.5) * 4 == pytest.approx(u1[1] + 0.5)
    assert check_intrinsics(K, 1600, 900) is None
    assert "positive" in check_intrinsics(np.diag([0, 1, 1.0]), 10, 10)
    assert "NaN" in check_intrinsics(np.full((3, 3), np.nan), 10, 10)
    assert "outside" in check_intrinsics(K, 800, 450)


def test_backprojection_reprojects_to_the_same_pixels_and_extrinsics_round_trip():
    K = np.array([[200.0, 0, 79.5], [0, 210.0, 44.5], [0, 0, 1]])
    depth = RNG.uniform(1, 50, (90, 160)).astype(np.float32)
    depth[0, 0] = np.nan
    depth[1, 1] = 0
    pts, (v, u) = backproject(depth, K, stride=1)
    assert len(pts) == 90 * 160 - 2
    proj = pts @ K.T
    np.testing.assert_allclose(proj[:, 0] / proj[:, 2], u, atol=1e-3)
    np.testing.assert_allclose(proj[:, 1] / proj[:, 2], v, atol=1e-3)
    np.testing.assert_allclose(pts[:, 2], depth[v, u], rtol=1e-6)
    T = pose_matrix([1.7, 0.01, 1.5], [0.4998, -0.5030, 0.4998, -0.4974])
    back = transform(np.linalg.inv(T), transform(T, pts))
    np.testing.assert_allclose(back, pts, atol=1e-3)
    # optical z (forward) of CAM_FRONT points along base_link +x
    fwd = transform(T, np.array([[0, 0, 10.0]], np.float32)) - T[:3, 3]
    assert fwd[0, 0] > 9.9


def test_cloud_packing_read_back_with_struct():
    xyz = RNG.normal(size=(50, 3)).astype(np.float32)
    rgb = RNG.integers(0, 255, (50, 3), dtype=np.uint8)
    packed = cloudlib.pack_xyzrgb(xyz, rgb)
    raw = packed.tobytes()
    assert len(raw) == 50 * 16
    for i in (0, 17, 49):
        x, y, z, c = struct.unpack_from("<fffI", raw, i * 16)
        assert (x, y, z) == tuple(float(a) for a in xyz[i])
        assert ((c >> 16) & 255, (c >> 8) & 255, c & 255) == tuple(int(a) for a in rgb[i])
    # RViz reads 'rgb' as FLOAT32 and reinterprets its bits: the bytes are the same
    as_float = np.frombuffer(raw, np.float32).reshape(50, 4)[:, 3]
    assert (as_float.view(np.uint32) == packed["rgb"]).all()


def test_voxel_and_range_filters():
    xyz = np.array([[0.01, 0, 0], [0.02, 0, 0], [1.0, 0, 0], [100, 0, 0]], np.float32)
    rgb = np.zeros((4, 3), np.uint8)
    v, _ = cloudlib.voxel_downsample(xyz, rgb, 0.1)
    assert len(v) == 3
    assert cloudlib.range_filter(xyz, 0.5, 50).tolist() == [False, False, True, False]


def test_manifest_validation_names_file_and_field(tiny_model, tmp_path):
    m = load_manifest(tiny_model)
    assert (m.height, m.width) == (96, 160) and m.verified_file("onnx").is_file()
    bad = tmp_path / "m"
    shutil.copytree(tiny_model, bad)
    mf = bad / "manifest.json"
    d = json.loads(mf.read_text())
    cases = [
        (lambda d: d.update(format_version=99), "format_version 99 is not supported"),
        (lambda d: d["input"].update(height=100), "multiples of 32"),
        (lambda d: d["output"].update(units="mm"), "units must be 'm'"),
        (lambda d: d.pop("canonical_focal_px"), "missing field 'canonical_focal_px'"),
        (lambda d: d.update(format="other"), "not an fsmde model manifest"),
    ]
    for mutate, msg in cases:
        dd = json.loads(json.dumps(d))
        mutate(dd)
        mf.write_text(json.dumps(dd))
        with pytest.raises(ManifestError, match=msg):
            load_manifest(bad)
    mf.write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        load_manifest(bad)
    with pytest.raises(ManifestError, match="does not exist"):
        load_manifest(tmp_path / "nowhere")
    mf.write_text(json.dumps(d))
    (bad / "student.onnx").write_bytes(b"tampered")
    with pytest.raises(ManifestError, match="sha256"):
        load_manifest(bad).verified_file("onnx")
    (bad / "student.onnx").unlink()
    with pytest.raises(ManifestError, match="missing"):
        load_manifest(bad).verified_file("onnx")


def test_throttle_counts_suppressed_lines():
    now = [0.0]
    th = Throttle(5.0, clock=lambda: now[0])
    assert th("a") == 0 and th("a") is None and th("b") == 0
    now[0] = 6.0
    assert th("a") == 1


def test_compressed_size_reads_headers_without_decoding():
    from fsmde_ros.core.codecs import compressed_size

    img = np.zeros((900, 1600, 3), np.uint8)
    for ext in (".jpg", ".png"):
        assert compressed_size(cv2.imencode(ext, img)[1].tobytes()) == (900, 1600)
    prog = cv2.imencode(".jpg", img[:45, :77], [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    assert compressed_size(prog) == (45, 77)
    assert compressed_size(b"not an image") is None and compressed_size(b"") is None
    # a reduced decode rounds up, so the header (not decoded size x factor) gives the source size
    assert decode_compressed("jpeg", cv2.imencode(".jpg", img)[1].tobytes(), 8).shape[:2] == (113, 200)
