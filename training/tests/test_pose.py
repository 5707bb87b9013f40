"""Surround pose network (issue 14): one vehicle motion, mapped to every camera by its extrinsics."""
from __future__ import annotations

import math

import pytest
import torch

from fsmde_train.networks.pose import (PoseConfig, SurroundPoseNet, axis_angle_to_matrix, camera_motions,
                                       matrix_to_axis_angle, motion_matrix)

HW = (108, 192)
# 60 steps ended at 0.177 on one thread (within 0.15 on two): float order, which 60 Adam steps amplify (2026-12-07)
STEPS = 100


@pytest.fixture(scope="module")
def seq(tiny_world, nusc):
    from fsmde_train.data import SurroundDataset
    from fsmde_train.data.sequence import SurroundSequence

    return SurroundSequence(SurroundDataset(tiny_world, "v1.0-synth", input_hw=HW, sweeps=True, gt="dense",
                                            progress=False, nusc=nusc))


def _true_motion(s, f):
    """Vehicle motion ego(frame f) -> ego(frame t) at CAM_FRONT's exposures, from the world's poses."""
    Tec = s["T_ego_cam"].double()
    ego = lambda k: s["T_ref_cam"][k, 0].double() @ torch.linalg.inv(Tec[0])  # noqa: E731
    return torch.linalg.inv(ego(1)) @ ego(f)


