"""The pose module's direct-alignment layer (networks/pose_align.py; issue 14) against the synthetic world's exact
depth and ego poses, inside the pose network, in the trainer and in fsmde-pose-eval."""
from __future__ import annotations

import pytest
import torch

from fsmde_train.eval.pose_eval import parse_align, rotation_angle_deg
from fsmde_train.networks.pose import PoseConfig, SurroundPoseNet, motion_matrix
from fsmde_train.networks.pose_align import _Level, align_motion

HW = (108, 192)


@pytest.fixture(scope="module")
def seq(tiny_world, nusc):
    from fsmde_train.data import SurroundDataset
    from fsmde_train.data.sequence import SurroundSequence

    return SurroundSequence(SurroundDataset(tiny_world, "v1.0-synth", input_hw=HW, sweeps=True, gt="dense",
                                            progress=False, nusc=nusc))


def _frame(seq, k, f=2):
    """(image t, image f [1, N, 3, H, W] normalised, exact depth of t [1, N, 1, H, W] (sky 100 m), K, T_ego_cam,
    the world's motion ego(f) -> ego(t) [4, 4])."""
    s = seq[k]
    d = torch.where(s["depth_dense"] > 0, s["depth_dense"], torch.full_like(s["depth_dense"], 100.0))
    M_gt = (s["T_ref_cam"][f, 0].double() @ torch.linalg.inv(s["T_ego_cam"][0].double())).float()
    return s["image"][1][None, :, :3], s["image"][f][None, :, :3], d[None], s["K"][None], s["T_ego_cam"][None], M_gt


def _wrong_start(M_gt):
    """As wrong as the pose network gets on a new layout: 25 % short, 0.3 deg of yaw, 5 cm sideways."""
    P = motion_matrix(torch.tensor([[0.0, 0.0, 0.3 * torch.pi / 180]]), torch.tensor([[0.0, 0.05, 0.0]]))[0]
    M0 = P @ M_gt
    M0[:3, 3] = M_gt[:3, 3] * 0.75 + P[:3, 3]
    return M0


def _errors(M, M_gt):
    t = float(torch.linalg.norm(M[:3, 3] - M_gt[:3, 3]) / torch.linalg.norm(M_gt[:3, 3]))
    return t, rotation_angle_deg(M[:3, :3].double().T @ M_gt[:3, :3].double())


def test_alignment_recovers_the_worlds_motion_batched_through_exact_depth(seq):
    a1, b1, d1, K1, E1, g1 = _frame(seq, 3)
    a2, b2, d2, K2, E2, g2 = _frame(seq, len(seq) - 3, f=0)
    M0 = torch.stack([_wrong_start(g1), _wrong_start(g2)])
    assert min(_errors(M0[0], g1)[0], _errors(M0[1], g2)[0]) > 0.2
    r = align_motion(torch.cat([a1, a2]), torch.cat([b1, b2]), torch.cat([d1, d2]), torch.cat([K1, K2]),
                     torch.cat([E1, E2]), M0)
    for M, g in zip(r["M"], (g1, g2)):
        t_err, r_err = _errors(M, g)
        # measured 3.3 % / 0.03 deg and 1.2 % / 0.04 deg here (192 x 108); from a 26 % wrong start
        assert t_err < 0.05 and r_err < 0.1, (t_err, r_err)
    assert bool((r["cost_after"] < r["cost_before"]).all())
    one = align_motion(a1, b1, d1, K1, E1, M0[:1])["M"][0]  # a batch element is aligned on its own
    torch.testing.assert_close(one, r["M"][0], atol=1e-4, rtol=0)


def test_an_exposure_change_between_the_frames_is_absorbed_by_the_cameras_brightness(seq):
    """Frame s 15 % brighter plus an offset (auto-exposure): the motion is as accurate, and each camera's brightness
    estimate undoes the change (exp(a) I_s + b = I_t)."""
    a, b, d, K, E, g = _frame(seq, 3)
    M0 = _wrong_start(g)[None]
    plain = align_motion(a, b, d, K, E, M0)
    bright = align_motion(a, b * 1.15 + 0.1, d, K, E, M0)
    assert abs(_errors(bright["M"][0], g)[0] - _errors(plain["M"][0], g)[0]) < 0.01
    gain = bright["brightness"][0, :, 0].exp() / plain["brightness"][0, :, 0].exp()
    assert torch.allclose(gain, torch.full_like(gain, 1 / 1.15), atol=0.03), gain


def test_the_aligned_translation_is_metric_only_through_the_depth(seq):
    """Depth 20 % too far gives a translation ~20 % too long: the layer inherits the depth's scale."""
    a, b, d, K, E, g = _frame(seq, 3)
    M = align_motion(a, b, d * 1.2, K, E, g[None])["M"][0]
    ratio = float(torch.linalg.norm(M[:3, 3]) / torch.linalg.norm(g[:3, 3]))
    assert 1.12 < ratio < 1.28, ratio


