"""Set assembly, partial sets, health and extrinsics: pure logic, no ROS graph (core/sets.py, health.py,
extrinsics.py, tf_tree.py)."""
from __future__ import annotations

from types import SimpleNamespace as NS

import numpy as np
import pytest

from fsmde_ros.core import health
from fsmde_ros.core.extrinsics import Extrinsics, pose_difference
from fsmde_ros.core.geometry import pose_matrix
from fsmde_ros.core.rig import load_rig
from fsmde_ros.core.sets import SetAssembler, classify_set_stamp, describe_info_change, stamp_offsets
from fsmde_ros.core.tf_tree import StaticTfTree
from fsmde_ros.resources import default_rig_file

MS = 1_000_000
OFF = [25, 33, 40, 0, 10, 17]


def msg(st, **kw):
    return NS(header=NS(stamp=NS(sec=st // 10**9, nanosec=st % 10**9), frame_id="f"), **kw)


def info(st, fx=250.0, w=320, h=180):
    return msg(st, k=[fx, 0, 160, 0, fx, 90, 0, 0, 1], width=w, height=h)


def test_images_sync_alone_whatever_the_camera_info_stamps():
    a = SetAssembler(6, 10, 60 * MS)
    got = []
    for k in range(5):
        t = 10**12 + k * 83 * MS
        for i, o in enumerate(OFF):
            a.add_info(i, info(t + o * MS - 30 * MS))  # CameraInfo 30 ms early: a 12-input sync never matched
            out = a.add_image(i, t + o * MS, msg(t + o * MS))
            if out:
                got.append(out)
    assert len(got) == 5
    assert all(i is not None for i in a.infos_for(got[-1]))


def test_camera_info_of_the_same_stamp_is_preferred_and_awaited():
    a = SetAssembler(2, 5, 60 * MS)
    a.add_info(0, info(1000 * MS, fx=200))
    a.add_info(1, info(1000 * MS, fx=200))
    imgs = (msg(1000 * MS), msg(1010 * MS))
    assert a.awaited_infos(imgs) == []  # not learnt yet: the newest is used
    a.note_pairing(imgs)
    assert a.exact == [True, False]
    nxt = (msg(2000 * MS), msg(2010 * MS))
    assert a.awaited_infos(nxt) == [0], "camera 0 stamps its info like its image: wait for it"
    a.add_info(0, info(2000 * MS, fx=300))
    a.add_info(0, info(2083 * MS, fx=400))  # a newer one must not replace the exact one
    assert a.infos_for(nxt)[0].k[0] == 300 and a.awaited_infos(nxt) == []


def test_info_changes_are_described():
    assert describe_info_change(info(0), info(0)) is None
    assert describe_info_change(info(0), info(0, fx=260)) == "fx 250.00 -> 260.00, fy 250.00 -> 260.00"
    assert describe_info_change(info(0), info(0, w=640, h=360)).startswith("size 320x180 -> 640x360")
    a = SetAssembler(1, 5, 60 * MS)
    assert a.add_info(0, info(0)).first and a.add_info(0, info(1)) is None
    assert "fx 250.00 -> 260.00" in a.add_info(0, info(2, fx=260)).text


def feed(a, sets, skip=(), shift=None):
    for k in range(sets):
        t = 10**12 + k * 83 * MS
        for i, o in enumerate(OFF):
            if i in skip:
                continue
            st = t + (o + (shift or {}).get(i, 0)) * MS
            a.add_image(i, st, msg(st, cam=i, set=k))


def test_partial_set_is_the_newest_window_with_every_live_camera():
    a = SetAssembler(6, 10, 60 * MS, history=4)
    feed(a, 3, skip=(2,))
    imgs, t = a.partial([0, 1, 3, 4, 5], None)
    assert [m.cam if m else None for m in imgs] == [0, 1, None, 3, 4, 5]
    assert {m.set for m in imgs if m} == {2}, "all from the newest capture"
    assert a.partial([0, 1, 3, 4, 5], t) is None, "never the same or an older stamp twice"


def test_partial_set_waits_for_a_late_camera_instead_of_cutting_it():
    a = SetAssembler(6, 10, 60 * MS, history=4)
    feed(a, 2, skip=(2,))
    t2 = 10**12 + 2 * 83 * MS
    for i in (0, 1, 3):  # the newest capture is half in: the previous one still holds all five
        a.add_image(i, t2 + OFF[i] * MS, msg(t2, cam=i, set=2))
    imgs, _ = a.partial([0, 1, 3, 4, 5], None)
    assert sum(m is not None for m in imgs) == 5 and {m.set for m in imgs if m} == {1}


def test_a_camera_whose_clock_is_off_is_left_out_not_the_others():
    a = SetAssembler(6, 10, 60 * MS, history=4)
    t = 10**12
    for k in range(3):  # sets 1 s apart: CAM 0 70 ms late never fits the slop
        for i, o in enumerate(OFF):
            st = t + k * 10**9 + (o + (70 if i == 0 else 0)) * MS
            assert a.add_image(i, st, msg(st, cam=i)) is None
    imgs, _ = a.partial(list(range(6)), None)
    assert imgs[0] is None and all(m is not None for m in imgs[1:])
    offs = stamp_offsets([[s for s, _ in r] for r in a.recent])
    assert 0.06 <= offs[0] <= 0.1 and all(abs(o) < 0.04 for o in offs[1:]), offs  # capture offsets: +-25 ms


def cams(case=None):
    """Three healthy cameras, with the fields in ``case[i]`` replaced for camera i."""
    base = dict(image_age=0.05, info_age=0.05, served_age=0.1, zero_stamps=0, offset=0.0)
    return tuple(health.CameraHealth(f"C{i}", f"C{i}/image", f"C{i}/camera_info", **{**base, **(case or {}).get(i, {})})
                 for i in range(3))


def assess(c, since=10.0, **kw):
    return health.assess(health.HealthInput(c, since, 2.0, 0.06, 1.0, **kw))


@pytest.mark.parametrize("case, level, text", [
    (dict(), health.OK, "running"),
    ({i: dict(image_age=None, info_age=None, served_age=None) for i in range(3)}, health.WARN,
     "waiting for 3 cameras on ['C0/image', 'C1/image', 'C2/image']"),
    ({1: dict(zero_stamps=5)}, health.ERROR, "header.stamp is 0 on ['C1/image'] (5 images)"),
    ({i: dict(image_age=5.0, served_age=5.0) for i in range(3)}, health.WARN, "all 3 cameras silent for 5.0 s"),
    ({2: dict(image_age=3.0, served_age=3.0)}, health.WARN, "no images for > 2 s on ['C2/image']: serving partial"),
    ({1: dict(info_age=None)}, health.WARN, "no CameraInfo received on ['C1/camera_info']"),
    ({0: dict(served_age=None, offset=0.07)}, health.WARN,
     "images arrive but ['C0'] not served for > 2 s: stamps off the other cameras' by C0 +70 ms (sync_slop 60 ms)"),
    ({i: dict(served_age=9.0) for i in range(3)}, health.ERROR, "images arrive but ['C0', 'C1', 'C2'] not served"),
    ({1: dict(info_age=4.0)}, health.WARN, "CameraInfo on ['C1/camera_info'] last received > 2 s ago"),
])
def test_health_names_the_cause(case, level, text):
    got_level, message = assess(cams(case))
    assert got_level == level and text in message, message


def test_health_tells_sets_that_fail_or_are_still_processing_from_sets_that_never_form():
    unserved = cams({i: dict(served_age=None) for i in range(3)})
    assert "no set formed" in assess(unserved)[1]
    level, message = assess(unserved, set_age=0.1, error="TypeError: process() got an unexpected keyword")
    assert level == health.ERROR and message.endswith("sets form but processing them fails: TypeError: process() got "
                                                      "an unexpected keyword"), message
    assert "sets form (the last 0.1 s ago) but none has finished processing" in assess(unserved, set_age=0.1)[1]
    assert "no set formed" in assess(unserved, set_age=5.0)[1]  # an old set says nothing about now


def test_health_never_ok_while_nothing_is_served_and_names_future_stamps():
    c = tuple(health.CameraHealth(f"C{i}", "t", "i", 0.05, 0.05, None) for i in range(2))
    assert assess(c, since=1.0)[0] == health.OK or assess(c, since=1.0)[1] == "running"  # too early to judge
    level, message = assess(c, since=5.0, future_dropped=12, stamp_ahead=3600.0)
    assert level == health.ERROR and "stamped 3600.0 s ahead of the node clock" in message


def test_health_codes_are_stable_keys():
    assert health.code("all 6 cameras silent for 3.5 s") == health.code("all 6 cameras silent for 9.9 s")
    assert health.code("no images for > 2 s on ['A']") == health.code("no images for > 2 s on ['B']")


def test_static_tf_tree_composes_chains_like_tf2():
    tree = StaticTfTree()
    T_bm = pose_matrix([1, 2, 0], [np.cos(0.2), 0, 0, np.sin(0.2)])
    T_mc = pose_matrix([0.1, 0, 0.5], [0.5, -0.5, 0.5, -0.5])
    tree.add("base_link", "mount", T_bm)
    tree.add("/mount", "cam", T_mc)
    np.testing.assert_allclose(tree.lookup("base_link", "cam"), T_bm @ T_mc)
    np.testing.assert_allclose(tree.lookup("cam", "base_link"), np.linalg.inv(T_bm @ T_mc), atol=1e-12)
    tree.add("odom", "other", np.eye(4))
    assert tree.lookup("base_link", "other") is None


def test_extrinsics_tf_replaces_rig_later_and_disagreement_warns_once():
    rig = load_rig(default_rig_file())
    cam = rig.cameras[0]
    warnings, infos, table = [], [], {}
    ext = Extrinsics(rig, "base_link", lambda tgt, src: table.get(src), lambda k, s: warnings.append(s), infos.append)
    np.testing.assert_allclose(ext.get(cam.frame_id), cam.T_base_camera)  # no TF yet: the rig file
    assert "using the rig file's extrinsics" in infos[-1]
    moved = cam.T_base_camera.copy()
    moved[:3, 3] += [0.3, 0, 0]
    table[cam.frame_id] = moved  # /tf_static arrives later: it wins from the next set on
    np.testing.assert_allclose(ext.get(cam.frame_id), moved)
    assert "replaces the rig-file extrinsics" in infos[-1]
    assert len(warnings) == 1 and "differs from the rig file by 30.0 cm" in warnings[0]
    ext.get(cam.frame_id)
    assert len(warnings) == 1, "said once per frame"
    assert ext.get("nope", "X/image") is None and "frame_id 'nope' is unknown to TF and to the rig file" in warnings[-1]
    assert pose_difference(np.eye(4), pose_matrix([0, 0, 0], [np.cos(np.radians(1)), 0, 0, np.sin(np.radians(1))]))[1] \
        == pytest.approx(2.0)


def test_rig_extrinsics_are_brought_to_another_base_frame_through_tf():
    rig = load_rig(default_rig_file())
    cam = rig.cameras[1]
    T_odom_base = pose_matrix([5, 0, 0], [1, 0, 0, 0])
    ext = Extrinsics(rig, "odom", lambda tgt, src: T_odom_base if src == "base_link" else None, lambda k, s: None)
    np.testing.assert_allclose(ext.get(cam.frame_id), T_odom_base @ cam.T_base_camera)
    assert Extrinsics(rig, "odom", None, lambda k, s: None).get(cam.frame_id) is None


@pytest.mark.parametrize("stamp, last, now, verdict", [
    (10**18, None, 10**18, "ok"), (10**18 + 3600 * 10**9, None, 10**18, "future"), (5, 5, 10**18, "duplicate"),
    (10**18 - 30 * 10**9, 10**18, 10**18, "backwards"), (10**18 - 5 * 10**8, 10**18, 10**18, "ok"),
    (10**18 + 3600 * 10**9, None, 0, "ok"),  # no clock yet (sim time before /clock): nothing to compare with
])
def test_set_stamps_are_classified(stamp, last, now, verdict):
    assert classify_set_stamp(stamp, last, now, 10.0)[0] == verdict
