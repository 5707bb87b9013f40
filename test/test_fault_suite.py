"""The fault suite: every bad input or fault the node can meet, each asserting its clear log line and that the
node keeps serving afterwards (real rclpy, in-process). RELIABILITY.md holds the same table; a test keeps the
two in agreement, and the run's summary lists the cases covered.

Streaming cases share one running node per transport (raw / compressed); each case starts with the node's log
throttle reset (as a fresh node would have it) and its own stamp range. Start-up cases build a node each.
"""
from __future__ import annotations

import itertools
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.parameter import Parameter

from fsmde_ros.core.throttle import Throttle
from fsmde_ros.core.rig import default_cameras

from node_harness import H, W, Harness, make_node

CAMERAS = default_cameras()

T0 = 1_700_000_000_000_000_000
_stamps = itertools.count(1)


def next_t() -> int:
    return T0 + next(_stamps) * 10 * 10**9  # 10 s apart: no case's stamps touch another's


# ----------------------------------------------------------------------------------------------------------
# streaming cases: f(h, capfd) -> None; the harness node is already running and discovered
# ----------------------------------------------------------------------------------------------------------
STREAM: dict[str, tuple[str, str, object]] = {}  # id -> (transport, what the node does, test)
STARTUP: dict[str, tuple[str, object]] = {}


def stream_case(cid, transport, does):
    def reg(f):
        STREAM[cid] = (transport, does, f)
        return f
    return reg


def startup_case(cid, does):
    def reg(f):
        STARTUP[cid] = (does, f)
        return f
    return reg


def log_of(capfd) -> str:
    return capfd.readouterr().err


def expect_one_bad_view(h, capfd, corrupt, cam, pattern, *, override_info=False):
    """Publish a set with ``cam`` corrupted: the other five are served, the line names the topic; then a healthy
    set is served whole."""
    t = next_t()

    def ov(c, img, info):
        if c == cam:
            corrupt(img, info)

    h.publish_set(t, override=ov)
    others = [c for c in CAMERAS if c != cam]
    assert h.spin(15, until=lambda: h.served(t, others)), "the healthy cameras of the set were not served"
    h.spin(0.2)
    assert cam not in h.served_cams(t), f"{cam}'s bad view was published"
    err = log_of(capfd)
    assert re.search(pattern, err), f"no log line matching {pattern!r} in:\n{err}"
    expect_healthy_set(h)


def expect_healthy_set(h):
    t = next_t()
    h.publish_set(t)
    assert h.spin(15, until=lambda: h.served(t)), "the node stopped serving after the fault"


def raw_image(img, *, encoding, channels=3, dtype=np.uint8, width=W, height=H):
    img.encoding, img.width, img.height = encoding, width, height
    img.step = width * channels * np.dtype(dtype).itemsize
    img.data = np.zeros(height * img.step, np.uint8).tobytes()


@stream_case("encoding_mono8", "raw", "view skipped: 'unsupported encoding' (model needs colour); others served")
def _(h, capfd):
    expect_one_bad_view(h, capfd, lambda img, info: raw_image(img, encoding="mono8", channels=1), "CAM_BACK",
                        r"CAM_BACK/image_rect: unsupported encoding 'mono8': expected a colour image")


@stream_case("encoding_bayer_rggb8", "raw", "view skipped: 'unsupported encoding'; others served")
def _(h, capfd):
    expect_one_bad_view(h, capfd, lambda img, info: raw_image(img, encoding="bayer_rggb8", channels=1),
                        "CAM_FRONT", r"CAM_FRONT/image_rect: unsupported encoding 'bayer_rggb8'")


@stream_case("encoding_16uc1_as_colour", "raw", "view skipped: 'unsupported encoding'; others served")
def _(h, capfd):
    expect_one_bad_view(h, capfd, lambda img, info: raw_image(img, encoding="16UC1", channels=1, dtype=np.uint16),
                        "CAM_BACK_LEFT", r"CAM_BACK_LEFT/image_rect: unsupported encoding '16UC1'")


@stream_case("encoding_bgra8_accepted", "raw", "bgra8 decoded (alpha dropped, channels swapped); all six served")
def _(h, capfd):
    t = next_t()

    def ov(c, img, info):
        if c == "CAM_FRONT":
            raw_image(img, encoding="bgra8", channels=4)

    h.publish_set(t, override=ov)
    assert h.spin(15, until=lambda: h.served(t))
    assert "CAM_FRONT/image_rect" not in log_of(capfd)


