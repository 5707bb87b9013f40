"""Frames t-1, t, t+1 for self-supervised training (issue 14): stamps checked, ego motion from the dataset."""
from __future__ import annotations

import copy

import pytest
import torch

from fsmde_train.data.sequence import SurroundSequence
from fsmde_train.losses.photometric import warp

HW = (108, 192)


@pytest.fixture(scope="module")
def base(tiny_world, nusc):
    from fsmde_train.data import SurroundDataset

    return SurroundDataset(tiny_world, "v1.0-synth", input_hw=HW, sweeps=True, gt="dense", progress=False, nusc=nusc)


def _drop(base, keep):
    """A copy of ``base`` holding only the camera sets ``keep`` (in that order)."""
    b = copy.copy(base)
    b.samples = [base.samples[i] for i in keep]
    for k in ("images", "depths", "dense_depths", "K", "T", "E"):
        setattr(b, k, getattr(base, k)[keep])
    return b


def test_triples_are_consecutive_and_their_poses_warp_frame_to_frame(base):
    seq = SurroundSequence(base)
    assert len(seq) == len(base) - 2 * len(base.scenes) and not seq.skipped
    s = seq[3]
    assert s["image"].shape == (3, 6, 3, *HW) and s["T_ref_cam"].shape == (3, 6, 4, 4)
    assert (torch.diff(s["stamps_us"], dim=0) > 0).all()
    # the pose chain: CAM_FRONT at t+1 re-projected into t with t's exact depth matches (gain-matched L1)
    T_src_tgt = torch.linalg.inv(s["T_ref_cam"][2, 0].double()) @ s["T_ref_cam"][1, 0].double()
    img = lambda f: torch.from_numpy(base.images[int(s["index"]) + f - 1, 0]).permute(2, 0, 1)[None].float() / 255  # noqa: E731
    w, v = warp(img(2), s["depth_dense"][:1], s["K"][:1], s["K"][:1], T_src_tgt.float()[None])
    m = v.expand_as(w)
    w = w * img(1)[m].mean() / w[m].mean()
    assert float((w - img(1)).abs().mean(1, keepdim=True)[v].median()) < 0.018
    # ego motion: forward along the street, metres per frame at driving speed, never assumed zero
    step = s["T_ref_cam"][2, 0, :3, 3] - s["T_ref_cam"][1, 0, :3, 3]
    assert 0.2 < float(step.norm()) < 1.5


def test_a_dropped_or_reordered_frame_is_skipped_and_reported_never_bridged(base):
    n = len(base.samples)
    dropped = SurroundSequence(_drop(base, [i for i in range(n) if i != 5]))
    assert any("gap of" in s["reason"] and "dropped frame" in s["reason"] for s in dropped.skipped)
    assert len(dropped) == len(SurroundSequence(base)) - 3
    order = list(range(n))
    order[5], order[6] = order[6], order[5]
    swapped = SurroundSequence(_drop(base, order))
    assert any("not increasing" in s["reason"] for s in swapped.skipped)


def test_fewer_than_three_frames_is_one_clear_error(base):
    with pytest.raises(ValueError, match="3 consecutive frames per camera"):
        SurroundSequence(_drop(base, [0, 1]))


def test_stride_two_triples_span_two_sets_and_never_a_dropped_frame(base):
    one = SurroundSequence(base)
    both = SurroundSequence(base, strides=(1, 2))
    per_scene = [sum(sc == x for x in base.set_scenes()) for sc in dict.fromkeys(base.set_scenes())]
    assert len(both) == len(one) + sum(n - 4 for n in per_scene)
    k = [i for i, (a, b, c) in enumerate(both.triples) if c - b == 2][0]
    s, s1 = both[k], one[both.triples[k][1] - 1]  # the same frame t at stride 2 and at stride 1
    assert s["T_ref_cam"].shape == (3, 6, 4, 4) and (torch.diff(s["stamps_us"], dim=0) > 0).all()
    assert torch.equal(s["image"][1], s1["image"][1])
    # the frames are two sets apart: about twice the stride-1 motion of the same frame t
    step2 = (s["T_ref_cam"][2, 0, :3, 3] - s["T_ref_cam"][1, 0, :3, 3]).norm()
    step1 = (s1["T_ref_cam"][2, 0, :3, 3] - s1["T_ref_cam"][1, 0, :3, 3]).norm()
    assert 1.8 < float(step2 / step1) < 2.2
    # a dropped frame: no stride-2 triple spans it, and the skip is reported
    n = len(base.samples)
    dropped = SurroundSequence(_drop(base, [i for i in range(n) if i != 5]), strides=(1, 2))
    spans = [(a, c) for a, b, c in dropped.triples if c - b == 2 and a <= 4 < c]  # set 4 -> 5 is the gap now
    assert not spans and any(s["reason"].startswith("stride-2") for s in dropped.skipped)
    for bad in ((), (0,), (1, 1), (1.5,)):
        with pytest.raises(ValueError, match="strides must be distinct integers >= 1"):
            SurroundSequence(base, strides=bad)