def test_pixels_at_a_depth_jump_are_left_out():
    """A step in depth (5 m | 20 m) between columns 7 and 8: only the two columns beside it drop out."""
    B, N, H, W = 1, 1, 6, 16
    depth = torch.full((B * N, 1, H, W), 5.0)
    depth[..., 8:] = 20.0
    K = torch.tensor([[[10.0, 0, 8], [0, 10.0, 3], [0, 0, 1]]])
    img = torch.rand(B * N, 1, H, W)
    E = torch.eye(4)[None, None]
    ok = _Level(img, img, depth, K, E, B, N, edge=0.05).ok.view(H, W)
    assert not ok[:, 7:9].any() and ok[:, :7].all() and ok[:, 9:].all()
    assert _Level(img, img, depth, K, E, B, N, edge=0).ok.all()


def test_the_pose_network_with_alignment_returns_the_aligned_motion_and_trains_its_regression(seq):
    a, b, d, K, E, g = _frame(seq, 3)
    torch.manual_seed(0)
    net = SurroundPoseNet(PoseConfig(depth_input="inverse", align=((4, 6), (2, 4))))
    out = net(a, b, d, K, E)
    M_al = align_motion(a, b, d, K, E, out["M_network"].detach(), (4, 2), (6, 4))["M"]
    torch.testing.assert_close(out["M"].detach(), M_al, atol=1e-5, rtol=0)
    assert _errors(out["M"][0].detach(), g)[0] < 0.1 < _errors(out["M_network"][0].detach(), g)[0]
    out["M"][:, :3, 3].sum().backward()  # straight through: the regression gets the aligned motion's gradient
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.head.parameters())
    assert float(net.head[-1].weight.grad.abs().sum()) > 0
    assert "M_network" not in net(a, b, d, K, E, align=())  # the regression alone
    with pytest.raises(ValueError, match="pose align needs a depth_input"):
        SurroundPoseNet(PoseConfig(align=((4, 6),)))
    with pytest.raises(ValueError, match="needs frame a's depth, K"):
        net(a, b, d)


def test_the_trainer_aligns_from_pose_align_from_and_distils_the_regression(seq):
    from types import SimpleNamespace

    from fsmde_train.engine.config import load_config
    from fsmde_train.engine.trainer import _pose_net_motion, pose_distill_loss

    cfg = load_config(None, {"pose_net": True, "pose_depth_input": "inverse", "pose_align": [[4, 3]],
                             "pose_align_from": 100, "pose_align_distill": 0.1, "data": {"sequence": True}})
    assert cfg.pose_align == ((4, 3),)
    net = SurroundPoseNet(PoseConfig(depth_input="inverse", align=cfg.pose_align))
    s = seq[3]
    b = {"seq_image": s["image"][None], "T_ego_cam": s["T_ego_cam"], "K": s["K"], "focal_scale": s["focal_scale"],
         "seq_stamps_us": s["stamps_us"][None]}
    s_out = {"depth": torch.where(s["depth_dense"] > 0, s["depth_dense"], torch.full_like(s["depth_dense"], 100.0))}
    run = SimpleNamespace(cfg=cfg, step=99, pose_model=net)
    T_before = _pose_net_motion(run, b, s_out)
    assert run.pose_distill is None
    run.step = 100
    T_after = _pose_net_motion(run, b, s_out)
    assert run.pose_distill is not None and float(run.pose_distill.detach()) > 0
    assert not torch.allclose(T_before, T_after)  # the aligned motion drives the photometric terms from then on
    # pose_stagger (the default): camera 0 at t is the reference, the others at their own exposures
    assert torch.allclose(T_after[0, 1, 0], s["T_ego_cam"][0], atol=1e-6)
    assert not torch.allclose(T_after[0, 1, 1:], s["T_ego_cam"][1:], atol=1e-4)
    with pytest.raises(ValueError, match="no stamps_us"):
        _pose_net_motion(run, {k: v for k, v in b.items() if k != "seq_stamps_us"}, s_out)
    off = SimpleNamespace(cfg=load_config(None, {"pose_net": True, "pose_depth_input": "inverse", "pose_stagger": False,
                                                  "data": {"sequence": True}}), step=0, pose_model=net)
    torch.testing.assert_close(_pose_net_motion(off, b, s_out)[0, 1], s["T_ego_cam"])  # simultaneous: as before
    M = torch.eye(4)[None]
    assert float(pose_distill_loss(M, M)) == 0.0
    M2 = M.clone()
    M2[0, 0, 3] = 0.1  # 0.1 m = one output unit on one of six components
    assert abs(float(pose_distill_loss(M2, M)) - 1 / 6) < 1e-6
    for bad in ({"pose_align": [[4]]}, {"pose_align": [[0, 3]]}, {"pose_align": [[4, 3]], "pose_depth_input": "none"}):
        with pytest.raises(ValueError, match="pose_align must be"):
            load_config(None, {"pose_net": True, "pose_depth_input": "inverse", "data": {"sequence": True}, **bad})
    with pytest.raises(ValueError, match="pose_align_from must be"):
        load_config(None, {"pose_net": True, "pose_depth_input": "inverse", "data": {"sequence": True},
                           "pose_align_from": 10})