@stream_case("encoding_label_wrong_for_data", "raw", "view skipped: 'data has N bytes, expected step*height'")
def _(h, capfd):
    def corrupt(img, info):  # says rgb8, carries bgra8-sized rows
        img.data = np.zeros(H * W * 4, np.uint8).tobytes()
    expect_one_bad_view(h, capfd, corrupt, "CAM_BACK_RIGHT",
                        r"CAM_BACK_RIGHT/image_rect: data has 230400 bytes, expected step\*height = 960\*180")


@stream_case("empty_data", "raw", "view skipped: 'data has 0 bytes'")
def _(h, capfd):
    def corrupt(img, info):
        img.data = b""
    expect_one_bad_view(h, capfd, corrupt, "CAM_FRONT_LEFT", r"CAM_FRONT_LEFT/image_rect: data has 0 bytes")


@stream_case("step_smaller_than_row", "raw", "view skipped: 'step is smaller than width*channels'")
def _(h, capfd):
    def corrupt(img, info):
        img.step = W * 2
        img.data = np.zeros(H * W * 2, np.uint8).tobytes()
    expect_one_bad_view(h, capfd, corrupt, "CAM_BACK", r"CAM_BACK/image_rect: step 640 is smaller than "
                                                       r"width\*channels = 960")


@stream_case("zero_size_image", "raw", "view skipped: 'empty image 0x0'")
def _(h, capfd):
    def corrupt(img, info):
        img.width = img.height = img.step = 0
        img.data = b""
    expect_one_bad_view(h, capfd, corrupt, "CAM_FRONT", r"CAM_FRONT/image_rect: empty image 0x0")


@stream_case("size_change_mid_stream", "raw", "served at the new size with K from its CameraInfo; change logged")
def _(h, capfd):
    t = next_t()

    def ov(c, img, info):
        if c == "CAM_FRONT":
            img.width, img.height, img.step = 2 * W, 2 * H, 2 * W * 3
            img.data = np.zeros(4 * H * W * 3, np.uint8).tobytes()
            info.width, info.height = 2 * W, 2 * H
            info.k = (np.array(info.k) * [2, 1, 2, 1, 2, 2, 1, 1, 1]).tolist()

    h.publish_set(t, override=ov)
    assert h.spin(15, until=lambda: h.served(t)), "a size change must not lose the view"
    front = [i for i in h.infos["CAM_FRONT"] if i.header.stamp.sec * 10**9 + i.header.stamp.nanosec == t + 25_000_000]
    np.testing.assert_allclose(front[0].k[0], h.K["CAM_FRONT"][0, 0] * 160 / W, rtol=1e-6)
    assert "CAM_FRONT/image_rect: image size changed from 320x180 to 640x360" in log_of(capfd)
    expect_healthy_set(h)


@stream_case("camera_info_zero_focal", "raw", "view skipped: 'unusable CameraInfo (focal lengths must be positive'")
def _(h, capfd):
    def corrupt(img, info):
        info.k = [0.0] * 9
    expect_one_bad_view(h, capfd, corrupt, "CAM_BACK", r"CAM_BACK/camera_info: unusable CameraInfo \(focal lengths "
                                                       r"must be positive, got fx=0")


@stream_case("camera_info_nan_focal", "raw", "view skipped: 'K has NaN/inf entries'")
def _(h, capfd):
    def corrupt(img, info):
        k = list(info.k)
        k[0] = float("nan")
        info.k = k
    expect_one_bad_view(h, capfd, corrupt, "CAM_FRONT_RIGHT", r"CAM_FRONT_RIGHT/camera_info: unusable CameraInfo "
                                                              r"\(K has NaN/inf entries")


@stream_case("camera_info_negative_focal", "raw", "view skipped: 'focal lengths must be positive'")
def _(h, capfd):
    def corrupt(img, info):
        k = list(info.k)
        k[4] = -k[4]
        info.k = k
    expect_one_bad_view(h, capfd, corrupt, "CAM_BACK_LEFT", r"CAM_BACK_LEFT/camera_info: .*focal lengths must be "
                                                            r"positive, got fx=\S+ fy=-")


@stream_case("camera_info_K_not_for_this_size", "raw", "view skipped: 'principal point lies outside the image'")
def _(h, capfd):
    def corrupt(img, info):  # full-resolution nuScenes K sent with a 320x180 image
        info.k = [1266.4, 0.0, 816.3, 0.0, 1266.4, 491.5, 0.0, 0.0, 1.0]
    expect_one_bad_view(h, capfd, corrupt, "CAM_FRONT", r"CAM_FRONT/camera_info: unusable CameraInfo \(principal "
                                                        r"point \(816.3, 491.5\) lies outside the 320x180 image")


