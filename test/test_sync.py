"""Approximate time sync (core/sync.py) against message_filters' own algorithm, without a ROS graph."""
import random
from types import SimpleNamespace

import pytest

from fsmde_ros.core.sync import ApproximateSync, ReferenceSync

MS = 1_000_000
NUSC_OFFSETS_MS = [25, 33, 40, 0, 10, 17]  # CAM_FRONT .. CAM_FRONT_LEFT within one LiDAR sweep


def arrivals(n_sets, offsets_ms, period_ms=83, with_info=True):
    """(input index, stamp) for image (0..5) and camera_info (6..11) messages of n_sets camera sets."""
    out = []
    for k in range(n_sets):
        for c, off in enumerate(offsets_ms):
            st = (1_000 + k * period_ms + off) * MS
            out.append((c, st))
            if with_info:
                out.append((c + 6, st))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_scrambled_arrival_orders_still_pair_every_set(seed):
    events = arrivals(20, NUSC_OFFSETS_MS)
    rng = random.Random(seed)
    jittered = sorted(events, key=lambda e: e[1] + rng.randint(-60, 60) * MS)
    got = []
    sync = ApproximateSync(12, queue_size=10, slop_ns=50 * MS, callback=lambda *m: got.append(m))
    for i, st in jittered:
        sync.add(i, st, (i, st))
    assert len(got) == 20
    for s in got:
        stamps = [m[1] for m in s]
        assert [m[0] for m in s] == list(range(12)), "one message per input, in input order"
        assert max(stamps) - min(stamps) <= 40 * MS
        assert stamps[:6] == stamps[6:], "each image pairs with its own camera_info"


def test_slop_edges_are_those_of_message_filters():
    def run(spread_ms, slop_ms):
        sync = ApproximateSync(2, 5, slop_ms * MS)
        sync.add(0, 100 * MS, "a")
        return sync.add(1, (100 + spread_ms) * MS, "b")

    assert run(49, 50) == ("a", "b")
    assert run(50, 50) is None, "spread must be strictly below slop"
    assert run(51, 50) is None
    assert run(0, 0) is None, "slop 0 never matches (strict inequality), as in message_filters"


def test_nuscenes_offsets_need_a_slop_over_40ms():
    for slop_ms, expected in ((50, 10), (30, 0)):
        got = []
        sync = ApproximateSync(12, 10, slop_ms * MS, lambda *m: got.append(m))
        for i, st in arrivals(10, NUSC_OFFSETS_MS):
            sync.add(i, st, st)
        assert len(got) == expected


def test_a_missing_camera_drops_only_its_set_and_queues_stay_bounded():
    got = []
    sync = ApproximateSync(12, 4, 50 * MS, lambda *m: got.append(m))
    events = [e for e in arrivals(30, NUSC_OFFSETS_MS) if not (e[0] == 2 and 1_000 + 5 * 83 <= e[1] // MS < 1_000 + 15 * 83)]
    for i, st in events:
        sync.add(i, st, st)
        assert max(sync.pending()) <= 4
    assert len(got) == 20, "the 10 sets without CAM_BACK_RIGHT never complete; all others do"
    assert sync.evicted > 0


def test_one_camera_silent_forever_emits_nothing():
    sync = ApproximateSync(12, 5, 50 * MS)
    for i, st in arrivals(10, NUSC_OFFSETS_MS):
        if i not in (4, 10):
            assert sync.add(i, st, st) is None
    assert sync.emitted == 0 and max(sync.pending()) == 5


@pytest.mark.parametrize("seed", range(30))
def test_matches_message_filters_model_on_random_streams(seed):
    rng = random.Random(seed)
    n, qs, slop = rng.choice([2, 3, 6]), rng.choice([2, 5, 10]), rng.choice([10, 30, 50]) * MS
    events = [(rng.randrange(n), rng.randrange(0, 400) * MS) for _ in range(200)]
    model = ReferenceSync(n, qs, slop)
    got = []
    sync = ApproximateSync(n, qs, slop, lambda *m: got.append(m))
    for k, (i, st) in enumerate(events):
        model.add(i, st, (i, st, k))
        sync.add(i, st, (i, st, k))
    assert got == model.out


def test_fallback_synchronizer_has_the_message_filters_api():
    from fsmde_ros.compat.message_filters import ApproximateTimeSynchronizer, SimpleFilter

    a, b = SimpleFilter(), SimpleFilter()
    ts = ApproximateTimeSynchronizer([a, b], 10, 0.05)
    got = []
    ts.registerCallback(lambda m1, m2, tag: got.append((m1.v, m2.v, tag)), "x")

    def msg(v, ms):
        return SimpleNamespace(v=v, header=SimpleNamespace(stamp=SimpleNamespace(sec=ms // 1000, nanosec=(ms % 1000) * MS)))

    a.signalMessage(msg("a0", 1000))
    b.signalMessage(msg("b0", 1030))
    b.signalMessage(msg("b1", 1090))
    assert got == [("a0", "b0", "x")]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="queue_size"):
        ApproximateSync(2, 0, 1)
    with pytest.raises(ValueError, match="slop"):
        ApproximateSync(2, 1, -1)