def _scale_motion(T_ref_cam, T_ego_cam, s):
    """Scale the ego motion's translation (what a pose network cannot tell from a scaled depth)."""
    M = T_ref_cam.double() @ torch.linalg.inv(T_ego_cam.double())[None]  # [F, N, 4, 4] ego motion per view
    M[..., :3, 3] *= s
    return (M @ T_ego_cam.double()[None]).float()


def test_only_the_spatial_term_sees_the_metric_scale_when_the_motion_is_learned(base):
    """With the world's exact depth and motion both reconstruction terms sit at the photometric floor. Depth and
    ego translation scaled together x1.5 (a pose network's ambiguity) leave the temporal term nearly unchanged
    and clearly raise the spatial one, whose baseline is metric: the spatial term is what gives a camera-only
    run without odometry its metric scale. With metric odometry the temporal term sees a wrong depth scale too."""
    from fsmde_train.losses.photometric import surround_reconstruction

    seq = SurroundSequence(base)
    s = seq[len(seq) // 2]
    mean = torch.tensor(base.mean).view(1, 1, 3, 1, 1)
    std = torch.tensor(base.std).view(1, 1, 3, 1, 1)
    images = (s["image"][:, :, :3] * std + mean)[None]
    depth, K = s["depth_dense"][None], s["K"][None]
    exact = surround_reconstruction(images, depth, K, s["T_ref_cam"][None])
    joint = surround_reconstruction(images, depth * 1.5, K, _scale_motion(s["T_ref_cam"], s["T_ego_cam"], 1.5)[None])
    metric_motion = surround_reconstruction(images, depth * 1.5, K, s["T_ref_cam"][None])
    assert float(joint["temporal"]) < 1.1 * float(exact["temporal"]), (exact, joint)
    assert float(joint["spatial"]) > 1.5 * float(exact["spatial"]), (exact, joint)
    assert float(metric_motion["temporal"]) > 1.3 * float(exact["temporal"]), (exact, metric_motion)
    with pytest.raises(ValueError, match="frames"):
        surround_reconstruction(images[:, :2], depth, K, s["T_ref_cam"][None])


def test_the_spatio_temporal_term_sits_at_the_floor_with_exact_depth_and_rises_with_a_wrong_scale(base):
    """Ring neighbours at t-1/t+1 re-synthesise each view at t: with the world's depth and motion the error is at
    the photometric floor (the level of the spatial term at t); a depth off x1.5 raises it (metric motion)."""
    from fsmde_train.losses.photometric import surround_reconstruction

    seq = SurroundSequence(base)
    s = seq[len(seq) // 2]
    mean = torch.tensor(base.mean).view(1, 1, 3, 1, 1)
    std = torch.tensor(base.std).view(1, 1, 3, 1, 1)
    images = (s["image"][:, :, :3] * std + mean)[None]
    depth, K, T = s["depth_dense"][None], s["K"][None], s["T_ref_cam"][None]
    exact = surround_reconstruction(images, depth, K, T, spatio_temporal=True)
    wrong = surround_reconstruction(images, depth * 1.5, K, T, spatio_temporal=True)
    print({k: round(float(v), 4) for k, v in exact.items()}, round(float(wrong["spatio_temporal"]), 4))
    assert "spatio_temporal" not in surround_reconstruction(images, depth, K, T)
    assert 0 < float(exact["spatio_temporal"]) < 1.3 * float(exact["spatial"]), exact
    assert float(wrong["spatio_temporal"]) > 1.3 * float(exact["spatio_temporal"]), (exact, wrong)