@stream_case("camera_info_size_mismatch", "raw", "view skipped: 'image WxH does not match CameraInfo (aspect differs)'")
def _(h, capfd):
    def corrupt(img, info):
        info.width, info.height = 640, 480
        info.k = [500.0, 0, 320.0, 0, 500.0, 240.0, 0, 0, 1]
    expect_one_bad_view(h, capfd, corrupt, "CAM_BACK_RIGHT", r"CAM_BACK_RIGHT/image_rect: image 320x180 does not "
                                                             r"match CameraInfo 640x480 \(aspect differs\)")


def silent_then_back(h, capfd, skip_cam=None, skip_what="skip", pattern=""):
    """Sets keep coming for 1.6 s with ``skip_cam``'s messages missing (all missing when None), then whole sets
    resume: the silence is named in the log and in /diagnostics, the live cameras are served as partial sets
    meanwhile, and whole sets are served again afterwards."""
    h.diags.clear()
    ts = []
    for _ in range(8):
        if skip_cam is not None:
            ts.append(next_t())
            h.publish_set(ts[-1], override=lambda c, img, info: skip_what if c == skip_cam else None)
        h.spin(0.2)
    err = log_of(capfd)
    assert re.search(pattern, err), f"no log line matching {pattern!r} in:\n{err}"
    assert any(re.search(pattern, d.status[0].message) and d.status[0].level == DiagnosticStatus.WARN
               for d in h.diags), "/diagnostics did not report the silence as WARN"
    if skip_cam is not None:
        healthy = [c for c in CAMERAS if c != skip_cam]
        served = [t for t in ts if h.served(t, healthy)]
        assert served, "the live cameras were not served while one was silent"
        assert not any(skip_cam in h.served_cams(t) for t in ts)
        assert f"serving partial sets without ['{skip_cam}']" in err
    expect_healthy_set(h)
    assert h.spin(2, until=lambda: h.diags[-1].status[0].message == "running"), "diagnostics did not recover"


@stream_case("camera_info_stops", "raw", "all six served with the cached CameraInfo; WARN naming the stale "
                                         "camera_info topic; OK again when it returns")
def _(h, capfd):
    h.diags.clear()
    ts = []
    for _ in range(8):
        ts.append(next_t())
        h.publish_set(ts[-1], override=lambda c, img, info: "skip_info" if c == "CAM_BACK" else None)
        h.spin(0.2)
    assert h.spin(5, until=lambda: h.served(ts[-1])), "a camera without fresh CameraInfo was not served"
    pattern = r"CameraInfo on \['CAM_BACK/camera_info'\] last received > 1 s ago: using the newest cached one"
    assert re.search(pattern, log_of(capfd))
    assert any(re.search(pattern, d.status[0].message) and d.status[0].level == DiagnosticStatus.WARN for d in h.diags)
    expect_healthy_set(h)
    assert h.spin(2, until=lambda: h.diags[-1].status[0].message == "running"), "diagnostics did not recover"


@stream_case("one_camera_silent_then_back", "raw", "WARN naming the silent image topic; partial sets of the other "
                                                   "five; whole sets when it returns")
def _(h, capfd):
    silent_then_back(h, capfd, "CAM_FRONT_LEFT", "skip", r"no images for > 1 s on \['CAM_FRONT_LEFT/image_rect'\]: "
                                                         r"serving partial sets of the other cameras")


@stream_case("all_cameras_stop_and_resume", "raw", "diagnostics WARN 'all 6 cameras silent' + log; resumes")
def _(h, capfd):
    silent_then_back(h, capfd, None, pattern=r"all 6 cameras silent for \S+ s \(> stale_input_timeout 1 s\)")


@stream_case("stamps_backwards_bag_loop", "raw", "log 'stamps went backwards by 30.00 s ... resetting'; served")
def _(h, capfd):
    expect_healthy_set(h)
    t = next_t() - 40 * 10**9  # 30 s before the last set
    h.publish_set(t)
    assert h.spin(15, until=lambda: h.served(t))
    assert "stamps went backwards by 30.00 s on CAM_FRONT/image_rect" in log_of(capfd)
    expect_healthy_set(h)


@stream_case("duplicate_stamps", "raw", "log 'duplicate set stamp ... ignored'; not published twice")
def _(h, capfd):
    t = next_t()
    h.publish_set(t)
    assert h.spin(15, until=lambda: h.served(t))
    n = len(h.depth["CAM_FRONT"])
    h.publish_set(t)
    h.spin(1.0)
    assert len(h.depth["CAM_FRONT"]) == n
    assert re.search(r"duplicate set stamp \S+ s on CAM_FRONT/image_rect: ignored", log_of(capfd))
    expect_healthy_set(h)