def test_rodrigues_and_the_shared_motion_match_the_worlds_camera_poses(seq):
    R = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, math.pi / 2], [0.0, 0.0, 0.0]], dtype=torch.float64))
    torch.testing.assert_close(R[0], torch.tensor([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]], dtype=torch.float64))
    torch.testing.assert_close(R[1], torch.eye(3, dtype=torch.float64))
    # one vehicle motion through the extrinsics gives every camera's own motion (up to the exposure offsets)
    s = seq[len(seq) // 2]
    M = _true_motion(s, 2)[None]
    cams = camera_motions(M, s["T_ego_cam"].double()[None])[0]
    for c in range(6):
        world = torch.linalg.inv(s["T_ref_cam"][1, c].double()) @ s["T_ref_cam"][2, c].double()
        assert float((cams[c, :3, 3] - world[:3, 3]).norm()) < 0.02
        cos = ((cams[c, :3, :3].T @ world[:3, :3]).trace() - 1) / 2
        assert math.degrees(math.acos(min(1.0, float(cos)))) < 0.1


def test_pose_net_shapes_antisymmetry_rest_and_refusing_another_rig():
    net = SurroundPoseNet(PoseConfig())
    a = torch.randn(2, 6, 3, 64, 96)
    out = net(a, a)
    assert out["M"].shape == (2, 4, 4) and float(out["translation"].abs().max()) < 0.05
    # swapping the frames negates the motion: a constant motion for both orders (the collapse an earlier
    # version trained into) cannot be expressed
    b = torch.randn(2, 6, 3, 64, 96)
    fw, bw = net(a, b), net(b, a)
    for k in ("translation", "axis_angle"):
        torch.testing.assert_close(fw[k], -bw[k])
    assert float(fw["translation"].abs().max()) > 0
    with pytest.raises(ValueError, match="6 cameras"):
        net(a[:, :5], a[:, :5])


@pytest.mark.parametrize("mode", ["inverse", "scaled_difference"])
def test_a_pose_net_with_depth_input_uses_it_stays_antisymmetric_and_refuses_a_missing_one(mode):
    torch.manual_seed(0)
    net = SurroundPoseNet(PoseConfig(depth_input=mode))
    a, b = torch.randn(2, 6, 3, 64, 96), torch.randn(2, 6, 3, 64, 96)
    d = torch.rand(2, 6, 1, 32, 48) * 40 + 1  # coarser than the images: resized to them
    fw, bw = net(a, b, d), net(b, a, d)
    for k in ("translation", "axis_angle"):
        torch.testing.assert_close(fw[k], -bw[k])
    # the depth is an input: the same frames with the scene twice as far give another motion
    assert float((net(a, b, 2 * d)["translation"] - fw["translation"]).abs().max()) > 1e-6
    # and only an input: no gradient reaches the student through it
    dg = d.clone().requires_grad_()
    net(a, b, dg)["translation"].sum().backward()
    assert dg.grad is None
    with pytest.raises(ValueError, match="takes frame a's depth"):
        net(a, b)
    with pytest.raises(ValueError, match="without depth_input"):
        SurroundPoseNet(PoseConfig())(a, b, d)
    with pytest.raises(ValueError, match="depth_input must be one of"):
        SurroundPoseNet(PoseConfig(depth_input="disparity"))


def test_the_correlation_volume_peaks_at_the_displacement_and_the_net_stays_antisymmetric():
    torch.manual_seed(0)
    net = SurroundPoseNet(PoseConfig(depth_input="inverse", correlation=2))
    # the cost volume alone: b's content moved by (1, -2) cells gives cosine 1 in that displacement's channel
    fa = torch.nn.functional.normalize(torch.randn(3, 8, 12, 16), dim=1)
    fb = torch.roll(fa, shifts=(1, -2), dims=(2, 3))
    x = net._correlation_input(fa, fb, None, None, None)
    assert x.shape == (3, 25 + 8, 12, 16)
    cost = x[:, :25, 3:-3, 3:-3]  # away from the zero padding and the roll's wrap
    assert int(cost.argmax(1).unique().item()) == (2 + 1) * 5 + (2 - 2)
    torch.testing.assert_close(cost.amax(1), torch.ones_like(cost[:, 0]))
    # the network: antisymmetric, depth an input, at any image size divisible by 4
    a, b = torch.randn(2, 6, 3, 64, 96), torch.randn(2, 6, 3, 64, 96)
    d = torch.rand(2, 6, 1, 64, 96) * 40 + 1
    fw, bw = net(a, b, d), net(b, a, d)
    for k in ("translation", "axis_angle"):
        torch.testing.assert_close(fw[k], -bw[k])
    assert float((net(a, b, 2 * d)["translation"] - fw["translation"]).abs().max()) > 1e-6
    assert float(net(a, a, d)["translation"].abs().max()) == 0.0
    assert float(net(a, b, d)["translation"].abs().max()) > 0.0
    with pytest.raises(ValueError, match="correlation"):
        SurroundPoseNet(PoseConfig(correlation=-1))
    with pytest.raises(ValueError, match="pose_correlation"):
        from fsmde_train.engine.config import load_config

        load_config(None, {"pose_correlation": -2})


def test_a_per_camera_head_fuses_the_cameras_motions_into_the_vehicles(seq):
    """Each camera's exact motion in its own frame, with any per-axis weights, fuses back to the vehicle's motion."""
    torch.manual_seed(0)
    net = SurroundPoseNet(PoseConfig(depth_input="inverse", per_camera=True))
    s = seq[0]
    E = s["T_ego_cam"][None].repeat(2, 1, 1, 1)  # the tiny world's rig: cameras all round, lever arms ~1-2 m
    Mv = motion_matrix(torch.tensor([[0.001, -0.002, 0.01], [0.0, 0.0, -0.008]]),
                       torch.tensor([[0.6, 0.05, 0.01], [-0.4, 0.02, 0.0]]))
    Mc = camera_motions(Mv, E)
    r = matrix_to_axis_angle(Mc[..., :3, :3].flatten(0, 1)).view(2, 6, 3) / net.cfg.rot_scale
    ab = torch.zeros(2, 2, 6, 12)
    ab[0, ..., :3], ab[0, ..., 3:6] = r / 2, Mc[..., :3, 3] / net.cfg.trans_scale / 2
    ab[1, ..., :6] = -ab[0, ..., :6]
    ab[..., 6:] = torch.randn(2, 6, 6)  # the same weights for both orders (their symmetric part is what counts)
    r_v, t_v = net._fuse_cameras(ab, E)
    torch.testing.assert_close(motion_matrix(r_v, t_v), Mv, atol=2e-4, rtol=0)
    a, b = torch.randn(2, 6, 3, 64, 96), torch.randn(2, 6, 3, 64, 96)
    d = torch.rand(2, 6, 1, 64, 96) * 40 + 1
    fw, bw = net(a, b, d, T_ego_cam=E), net(b, a, d, T_ego_cam=E)
    torch.testing.assert_close(fw["translation"], -bw["translation"])
    with pytest.raises(ValueError, match="per_camera pose network needs T_ego_cam"):
        net(a, b, d)


def test_the_temporal_term_teaches_the_pose_net_the_motion_of_a_triple(seq):
    """The temporal reconstruction with exact depth, on one triple of the tiny world: the predicted motions to
    t-1 and t+1 go from ~0 (100 % error) to within 15 % of the world's. A check of the gradient path and that
    the network can express the motion from photometric error alone; the issue's 5 % / 1° on a held-out
    sequence is a real training run's (fsmde-pose-eval, RESULTS.md)."""
    from fsmde_train.losses.photometric import surround_reconstruction

    torch.manual_seed(0)
    base = seq.base
    mean = torch.tensor(base.mean).view(1, 1, 3, 1, 1)
    std = torch.tensor(base.std).view(1, 1, 3, 1, 1)
    net = SurroundPoseNet(PoseConfig())
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    s = seq[0]
    img, Tec = s["image"][:, :, :3], s["T_ego_cam"].double()
    true = [_true_motion(s, f)[:3, 3] for f in (0, 2)]

    def errors():
        with torch.no_grad():
            t = net(img[1][None].expand(2, -1, -1, -1, -1), img[[0, 2]])["translation"].double()
        return [float((t[i] - true[i]).norm() / true[i].norm()) for i in range(2)]

    assert min(errors()) > 0.8
    for _ in range(STEPS):
        M = net(img[1][None].expand(2, -1, -1, -1, -1), img[[0, 2]])["M"].double()
        T_ref = torch.stack([(M[0] @ Tec), Tec, (M[1] @ Tec)])[None].float()
        loss = surround_reconstruction((img * std + mean)[None], s["depth_dense"][None], s["K"][None], T_ref)["temporal"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert max(errors()) < 0.15, (errors(), true)


def test_the_pose_depth_input_key_is_checked():
    from fsmde_train.engine.config import load_config

    with pytest.raises(ValueError, match="needs pose_net"):
        load_config(None, {"pose_depth_input": "inverse", "data": {"sequence": True}})
    with pytest.raises(ValueError, match="none, inverse or scaled_difference"):
        load_config(None, {"pose_depth_input": True, "pose_net": True})


def test_the_second_pass_trains_from_pose_iterations_from(seq):
    """pose_iterations_from: the trainer runs the pose network's first pass alone until that step, then every
    pass (counted at the real network's encoder: one call a pass, both frame orders batched)."""
    from types import SimpleNamespace

    from fsmde_train.engine.config import load_config
    from fsmde_train.engine.trainer import _pose_net_motion

    cfg = load_config(None, {"pose_net": True, "pose_depth_input": "inverse", "pose_iterations": 2,
                             "pose_iterations_from": 100, "data": {"sequence": True}})
    net = SurroundPoseNet(PoseConfig(depth_input="inverse", iterations=2))
    calls = []
    net.encoder.register_forward_hook(lambda *_: calls.append(1))
    s = seq[0]
    b = {"seq_image": s["image"][None], "T_ego_cam": s["T_ego_cam"], "K": s["K"], "focal_scale": s["focal_scale"],
         "seq_stamps_us": s["stamps_us"][None]}
    s_out = {"depth": torch.where(s["depth_dense"] > 0, s["depth_dense"], torch.full_like(s["depth_dense"], 100.0))}
    per_step = []
    for step in (0, 99, 100, 500):
        calls.clear()
        T = _pose_net_motion(SimpleNamespace(cfg=cfg, step=step, pose_model=net), b, s_out)
        assert T.shape == (1, 3, 6, 4, 4)
        per_step.append(len(calls))
    assert per_step == [1, 1, 2, 2], per_step
    for bad in ({"pose_iterations_from": -1, "pose_iterations": 2}, {"pose_iterations_from": 10}):
        with pytest.raises(ValueError, match="pose_iterations_from must be a step >= 0"):
            load_config(None, {"pose_net": True, "pose_depth_input": "inverse", "data": {"sequence": True}, **bad})


def test_a_second_pose_pass_sees_frame_b_warped_by_the_first_ones_motion(seq):
    """The iterative passes' plumbing on the tiny world's exact depth: a first pass that returns the world's motion
    makes the second pass see frame b warped into a's view, which then matches a (raw b does not), and the
    second pass's output composes on the left of the first's."""
    from fsmde_train.networks.pose import matrix_to_axis_angle

    s = seq[len(seq) // 2]
    img = s["image"][:, :, :3]
    M_true = _true_motion(s, 2).float()
    r_true, t_true = matrix_to_axis_angle(M_true[None, :3, :3]), M_true[None, :3, 3]
    torch.testing.assert_close(axis_angle_to_matrix(r_true)[0], M_true[:3, :3], atol=1e-6, rtol=0)
    small = (torch.tensor([[0.0, 0.0, 0.002]]), torch.tensor([[0.05, 0.0, 0.0]]))

    class Probe(SurroundPoseNet):
        seen = []

        def _pass(self, a, b, dd, T_ego_cam=None):
            self.seen.append(b)
            return (r_true, t_true) if len(self.seen) == 1 else small

    net = Probe(PoseConfig(depth_input="inverse", iterations=2))
    depth = torch.where(s["depth_dense"] > 0, s["depth_dense"], torch.full_like(s["depth_dense"], 100.0))
    out = net(img[1][None], img[2][None], depth[None], s["K"][None], s["T_ego_cam"][None])
    a, raw, warped = img[1], net.seen[0][0], net.seen[1][0]
    near = (s["depth_dense"] > 0) & (s["depth_dense"] < 30)
    err = lambda x: float((x - a).abs().mean(1, keepdim=True)[near].mean())  # noqa: E731
    assert err(warped) < 0.5 * err(raw), (err(warped), err(raw))  # measured 0.39; the inverse motion 1.26
    from fsmde_train.networks.pose import motion_matrix

    torch.testing.assert_close(out["M"][0], (motion_matrix(*small) @ M_true[None])[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(out["translation"], out["M"][:, :3, 3])
    with pytest.raises(ValueError, match="needs frame a's depth, K"):
        net(img[1][None], img[2][None], depth[None])
    with pytest.raises(ValueError, match="iterations must be >= 1"):
        SurroundPoseNet(PoseConfig(iterations=2))


def test_the_sequence_loss_scores_every_pass_and_the_jitter_scales_the_second_passs_start(seq):
    """pose_sequence_gamma / pose_iteration_jitter: the network reports the motion after every pass (the first one
    unperturbed), a jittered second pass composes on the first motion scaled by the drawn factor, the trainer
    hands each earlier pass to the temporal term with weight gamma ** (passes - pass), and that term is the
    objective's own temporal term."""
    from types import SimpleNamespace

    from fsmde_train.engine.config import load_config
    from fsmde_train.engine.trainer import _pose_net_motion
    from fsmde_train.losses.objective import LossConfig, Objective
    from fsmde_train.networks.pose import matrix_to_axis_angle, motion_matrix

    s = seq[len(seq) // 2]
    img = s["image"][:, :, :3]
    M_true = _true_motion(s, 2).float()
    r_true, t_true = matrix_to_axis_angle(M_true[None, :3, :3]), M_true[None, :3, 3]
    small = (torch.tensor([[0.0, 0.0, 0.002]]), torch.tensor([[0.05, 0.0, 0.0]]))

    class Probe(SurroundPoseNet):
        calls = 0

        def _pass(self, a, b, dd, T_ego_cam=None):
            Probe.calls += 1
            r, t = (r_true, t_true) if Probe.calls % 2 == 1 else small
            return r.expand(a.shape[0], 3), t.expand(a.shape[0], 3)

    net = Probe(PoseConfig(depth_input="inverse", iterations=2))
    depth = torch.where(s["depth_dense"] > 0, s["depth_dense"], torch.full_like(s["depth_dense"], 100.0))
    args = (img[1][None], img[2][None], depth[None], s["K"][None], s["T_ego_cam"][None])
    out = net(*args, jitter=0.25, generator=torch.Generator().manual_seed(3))
    f = 1.0 + 0.25 * (2.0 * torch.rand(1, 1, generator=torch.Generator().manual_seed(3)) - 1.0)
    assert abs(float(f) - 1.0) > 0.01  # a draw that moves the start
    torch.testing.assert_close(out["M_passes"][0][0], M_true, atol=1e-6, rtol=0)
    start = motion_matrix(r_true * f, t_true * f)
    torch.testing.assert_close(out["M"][0], (motion_matrix(*small) @ start)[0], atol=1e-5, rtol=0)
    assert len(out["M_passes"]) == 2 and out["M_passes"][1] is out["M"]
    plain = net(*args)  # no jitter: the start is the first pass's motion
    torch.testing.assert_close(plain["M"][0], (motion_matrix(*small) @ M_true[None])[0], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="jitter must be in"):
        net(*args, jitter=1.0)

    b = {"seq_image": s["image"][None], "T_ego_cam": s["T_ego_cam"], "K": s["K"], "focal_scale": s["focal_scale"],
         "seq_stamps_us": s["stamps_us"][None], "depth_canon": s["depth_canon"][None]}
    s_out = {"depth": depth}
    earlier = {}
    for gamma in (0.8, 0.0):
        cfg = load_config(None, {"pose_net": True, "pose_depth_input": "inverse", "pose_iterations": 2,
                                 "pose_sequence_gamma": gamma, "pose_iteration_jitter": 0.25,
                                 "data": {"sequence": True}})
        run = SimpleNamespace(cfg=cfg, step=0, pose_model=net, dd=SimpleNamespace(rank=0))
        T = _pose_net_motion(run, b, s_out)
        earlier[gamma] = run.pose_earlier
    assert earlier[0.0] == [] and len(earlier[0.8]) == 1
    w, T1 = earlier[0.8][0]
    assert w == pytest.approx(0.8) and T1.shape == T.shape == (1, 3, 6, 4, 4)
    obj = Objective(LossConfig(photo_temporal=1.0, photo_spatial=1.0, silog=0.0, bins=0.0, photo_scales=(1, 2)),
                    0.5, 100.0, 6)
    bt = {**b, "seq_T_ref_cam": T1}
    _, terms = obj({"depth": depth}, bt)
    torch.testing.assert_close(obj.temporal_term({"depth": depth}, bt), terms["photo_temporal"])
    for bad in ({"pose_sequence_gamma": 0.8}, {"pose_iteration_jitter": 0.2},
                {"pose_sequence_gamma": 1.5, "pose_iterations": 2}):
        with pytest.raises(ValueError, match="pose_sequence_gamma must be in"):
            load_config(None, {"pose_net": True, "pose_depth_input": "inverse", "data": {"sequence": True}, **bad})


class _WorldMotion(torch.nn.Module):
    """Stand-in pose network: the world's own motion ego(b) -> ego(a) for each pair, found by matching the
    frames against the triple's; ``twice_is_once`` answers the two-frame pair with the one-frame motion, as a
    network with a speed prior does."""

    def __init__(self, s, twice_is_once=False):
        super().__init__()
        self.frames, self.s, self.twice_is_once = s["image"], s, twice_is_once

    def _index(self, x):
        return next(k for k in range(3) if torch.equal(x, self.frames[k]))

    def forward(self, a, b, depth, K, T_ego_cam, iterations, align, jitter=0.0, generator=None):
        Ms = []
        for ai, bi in zip(a, b):
            ka, kb = self._index(ai), self._index(bi)
            if self.twice_is_once and abs(ka - kb) == 2:
                kb = 1 if ka == 0 else 0
                ka = 0 if ka == 0 else 1
            Ms.append(torch.linalg.inv(_true_motion(self.s, ka)) @ _true_motion(self.s, kb))
        M = torch.stack(Ms).float()
        from fsmde_train.networks.pose import matrix_to_axis_angle

        return {"M": M, "M_passes": [M], "axis_angle": matrix_to_axis_angle(M[:, :3, :3]), "translation": M[:, :3, 3]}


def test_pose_composition_scores_a_two_frame_motion_against_the_composed_one_frame_motions(seq):
    """pose_composition: the pair (t-1, t+1) must give inv(ego(t-1) -> ego(t)) @ (ego(t+1) -> ego(t)). The world's
    own motions meet it (0 up to float32); answering twice the flow with one frame's motion (a speed prior) scores
    its log length ratio, log 2. The photometric terms still get the two one-frame motions, and frame t-1's depth
    comes from the student."""
    from types import SimpleNamespace

    from fsmde_train.engine.config import load_config
    from fsmde_train.engine.trainer import _pose_net_motion

    cfg = load_config(None, {"pose_net": True, "pose_depth_input": "inverse", "pose_composition": 0.1,
                             "data": {"sequence": True}})
    s = seq[2]
    b = {"seq_image": s["image"][None], "T_ego_cam": s["T_ego_cam"], "K": s["K"], "focal_scale": s["focal_scale"],
         "seq_stamps_us": s["stamps_us"][None]}
    dense = torch.where(s["depth_dense"] > 0, s["depth_dense"], torch.full_like(s["depth_dense"], 100.0))
    student_calls = []

    def student(x):
        student_calls.append(x.shape)
        return {"depth": torch.full((x.shape[0], 1, *x.shape[-2:]), 10.0)}

    class Student:  # the trainer's run.net: called on frame t-1's views
        def __call__(self, x):
            return student(x)

        def modules(self):
            return iter(())

    def run_with(net):
        return SimpleNamespace(cfg=cfg, step=0, pose_model=net, net=Student(),
                               autocast=lambda: torch.autocast("cpu", enabled=False))

    run = run_with(_WorldMotion(s))
    T = _pose_net_motion(run, b, {"depth": dense})
    assert T.shape == (1, 3, 6, 4, 4) and student_calls == [(6, *s["image"].shape[2:])]
    assert float(run.pose_compose) < 1e-4
    step_m = float(torch.linalg.norm(_true_motion(s, 2)[:3, 3]))
    prior = run_with(_WorldMotion(s, twice_is_once=True))
    T_prior = _pose_net_motion(prior, b, {"depth": dense})
    torch.testing.assert_close(T_prior, T)  # the one-frame motions, as before
    assert step_m > 0.3 and abs(float(prior.pose_compose) - math.log(2)) < 0.05, float(prior.pose_compose)
    off = SimpleNamespace(cfg=load_config(None, {"pose_net": True, "pose_depth_input": "inverse",
                                                  "data": {"sequence": True}}), step=0, pose_model=_WorldMotion(s))
    torch.testing.assert_close(_pose_net_motion(off, b, {"depth": dense}), T)
    assert off.pose_compose is None
    late = load_config(None, {"pose_net": True, "pose_depth_input": "inverse", "pose_composition": 0.1,
                              "pose_composition_from": 3, "data": {"sequence": True}})
    for step, on in ((2, False), (3, True)):  # pose_composition_from: the pair and the term from that step on
        student_calls.clear()
        r = SimpleNamespace(**{**vars(run_with(_WorldMotion(s))), "cfg": late, "step": step})
        torch.testing.assert_close(_pose_net_motion(r, b, {"depth": dense}), T)
        assert (r.pose_compose is not None) == on and len(student_calls) == on
    for bad in ({"pose_composition": -1.0}, {"pose_composition": 0.1, "pose_net": False}):
        with pytest.raises(ValueError, match="pose_composition must be"):
            load_config(None, {"pose_net": True, "data": {"sequence": True}, **bad})
    with pytest.raises(ValueError, match="pose_composition_from must be"):
        load_config(None, {"pose_net": True, "data": {"sequence": True}, "pose_composition_from": 100})


def test_the_extra_forward_for_frame_t_minus_1_leaves_batch_norm_statistics_alone():
    from fsmde_train.engine.trainer import _frozen_bn_statistics

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4)).train()
    x = torch.randn(2, 3, 5, 5) * 3 + 1
    before = [t.clone() for t in net.buffers()]
    with torch.no_grad(), _frozen_bn_statistics(net):
        y = net(x)
    for t, t0 in zip(net.buffers(), before):
        assert torch.equal(t, t0)
    assert net[1].track_running_stats
    torch.testing.assert_close(y.mean((0, 2, 3)), torch.zeros(4), atol=1e-5, rtol=0)  # batch statistics, as training
    net(x)
    assert not torch.equal(net[1].running_mean, before[2])  # and the statistics update again afterwards


def test_the_composition_loss_is_blind_to_overall_scale_and_sees_the_ratio_and_direction():
    from fsmde_train.engine.trainer import composition_loss

    t = torch.tensor([[1.0, 0.1, 0.0], [0.8, -0.05, 0.02]])
    assert float(composition_loss(t, t)) < 1e-6
    assert float(composition_loss(3 * t, 3 * t)) < 1e-6  # any overall scale
    assert abs(float(composition_loss(t, 2 * t)) - math.log(2)) < 1e-5  # half the length
    side = torch.tensor([[0.0, 1.0, 0.0]])
    assert abs(float(composition_loss(torch.tensor([[1.0, 0.0, 0.0]]), side)) - 2.0) < 1e-6  # direction, L1
    # below 0.1 m a sample is left out: no pull toward zero motion (a floored length pulled a network there)
    tiny = torch.tensor([[0.02, 0.0, 0.0], [1.0, 0.0, 0.0]], requires_grad=True)
    loss = composition_loss(tiny, torch.tensor([[0.0, 0.03, 0.0], [1.0, 0.0, 0.0]]))
    assert float(loss) < 1e-6
    loss.backward()
    assert torch.isfinite(tiny.grad).all() and float(tiny.grad[0].abs().sum()) == 0.0
    g = torch.zeros(1, 3, requires_grad=True)
    out = composition_loss(g, torch.zeros(1, 3))
    out.backward()
    assert float(out) == 0.0 and float(g.grad.abs().sum()) == 0.0
