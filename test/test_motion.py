"""Ego-motion compensation of the fused cloud, without ROS (core/motion.py, CloudFuser's motions)."""
import numpy as np
import pytest

from fsmde_ros.core.cloud import CloudFuser
from fsmde_ros.core.geometry import pose_matrix, quat_wxyz_to_matrix
from fsmde_ros.core.motion import EgoMotion, PoseHistory, matrix_to_wxyz, slerp

MS = 1_000_000


def yaw_quat(yaw: float) -> np.ndarray:
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def drive(history: PoseHistory, t0_ns: int, seconds: float, hz: float, v: float, yaw_rate: float) -> None:
    """A straight line at v m/s along x with a constant yaw rate (translation linear, rotation uniform in time:
    both interpolate exactly)."""
    for k in range(int(seconds * hz) + 1):
        t = k / hz
        history.add(t0_ns + int(round(t * 1e9)), [v * t, 0.0, 0.0], yaw_quat(yaw_rate * t))


def test_quaternion_round_trip_and_slerp():
    rng = np.random.default_rng(0)
    for _ in range(200):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        q *= np.sign(q[0])
        np.testing.assert_allclose(matrix_to_wxyz(quat_wxyz_to_matrix(q)), q, atol=1e-12)
    for angle in (np.pi - 1e-9, np.pi / 2, 1e-9):  # the trace < 0 branch, the general case, identity-near
        R = quat_wxyz_to_matrix([np.cos(angle / 2), np.sin(angle / 2), 0, 0])
        np.testing.assert_allclose(quat_wxyz_to_matrix(matrix_to_wxyz(R)), R, atol=1e-9)
    np.testing.assert_allclose(slerp(yaw_quat(0.0), yaw_quat(0.4), 0.25), yaw_quat(0.1), atol=1e-12)
    np.testing.assert_allclose(slerp(yaw_quat(0.0), yaw_quat(0.4), 1.5), yaw_quat(0.6), atol=1e-12)  # extrapolates
    np.testing.assert_allclose(slerp(yaw_quat(0.1), -yaw_quat(0.3), 0.5), yaw_quat(0.2), atol=1e-12)  # short way


def test_history_interpolates_extrapolates_a_little_and_refuses_gaps():
    h = PoseHistory(max_gap_s=0.5, max_extrapolation_s=0.1)
    t0 = 10 * 10**9
    drive(h, t0, 1.0, 20.0, v=10.0, yaw_rate=0.3)
    for t in (0.013, 0.5, 0.987, 1.05, -0.04):  # inside, at a sample, inside, 50 ms past the end, 40 ms before
        P = h.at(t0 + int(t * 1e9))
        np.testing.assert_allclose(P[:3, 3], [10.0 * t, 0, 0], atol=1e-9)
        np.testing.assert_allclose(P[:3, :3], quat_wxyz_to_matrix(yaw_quat(0.3 * t)), atol=1e-12)
    assert h.at(t0 + int(1.2e9)) is None and h.at(t0 - int(0.2e9)) is None  # beyond the extrapolation limit
    h.add(t0 + int(2.0e9), [20.0, 0, 0], yaw_quat(0.6))  # a 1 s dropout is not bridged
    assert h.at(t0 + int(1.5e9)) is None and h.at(t0 + int(2.0e9)) is not None
    with pytest.raises(ValueError, match="not finite"):
        h.add(t0, [0, 0, 0], [0, 0, 0, 0])


def test_history_takes_late_samples_in_order_and_restarts_on_a_loop():
    h = PoseHistory(span_s=5.0)
    t0 = 100 * 10**9
    for k in (0, 2, 1, 3):  # 1 arrives late: inserted in order
        h.add(t0 + k * 50 * MS, [k * 0.5, 0, 0], yaw_quat(0))
    assert h.t == sorted(h.t) and len(h) == 4
    np.testing.assert_allclose(h.at(t0 + 75 * MS)[0, 3], 0.75)
    h.add(t0 - 30 * 10**9, [0, 0, 0], yaw_quat(0))  # 30 s back: a bag loop; what came before is gone
    assert len(h) == 1 and h.resets == 1
    for k in range(200):  # 10 s at 20 Hz: only the last span_s are kept
        h.add(t0 + k * 50 * MS, [0, 0, 0], yaw_quat(0))
    assert (h.t[-1] - h.t[0]) <= 5 * 10**9


def test_between_is_the_motion_in_the_reference_base_frame():
    h = PoseHistory()
    t0 = 10**9
    drive(h, t0, 1.0, 50.0, v=10.0, yaw_rate=0.0)
    M = h.between(t0 + 200 * MS, t0 + 240 * MS)  # exposed 40 ms after the reference: 0.4 m further along x
    np.testing.assert_allclose(M, pose_matrix([0.4, 0, 0], [1, 0, 0, 0]), atol=1e-9)
    # with the vehicle yawed 90 degrees, its forward motion is still +x in its own frame
    g = PoseHistory()
    for k in range(11):
        g.add(t0 + k * 20 * MS, [0.0, 0.2 * k, 0.0], yaw_quat(np.pi / 2))
    np.testing.assert_allclose(g.between(t0, t0 + 100 * MS)[:3, 3], [1.0, 0, 0], atol=1e-9)