@stream_case("stamps_far_in_future", "raw", "set dropped with 'stamped N s ahead of the node clock'; next served")
def _(h, capfd):
    t = h.node.get_clock().now().nanoseconds + 3600 * 10**9
    h.publish_set(t)
    h.spin(1.5)
    assert not h.served_cams(t), "a set stamped an hour ahead was published"
    assert re.search(r"CAM_FRONT/image_rect: set stamped 3\d{3}\.\d s ahead of the node clock \(max_future_stamp 10 s\)"
                     r": dropped", log_of(capfd))
    expect_healthy_set(h)
    assert "went backwards" not in log_of(capfd), "a dropped future set must not become the stamp reference"


def expect_frame_served_without_cloud_points(h, capfd, frame_id, line):
    """CAM_BACK stamped with ``frame_id``: its depth is still published, a cloud still comes, ``line`` is logged."""
    t = next_t()
    h.clouds.clear()
    h.publish_set(t, override=lambda c, img, info: setattr(img.header, "frame_id", frame_id) if c == "CAM_BACK" else None)
    assert h.spin(15, until=lambda: h.served(t) and h.clouds)
    assert line in log_of(capfd)
    expect_healthy_set(h)


@stream_case("frame_id_empty", "raw", "depth served; log 'empty frame_id; no cloud points for this view'")
def _(h, capfd):
    expect_frame_served_without_cloud_points(h, capfd, "", "CAM_BACK/image_rect: empty frame_id; no cloud points "
                                                           "for this view")


@stream_case("frame_id_unknown", "raw", "depth served; log 'unknown to TF and to the rig file'; cloud without it")
def _(h, capfd):
    expect_frame_served_without_cloud_points(h, capfd, "cam_x", "frame_id 'cam_x' is unknown to TF and to the rig file")


@stream_case("burst_faster_than_inference", "raw", "newest set processed, older replaced; drops counted and logged")
def _(h, capfd):
    drops0 = h.node.stats.drops
    ts = [next_t() for _ in range(12)]
    for t in ts:  # published back to back; the executor delivers them faster than inference runs
        h.publish_set(t)
    assert h.spin(20, until=lambda: h.served(ts[-1])), "the newest set of the burst was not served"
    assert h.node.stats.drops > drops0
    assert re.search(r"input sets arrive faster than inference: \d+ sets dropped so far", log_of(capfd))
    h.spin(0.5)
    assert int(h.latest_diag()["dropped sets"]) == h.node.stats.drops


@stream_case("bad_input_flood_rate_limited", "raw", "one line per topic per 5 s with a suppressed count; served")
def _(h, capfd):
    ts = []
    for _ in range(6):
        t = next_t()
        ts.append(t)
        h.publish_set(t, override=lambda c, img, info: setattr(img, "data", b"x") if c == "CAM_BACK" else None)
        h.spin(15, until=lambda: h.served(t, [c for c in CAMERAS if c != "CAM_BACK"]))
    err = log_of(capfd)
    assert err.count("CAM_BACK/image_rect: data has 1 bytes") == 1, err
    expect_healthy_set(h)


@stream_case("parameter_invalid_at_runtime", "raw", "change refused with the reason (logged and returned); served")
def _(h, capfd):
    r = h.node.set_parameters([Parameter("cloud_stride", value=0)])[0]
    assert not r.successful and "cloud_stride must be >= 1, got 0" in r.reason
    r = h.node.set_parameters([Parameter("cloud_min_range", value=500.0)])[0]
    assert not r.successful and "must be < cloud_max_range" in r.reason
    r = h.node.set_parameters([Parameter("sync_slop", value=0.5)])[0]
    assert not r.successful, "read-only parameters need a restart"
    err = log_of(capfd)
    assert "rejected parameter change: cloud_stride must be >= 1, got 0" in err
    assert h.node.cfg.cloud_stride == 8, "the refused value was not applied"
    expect_healthy_set(h)