def test_pose_eval_parses_its_align_option():
    assert parse_align("run") is None and parse_align("off") == ()
    assert parse_align("4x10,2x8,1x6") == ((4, 10), (2, 8), (1, 6))
    for bad in ("4", "4x0", "ax3", ""):
        with pytest.raises(ValueError, match="expected 'run', 'off' or factor x iterations"):
            parse_align(bad)


def test_exposure_poses_put_each_camera_where_the_world_had_it(seq):
    """The world fires its six cameras over ~40 ms of a set (as nuScenes does); from the two motions between camera
    0's exposures, exposure_poses gives every camera's pose at its own exposure within millimetres, where taking a
    set's exposures as simultaneous is off by the distance driven meanwhile."""
    from fsmde_train.networks.pose import exposure_poses, matrix_to_axis_angle

    s = seq[3]
    E = s["T_ego_cam"].double()
    truth = s["T_ref_cam"].double() @ torch.linalg.inv(E)[None]  # [3, N, 4, 4] ego at each exposure in ego(t, cam 0)
    M = [truth[f, 0] for f in (0, 2)]  # ego(t±1) -> ego(t) at camera 0's exposures
    rt = [(matrix_to_axis_angle(m[None, :3, :3]), m[None, :3, 3]) for m in M]
    P = exposure_poses(rt[0], rt[1], s["stamps_us"][None])[0]
    spread_ms = float(s["stamps_us"][1].max() - s["stamps_us"][1].min()) / 1e3
    assert 20 < spread_ms < 60, spread_ms
    err = (P[..., :3, 3] - truth[..., :3, 3]).norm(dim=-1)
    simultaneous = torch.stack([M[0][None].expand(6, 4, 4), torch.eye(4, dtype=M[0].dtype).expand(6, 4, 4),
                                M[1][None].expand(6, 4, 4)])
    err_sim = (simultaneous[..., :3, 3] - truth[..., :3, 3]).norm(dim=-1)
    assert float(err.max()) < 0.005, err  # metres
    assert float(err_sim.max()) > 0.1, err_sim  # ~8 m/s x 40 ms
    torch.testing.assert_close(P[:, 0], truth[:, 0], atol=1e-5, rtol=0)  # camera 0 is where the motions are
    with pytest.raises(ValueError, match="must increase"):
        exposure_poses(rt[0], rt[1], s["stamps_us"].flip(0)[None])


def test_staggered_motions_are_per_sample(seq):
    """Two samples in one batch give the motions and the pose network's gradient of each sample alone (summed): the
    stamps of one sample never reach another's cameras, so splitting a batch across DDP ranks changes nothing."""
    from types import SimpleNamespace

    from fsmde_train.engine.config import load_config
    from fsmde_train.engine.trainer import _pose_net_motion

    run = SimpleNamespace(cfg=load_config(None, {"pose_net": True, "data": {"sequence": True}}), step=0)
    torch.manual_seed(0)
    run.pose_model = net = SurroundPoseNet(PoseConfig())

    def grads(ks):
        ss = [seq[k] for k in ks]
        b = {"seq_image": torch.stack([s["image"] for s in ss]), "T_ego_cam": torch.cat([s["T_ego_cam"] for s in ss]),
             "K": torch.cat([s["K"] for s in ss]), "focal_scale": torch.cat([s["focal_scale"] for s in ss]),
             "seq_stamps_us": torch.stack([s["stamps_us"] for s in ss])}
        net.zero_grad()
        T = _pose_net_motion(run, b, {})
        (T * torch.arange(16.0).view(4, 4)).sum().backward()
        return T.detach(), torch.cat([p.grad.flatten() for p in net.parameters()])

    Tb, gb = grads([1, len(seq) - 2])
    (T1, g1), (T2, g2) = grads([1]), grads([len(seq) - 2])
    torch.testing.assert_close(Tb, torch.cat([T1, T2]), atol=1e-6, rtol=0)
    assert float((gb - (g1 + g2)).norm() / gb.norm()) < 1e-4