def test_ego_motion_picks_its_source_and_says_why_not():
    said = []
    m = EgoMotion("auto", None, lambda k, s: said.append((k, s)))
    assert m.motions([0, 10 * MS], 0) == [None, None] and not said  # auto with nothing: the start-up line says so
    assert m.sets_uncompensated == 1 and m.last_source is None
    drive(m.history, 0, 1.0, 20.0, v=5.0, yaw_rate=0.0)
    out = m.motions([100 * MS, 140 * MS, None], 100 * MS)
    assert m.last_source == "odometry" and out[2] is None
    np.testing.assert_allclose(out[1][:3, 3], [0.2, 0, 0], atol=1e-9)
    np.testing.assert_allclose(out[0], np.eye(4), atol=1e-12)
    out = m.motions([100 * MS, 5000 * MS], 100 * MS)  # the second exposure is outside the poses
    assert out[1] is None and said[-1][0] == ("motion_gap", "odometry") and "cover" in said[-1][1]

    def tf_between(t_ref, t):
        if t > 10**9:
            raise LookupError("extrapolation into the future")
        return pose_matrix([(t - t_ref) * 1e-8, 0, 0], [1, 0, 0, 0])

    tf = EgoMotion("tf", tf_between, lambda k, s: said.append((k, s)))
    out = tf.motions([0, 20 * MS, 2 * 10**9], 0)
    assert tf.last_source == "tf" and out[2] is None and said[-1][0] == ("motion_gap", "tf")
    np.testing.assert_allclose(out[1][0, 3], 0.2)
    n = len(said)
    none = EgoMotion("none", tf_between, lambda k, s: said.append((k, s)))
    assert none.motions([0, 20 * MS], 0) == [None, None] and len(said) == n  # none is not a problem to report
    with pytest.raises(ValueError, match="motion_compensation must be one of"):
        EgoMotion("imu")


def test_the_fuser_moves_each_view_by_its_motion():
    K = np.array([[50.0, 0, 32], [0, 50.0, 24], [0, 0, 1]])
    rng = np.random.default_rng(1)
    depths = [rng.uniform(2, 30, (48, 64)).astype(np.float32) for _ in range(2)]
    rgbs = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(2)]
    Ts = [pose_matrix([1.0, 0, 1.5], [0.5, -0.5, 0.5, -0.5]), pose_matrix([0, 0.5, 1.5], [0.5, -0.5, 0.5, -0.5])]
    M = pose_matrix([0.35, -0.02, 0.0], yaw_quat(0.01))
    fuser = CloudFuser()
    still = fuser.fuse(depths, [K, K], rgbs, Ts, 1, 0.5, 100.0)
    moved = fuser.fuse(depths, [K, K], rgbs, Ts, 1, 0.5, 100.0, motions=[None, M])
    n0 = int((~np.isnan(depths[0])).sum())
    xyz = lambda c: np.stack([c["x"], c["y"], c["z"]], 1).astype(np.float64)  # noqa: E731
    assert len(still) == len(moved) == 2 * n0 and np.array_equal(still["rgb"], moved["rgb"])
    np.testing.assert_array_equal(xyz(moved)[:n0], xyz(still)[:n0])
    expect = xyz(still)[n0:] @ M[:3, :3].T + M[:3, 3]
    np.testing.assert_allclose(xyz(moved)[n0:], expect, atol=1e-4)
    # the same as placing the view with the moved extrinsics
    direct = fuser.fuse(depths[1:], [K], rgbs[1:], [M @ Ts[1]], 1, 0.5, 100.0)
    np.testing.assert_allclose(xyz(moved)[n0:], xyz(direct), atol=1e-4)


def test_a_set_waits_briefly_for_odometry_that_trails_its_images():
    import threading
    import time

    m = EgoMotion("odometry")
    drive(m.history, 0, 1.0, 20.0, v=10.0, yaw_rate=0.0)  # poses to 1.0 s; the set's last exposure at 1.3 s
    stamps, t_ref = [1_250 * MS, 1_300 * MS], 1_250 * MS
    assert m.motions(stamps, t_ref)[1] is None  # not waiting: beyond the 0.1 s extrapolation
    t0 = time.monotonic()
    assert m.motions(stamps, t_ref, wait_s=0.1)[1] is None, "300 ms behind: a 0.1 s wait cannot catch up"
    assert time.monotonic() - t0 < 0.09, "so it does not wait"
    late = threading.Timer(0.05, lambda: [m.add_odometry(k * 50 * MS, [0.5 * k, 0, 0], [1, 0, 0, 0])
                                          for k in (21, 22, 23, 24, 25, 26, 27)])
    late.start()
    out = m.motions(stamps, t_ref, wait_s=5.0)  # the poses arrive 50 ms later: placed with them
    late.join()
    np.testing.assert_allclose(out[1][:3, 3], [0.5, 0, 0], atol=1e-9)
    t0 = time.monotonic()
    assert m.motions([9_000 * MS], 9_000 * MS, wait_s=5.0) == [None]  # odometry 7.6 s behind: stopped, no wait
    assert time.monotonic() - t0 < 2.0