@stream_case("jpeg_truncated", "compressed", "view skipped: 'corrupt or truncated JPEG'")
def _(h, capfd):
    def corrupt(img, info):
        img.data = bytes(img.data)[: len(img.data) // 2]
    expect_one_bad_view(h, capfd, corrupt, "CAM_FRONT",
                        r"CAM_FRONT/image_rect/compressed: corrupt or truncated JPEG \(\d+ bytes, SOI/EOI markers")


@stream_case("jpeg_garbage", "compressed", "view skipped: 'could not decode'")
def _(h, capfd):
    def corrupt(img, info):  # valid markers around noise
        img.data = b"\xff\xd8" + np.random.default_rng(0).integers(0, 255, 5000, dtype=np.uint8).tobytes() + b"\xff\xd9"
    expect_one_bad_view(h, capfd, corrupt, "CAM_BACK", r"CAM_BACK/image_rect/compressed: could not decode .*5004 bytes")


@stream_case("compressed_empty", "compressed", "view skipped: 'empty compressed image'")
def _(h, capfd):
    def corrupt(img, info):
        img.data = b""
    expect_one_bad_view(h, capfd, corrupt, "CAM_BACK_LEFT", r"CAM_BACK_LEFT/image_rect/compressed: empty compressed")


@stream_case("compressed_unsupported_format", "compressed", "view skipped: 'unsupported compressed format'")
def _(h, capfd):
    def corrupt(img, info):
        img.format = "h264"
    expect_one_bad_view(h, capfd, corrupt, "CAM_FRONT_RIGHT", r"CAM_FRONT_RIGHT/image_rect/compressed: unsupported "
                                                              r"compressed format 'h264': expected jpeg or png")


def shift_stamp(msg, ms):
    st = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec + ms * 10**6
    msg.header.stamp.sec, msg.header.stamp.nanosec = st // 10**9, st % 10**9


@stream_case("camera_info_stamped_30ms_early_all", "raw", "every set served: CameraInfo is cached per camera, "
                                                          "only images are synchronised")
def _(h, capfd):
    ts = [next_t() for _ in range(4)]
    for t in ts:
        h.publish_set(t, override=lambda c, img, info: shift_stamp(info, -30))
        h.spin(0.1)
    assert h.spin(15, until=lambda: all(h.served(t) for t in ts[-1:])), "sets with early CameraInfo not served"
    assert sum(h.served(t) for t in ts) >= 3


@stream_case("camera_info_stamped_30ms_early_one", "raw", "every set served whole")
def _(h, capfd):
    ts = [next_t() for _ in range(4)]
    for t in ts:
        h.publish_set(t, override=lambda c, img, info: shift_stamp(info, -30) if c == "CAM_BACK_LEFT" else None)
        h.spin(0.1)
    assert h.spin(15, until=lambda: h.served(ts[-1]))
    assert sum(h.served(t) for t in ts) >= 3


def clock_off(h, capfd, dead=()):
    """CAM_FRONT's clock runs 70 ms ahead (image and CameraInfo; sync_slop 60 ms); ``dead`` cameras send nothing.
    The others are served as partial sets, and the WARN names CAM_FRONT's offset against the slop."""
    h.diags.clear()
    ts = []
    for _ in range(8):
        ts.append(next_t())
        h.publish_set(ts[-1], skip=dead, override=lambda c, img, info: (shift_stamp(img, 70), shift_stamp(info, 70))
                      if c == "CAM_FRONT" else None)
        h.spin(0.2)
    live = [c for c in CAMERAS if c != "CAM_FRONT" and c not in dead]
    assert h.spin(3, until=lambda: any(h.served(t, live) for t in ts)), "the cameras that fit were not served"
    assert not any("CAM_FRONT" in h.served_cams(t) for t in ts)
    served = [t for t in ts if h.served_cams(t) & set(live)]
    assert all(h.served(t, live) for t in served), "a partial set must hold every live camera that fits"
    err = log_of(capfd)
    pattern = r"images arrive but \['CAM_FRONT'\] not served for > 1 s: stamps off the other cameras' by CAM_FRONT \+\d\d ms \(sync_slop 60 ms\)"
    assert re.search(pattern, err), err
    assert any(re.search(pattern, d.status[0].message) and d.status[0].level == DiagnosticStatus.WARN for d in h.diags)
    expect_healthy_set(h)


@stream_case("one_camera_clock_70ms_off", "raw", "the five that fit served as partial sets; WARN 'stamps off the other "
                                                 "cameras' by CAM_FRONT +NN ms (sync_slop 60 ms)'")
def _(h, capfd):
    clock_off(h, capfd)


@stream_case("clock_off_and_one_camera_dead", "raw", "the four that fit served; WARN names the silent camera first")
def _(h, capfd):
    h.diags.clear()
    ts = []
    for _ in range(8):
        ts.append(next_t())
        h.publish_set(ts[-1], skip=("CAM_BACK",), override=lambda c, img, info: (shift_stamp(img, 70), shift_stamp(info, 70))
                      if c == "CAM_FRONT" else None)
        h.spin(0.2)
    live = [c for c in CAMERAS if c not in ("CAM_FRONT", "CAM_BACK")]
    assert h.spin(3, until=lambda: any(h.served(t, live) for t in ts)), "the cameras that fit were not served"
    served = [t for t in ts if h.served_cams(t)]
    assert served and all(h.served_cams(t) == set(live) for t in served), "partial sets must not be fragments"
    expect_healthy_set(h)


@stream_case("partial_sets_are_never_fragments", "raw", "one camera gone at 12 Hz: every partial set holds all "
                                                        "five live cameras")
def _(h, capfd):
    ts = []
    for _ in range(14):
        ts.append(next_t())
        h.publish_set(ts[-1], skip=("CAM_BACK_RIGHT",))
        h.spin(0.083)
    h.spin(1.0)
    live = set(CAMERAS) - {"CAM_BACK_RIGHT"}
    served = [t for t in ts if h.served_cams(t)]
    assert len(served) >= 3, f"only {len(served)} partial sets served"
    assert all(h.served_cams(t) == live for t in served), \
        [sorted(h.served_cams(t)) for t in served if h.served_cams(t) != live]
    expect_healthy_set(h)


@stream_case("zero_stamps", "raw", "images dropped with 'header.stamp is 0'; /diagnostics ERROR; stamped sets "
                                   "served afterwards with no 'went backwards'")
def _(h, capfd):
    expect_healthy_set(h)
    h.diags.clear()
    n0 = len(h.depth["CAM_FRONT"])
    for _ in range(5):
        h.publish_set(0, offsets_ms=(0,) * 6)
        h.spin(0.25)
    assert len(h.depth["CAM_FRONT"]) == n0, "an unstamped set was published"
    err = log_of(capfd)
    assert "CAM_FRONT/image_rect: header.stamp is 0; image dropped" in err
    assert any(d.status[0].level == DiagnosticStatus.ERROR and "header.stamp is 0 on" in d.status[0].message
               for d in h.diags)
    expect_healthy_set(h)
    assert "went backwards" not in log_of(capfd)


@stream_case("png_labelled_jpeg", "compressed", "decoded by content: all six served, no 'corrupt JPEG'")
def _(h, capfd):
    import cv2

    png = cv2.imencode(".png", np.full((H, W, 3), 128, np.uint8))[1].tobytes()
    t = next_t()

    def ov(c, img, info):
        if c == "CAM_BACK":
            img.format, img.data = "rgb8; jpeg compressed bgr8", png
    h.publish_set(t, override=ov)
    assert h.spin(15, until=lambda: h.served(t))
    assert "corrupt" not in log_of(capfd)


@stream_case("camera_info_K_change_mid_stream", "raw", "new K applied to its own set and logged once")
def _(h, capfd):
    t = next_t()
    K0 = h.K["CAM_FRONT_LEFT"].copy()
    h.K["CAM_FRONT_LEFT"] = K0 * [[1.1], [1.1], [1]]
    try:
        h.publish_set(t)

        def info_of_t():
            return [i for i in h.infos["CAM_FRONT_LEFT"] if i.header.stamp.sec * 10**9 + i.header.stamp.nanosec ==
                    t + 17_000_000]
        assert h.spin(15, until=lambda: h.served(t) and info_of_t())
        info = info_of_t()
        np.testing.assert_allclose(info[0].k[0], K0[0, 0] * 1.1 * 160 / W, rtol=1e-6)
        assert re.search(r"CAM_FRONT_LEFT/camera_info: fx 253.28 -> 278.61, fy 253.28 -> 278.61", log_of(capfd))
    finally:
        h.K["CAM_FRONT_LEFT"] = K0
    expect_healthy_set(h)


def publish_odometry(h, t_ns: int, x: float, wxyz=(1.0, 0.0, 0.0, 0.0)) -> None:
    from nav_msgs.msg import Odometry

    if not hasattr(h, "odom_pub"):
        h.odom_pub = h.io.create_publisher(Odometry, "odom", 50)
        h.spin(1.0)  # discovery
    m = Odometry(child_frame_id="base_link")
    m.header.stamp.sec, m.header.stamp.nanosec = t_ns // 10**9, t_ns % 10**9
    m.header.frame_id = "odom"
    m.pose.pose.position.x = x
    m.pose.pose.orientation.w, m.pose.pose.orientation.x, m.pose.pose.orientation.y, m.pose.pose.orientation.z = wxyz
    h.odom_pub.publish(m)


# The odometry cases come last among the raw ones: once a pose is heard, the node's motion compensation (auto) uses
# odometry for every later set of that node.
@stream_case("odometry_zero_quaternion", "raw", "pose ignored with one line: 'odom: pose at ... quaternion is zero'")
def _(h, capfd):
    t = next_t()
    publish_odometry(h, t, 0.0, (0.0, 0.0, 0.0, 0.0))
    h.spin(0.5)
    h.publish_set(t)
    assert h.spin(15, until=lambda: h.served(t))
    assert re.search(r"odom: pose at [\d.]+ s is not finite or its quaternion is zero: \[0\.0, 0\.0, 0\.0, 0\.0\]; "
                     r"pose ignored", log_of(capfd))
    expect_healthy_set(h)


@stream_case("odometry_not_covering_the_set", "raw",
             "cloud published with those views uncompensated; 'no ego motion at 6 of the set's exposures'")
def _(h, capfd):
    t = next_t()
    for k in range(5):  # poses 10 s to 9.8 s before the set: odometry that stopped
        publish_odometry(h, t - 10**10 + k * 50_000_000, 0.5 * k)
    h.spin(0.5)
    h.clouds.clear()
    h.publish_set(t)
    assert h.spin(15, until=lambda: h.served(t) and h.clouds)
    assert re.search(r"no ego motion at 6 of the set's exposures \(odometry poses cover [\d.]+-[\d.]+ s\); those "
                     r"views are placed uncompensated", log_of(capfd))
    expect_healthy_set(h)


# ----------------------------------------------------------------------------------------------------------
# start-up cases: f(ctx, model_copy, capfd) -> None; a node that cannot serve refuses to start, saying why
# ----------------------------------------------------------------------------------------------------------
def refuses(ctx, capfd, model, pattern, **params):
    with pytest.raises(RuntimeError, match="configure failed"):
        make_node(ctx, model, **params)
    err = log_of(capfd)
    assert re.search(pattern, err), f"no log line matching {pattern!r} in:\n{err}"


def edit_manifest(model: Path, fn):
    mf = model / "manifest.json"
    d = json.loads(mf.read_text())
    fn(d)
    mf.write_text(json.dumps(d))


@startup_case("model_path_missing", "refuses to start: 'model manifest <path> does not exist'")
def _(ctx, model, capfd):
    refuses(ctx, capfd, model / "nope", r"configure failed: model manifest \S+/nope/manifest.json does not exist")


@startup_case("manifest_missing", "refuses to start: names the folder")
def _(ctx, model, capfd):
    (model / "manifest.json").unlink()
    refuses(ctx, capfd, model, r"model manifest \S+manifest.json does not exist \(model folder: ")


@startup_case("manifest_corrupt", "refuses to start: 'is not valid JSON'")
def _(ctx, model, capfd):
    (model / "manifest.json").write_text('{"format": "fsmde-model", ')
    refuses(ctx, capfd, model, r"manifest.json is not valid JSON")


@startup_case("manifest_unknown_version", "refuses to start: 'format_version 99 is not supported'")
def _(ctx, model, capfd):
    edit_manifest(model, lambda d: d.update(format_version=99))
    refuses(ctx, capfd, model, r"format_version 99 is not supported \(this node reads \(1,\)\)")


@startup_case("sha256_mismatch", "refuses to start: 'sha256 ... does not match the manifest'")
def _(ctx, model, capfd):
    onnx = model / json.loads((model / "manifest.json").read_text())["files"]["onnx"]["path"]
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx.write_bytes(bytes(data))
    refuses(ctx, capfd, model, r"model file \S+\.onnx: sha256 \w+ does not match the manifest's", backend="onnxruntime")


def onnx_size_mismatch(ctx, model, capfd, backend):
    """The manifest says 128x224, the ONNX takes 96x160: refused, naming both."""
    edit_manifest(model, lambda d: d["input"].update(height=128, width=224))
    refuses(ctx, capfd, model, r"\.onnx takes input \[.*96, 160\], but the manifest says 3x128x224", backend=backend)


@startup_case("input_size_mismatch_onnx", "refuses to start: model input vs manifest size named")
def _(ctx, model, capfd):
    onnx_size_mismatch(ctx, model, capfd, "onnxruntime")


@startup_case("input_size_mismatch_torch", "refuses to start: exported program input vs manifest size named")
def _(ctx, model, capfd):
    edit_manifest(model, lambda d: (d["input"].update(height=128, width=224), d["files"].pop("onnx")))
    refuses(ctx, capfd, model, r"\.pt2 takes input \[.*96, 160\], but the manifest says 3x128x224", backend="torch")


@startup_case("model_file_outside_folder", "refuses to start: a manifest path escaping the model folder")
def _(ctx, model, capfd):
    edit_manifest(model, lambda d: d["files"]["onnx"].update(path="../../etc/passwd"))
    refuses(ctx, capfd, model, r"files.onnx.path '../../etc/passwd' points outside the model folder",
            backend="onnxruntime")


@startup_case("backend_tensorrt_unavailable", "refuses to start: 'tensorrt backend needs a CUDA device'")
def _(ctx, model, capfd):
    refuses(ctx, capfd, model, r"tensorrt backend needs a CUDA device|tensorrt", backend="tensorrt")


@startup_case("device_cuda_unavailable", "refuses to start: 'device 'cuda' requested but no CUDA device'")
def _(ctx, model, capfd):
    refuses(ctx, capfd, model, r"device 'cuda' requested but no CUDA device is available", device="cuda")


@startup_case("camera_not_in_rig", "refuses to start: 'cameras [...] are not in the rig file'")
def _(ctx, model, capfd):
    refuses(ctx, capfd, model, r"cameras \['CAM_ROOF'\] are not in the rig file", cameras=["CAM_FRONT", "CAM_ROOF"])


@startup_case("parameter_invalid_at_start", "refuses to start: every invalid value listed")
def _(ctx, model, capfd):
    with pytest.raises(ValueError, match=r"sync_slop must be >= 0.0, got -1.0; cloud_stride must be >= 1, got 0"):
        make_node(ctx, model, cloud_stride=0, sync_slop=-1.0)
    assert "invalid parameters: sync_slop must be >= 0.0" in log_of(capfd)


@startup_case("onnx_garbage_sha256_matches", "refuses to start with one line: 'is not a readable ONNX model'")
def _(ctx, model, capfd):
    from fsmde_ros.core.manifest import sha256_file

    onnx = model / json.loads((model / "manifest.json").read_text())["files"]["onnx"]["path"]
    onnx.write_bytes(np.random.default_rng(1).integers(0, 255, 4096, dtype=np.uint8).tobytes())
    edit_manifest(model, lambda d: d["files"]["onnx"].update(sha256=sha256_file(onnx)))
    refuses(ctx, capfd, model, r"configure failed: model file \S+\.onnx is not a readable ONNX model")
    assert "Traceback" not in log_of(capfd)


@startup_case("input_size_mismatch_auto", "refuses to start (no silent fallback to torch): ONNX input vs manifest")
def _(ctx, model, capfd):
    onnx_size_mismatch(ctx, model, capfd, "auto")


@startup_case("integer_for_float_parameters", "starts: sync_slop:=1 and cloud_max_range:=100 taken as floats")
def _(ctx, model, capfd):
    node = make_node(ctx, model, sync_slop=1, cloud_max_range=100, partial_set_timeout=0)
    try:
        assert node.cfg.sync_slop == 1.0 and isinstance(node.cfg.sync_slop, float)
        assert node.cfg.cloud_max_range == 100.0 and isinstance(node.cfg.partial_set_timeout, float)
    finally:
        node.destroy_node()


@startup_case("wrong_parameter_type", "refuses to start with one line naming the parameter and the type")
def _(ctx, model, capfd):
    with pytest.raises(ValueError, match=r"model_path must be a string, got 123"):
        make_node(ctx, model, model_path=123)
    err = log_of(capfd)
    assert err.count("invalid parameters") == 1 and "Traceback" not in err


# ----------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ctx(ros_module):
    return ros_module


@pytest.fixture(scope="module")
def harnesses(ctx, tiny_model):
    made = {}

    def get(transport):
        if transport not in made:
            node = make_node(ctx, tiny_model, image_transport=transport, stale_input_timeout=1.0, partial_set_timeout=0.5,
                             cloud_max_range=500.0, cloud_stride=8, qos_depth=50)
            made[transport] = Harness(ctx, node, compressed=transport == "compressed")
            made[transport].spin(1.0)  # discovery
        return made[transport]

    yield get
    for h in made.values():
        h.close()


@pytest.mark.parametrize("cid", list(STREAM))
def test_streaming_fault(cid, harnesses, capfd):
    transport, _, fn = STREAM[cid]
    h = harnesses(transport)
    h.node.throttle = Throttle(5.0)  # each case starts as a fresh node would (lines are rate-limited per key)
    capfd.readouterr()
    fn(h, capfd)


@pytest.mark.parametrize("cid", list(STARTUP))
def test_startup_fault(cid, ctx, tiny_model, tmp_path, capfd):
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    STARTUP[cid][1](ctx, model, capfd)


def test_the_suite_is_complete_and_documented():
    cases = {**{k: v[1] for k, v in STREAM.items()}, **{k: v[0] for k, v in STARTUP.items()}}
    assert len(cases) >= 25
    doc = (Path(__file__).parents[1] / "RELIABILITY.md").read_text()
    missing = [c for c in cases if f"`{c}`" not in doc]
    assert not missing, f"RELIABILITY.md does not list {missing}"


def fault_cases() -> list[str]:
    return list(STREAM) + list(STARTUP)
