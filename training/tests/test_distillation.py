"""Defining properties of the distillation losses and the teachers (pure torch, no training loop)."""
import numpy as np
import pytest
import torch

from fsmde_train.losses import (align_to_metric, bin_centre_loss, bin_probabilities, ci_kd_loss, relation_matrices,
                                ring_pairs, vr_kd_loss)
from fsmde_train.losses.relational import depth_encoding
from fsmde_train.networks import StudentConfig, build_student

TINY = StudentConfig(base_width=8, decoder_width=16, n_bins=16, blocks=(1, 1, 1, 1))


def scene_depth(b=4, h=32, w=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = 2 + 60 * torch.rand(b, 1, 1, 1, generator=g)
    ramp = torch.linspace(0, 1, h)[None, None, :, None] * torch.rand(b, 1, 1, 1, generator=g) * 30
    return base + ramp + torch.rand(b, 1, h, w, generator=g)


def sparse(depth, keep=0.08, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.where(torch.rand(depth.shape, generator=g) < keep, depth, torch.zeros_like(depth))


def test_alignment_recovers_metric_depth_and_ignores_the_teachers_scale_and_shift():
    d = scene_depth().double()  # float64: a float32 teacher with a shift 1e4 x its signal loses the signal itself
    gt = sparse(d)
    rel = 1.0 / d  # an exact relative inverse depth
    for a, b in ((1.0, 0.0), (37.0, 4.2), (0.01, -3.0)):
        aligned, valid = align_to_metric(a * rel + b, gt)
        assert valid.all()
        torch.testing.assert_close(aligned, d, rtol=1e-6, atol=0)


def test_alignment_is_robust_to_a_few_wrong_lidar_points():
    d = scene_depth()
    gt = sparse(d)
    bad = sparse(torch.ones_like(d), keep=0.05, seed=9).bool() & (gt > 0)
    gt = torch.where(bad, gt * 3.0, gt)  # 5 % of the points 3x too far (e.g. seen through a gap)
    aligned, _ = align_to_metric(1.0 / d, gt)
    assert ((aligned - d).abs() / d).median() < 0.01


def test_alignment_flags_images_without_enough_gt():
    d = scene_depth(b=2)
    gt = sparse(d)
    gt[1] = 0
    _, valid = align_to_metric(1.0 / d, gt)
    assert valid.tolist() == [True, False]


def test_ci_kd_target_is_invariant_to_teacher_scale_and_shift():
    d = scene_depth()
    gt = sparse(d)
    centers = torch.sort(torch.rand(4, 16) * 80 + 1, dim=1).values
    logits = torch.randn(4, 16, 8, 12)
    targets, losses = [], []
    for a, b in ((1.0, 0.0), (250.0, 7.0)):
        t_depth, valid = align_to_metric(a * (1.0 / d) + b, gt)
        loss, target = ci_kd_loss(logits, centers, t_depth, valid)
        targets.append(target), losses.append(loss)
    torch.testing.assert_close(targets[0], targets[1], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-4, atol=1e-6)


def test_ci_kd_is_zero_when_the_student_matches_and_positive_otherwise():
    d = scene_depth()
    centers = torch.sort(torch.rand(4, 16) * 80 + 1, dim=1).values
    valid = torch.ones(4, dtype=torch.bool)
    _, target = ci_kd_loss(torch.zeros(4, 16, 8, 12), centers, d, valid)
    zero, _ = ci_kd_loss(torch.log(target), centers, d, valid)
    other, _ = ci_kd_loss(torch.randn(4, 16, 8, 12), centers, d, valid)
    assert abs(zero.item()) < 1e-5 and other.item() > 0.1


def test_bin_probabilities_peak_at_the_nearest_centre_in_both_spaces():
    centers = torch.tensor([[1.0, 2.0, 4.0, 8.0, 16.0]])
    depth = torch.tensor([1.1, 3.9, 15.0]).view(1, 1, 1, 3)
    for space in ("log", "linear"):
        p = bin_probabilities(depth, centers, tau=0.05, space=space)
        assert p[0, :, 0].argmax(0).tolist() == [0, 2, 4]
        torch.testing.assert_close(p.sum(1), torch.ones(1, 1, 3))


def _grads(net):
    return {n: (p.grad is not None and p.grad.abs().sum().item() > 0) for n, p in net.named_parameters()}


def test_gradients_reach_the_heads_each_loss_should_train():
    torch.manual_seed(0)
    x = torch.randn(6, 3, 64, 96)
    d = scene_depth(b=6, h=64, w=96)

    def run(loss_fn):
        net = build_student(TINY)
        out = net(x)
        loss_fn(out).backward()
        g = _grads(net)
        return (any(v for k, v in g.items() if k.startswith("bin_mlp")),
                any(v for k, v in g.items() if k.startswith("prob_head")),
                any(v for k, v in g.items() if k.startswith("encoder")))

    valid = torch.ones(6, dtype=torch.bool)
    # CI-KD: the classification head and the features, never the centres (the scale comes from GT)
    assert run(lambda o: ci_kd_loss(o["logits"], o["centers"], d, valid)[0]) == (False, True, True)
    # the bin-centre loss trains the centres only
    assert run(lambda o: bin_centre_loss(o["centers"], sparse(d))) == (True, False, True)
    # VR-KD: the shared features (encoder, decoder), neither head
    tf = depth_encoding(d, (16, 24))
    assert run(lambda o: vr_kd_loss(o["features"], tf, 6)) == (False, False, True)


def test_vr_kd_is_zero_for_identical_relations_and_positive_otherwise():
    g = torch.Generator().manual_seed(3)
    f = torch.rand(12, 8, 16, 24, generator=g)  # 2 sets x 6 views
    assert vr_kd_loss(f, f.clone(), 6).abs().item() < 1e-6
    assert vr_kd_loss(f, f.clone(), 6, kind="mse").item() == 0.0
    # relations are cosine affinities: permuting/scaling the teacher's channels changes nothing
    perm = torch.randperm(8, generator=g)
    assert vr_kd_loss(f, 3.0 * f[:, perm], 6).abs().item() < 1e-6
    # and the teacher may have another width and resolution
    assert vr_kd_loss(f, torch.cat([f, 2 * f], 1), 6).abs().item() < 1e-6
    finer = torch.nn.functional.interpolate(f, scale_factor=2)  # pooled cells move by under a pixel
    assert vr_kd_loss(f, finer, 6).abs().item() < 1e-2
    assert vr_kd_loss(f, torch.rand(12, 5, 16, 24, generator=g), 6).item() > 1e-3


def test_vr_kd_is_consistent_under_rotating_the_camera_ring():
    g = torch.Generator().manual_seed(4)
    fs, ft = torch.rand(12, 8, 16, 24, generator=g), torch.rand(12, 5, 16, 24, generator=g)

    def rotate(x, k):  # the same rig, numbered from another camera
        return torch.roll(x.view(2, 6, *x.shape[1:]), k, dims=1).flatten(0, 1)

    base = vr_kd_loss(fs, ft, 6)
    for k in (1, 3):
        torch.testing.assert_close(vr_kd_loss(rotate(fs, k), rotate(ft, k), 6), base)
    rs = relation_matrices(fs, 6)
    torch.testing.assert_close(relation_matrices(rotate(fs, 1), 6), torch.roll(rs, 1, dims=1))
    # a mismatched permutation (student and teacher rotated differently) is not the same problem
    assert not torch.allclose(vr_kd_loss(rotate(fs, 1), ft, 6), base)


def test_ring_pairs_are_the_overlapping_borders_of_the_rig(tiny_world, nusc):
    """Right border of view i meets the left border of view i + 1: checked by projecting through the real rig."""
    from fsmde_train.data import SurroundDataset

    ds = SurroundDataset(tiny_world, "v1.0-synth", input_hw=(64, 96), sweeps=False, progress=False, nusc=nusc)
    b = ds[0]
    K, T = b["K"].double().numpy(), b["T_ego_cam"].double().numpy()
    for i, j in ring_pairs(6):
        u, v, z = 95.0, 32.0, 15.0  # right-border pixel of view i, 15 m away
        p = np.array([(u - K[i, 0, 2]) / K[i, 0, 0] * z, (v - K[i, 1, 2]) / K[i, 1, 1] * z, z, 1.0])
        q = np.linalg.inv(T[j]) @ T[i] @ p
        uj = K[j, 0, 0] * q[0] / q[2] + K[j, 0, 2]
        assert q[2] > 0 and 0 <= uj < 48, f"pair {i}->{j}: lands at u={uj:.1f} (z {q[2]:.1f})"


@pytest.mark.parametrize("kind", ["kl", "mse"])
def test_vr_kd_rejects_nothing_silently(kind):
    with pytest.raises(ValueError, match="kind must be"):
        vr_kd_loss(torch.rand(6, 4, 8, 8), torch.rand(6, 4, 8, 8), 6, kind="cosine")
    assert torch.isfinite(vr_kd_loss(torch.zeros(6, 4, 8, 8), torch.rand(6, 4, 8, 8), 6, kind=kind))


def test_two_hot_target_preserves_the_teachers_depth_in_expectation():
    from fsmde_train.losses.distill import two_hot

    g = torch.Generator().manual_seed(5)
    centers = torch.sort(torch.rand(3, 8, generator=g) * 50 + 1, dim=1).values
    d = torch.rand(3, 1, 4, 5, generator=g) * 60 + 0.5
    p = two_hot(d, centers)
    expect = (p * centers[:, :, None, None]).sum(1, keepdim=True)
    lo, hi = centers[:, :1, None, None], centers[:, -1:, None, None]
    torch.testing.assert_close(expect, torch.minimum(torch.maximum(d, lo), hi), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(p.sum(1), torch.ones(3, 4, 5))
    assert int((p > 0).sum(1).max()) <= 2, "mass on the two neighbouring centres only"
    # as a CI-KD target it keeps the alignment's invariance: teacher scale/shift change nothing
    dd = scene_depth().double()
    gt = sparse(dd)
    c = torch.sort(torch.rand(4, 16, generator=g).double() * 80 + 1, dim=1).values
    t1, v1 = align_to_metric(1.0 / dd, gt)
    t2, v2 = align_to_metric(9.0 / dd + 2.0, gt)
    logits = torch.randn(4, 16, 8, 12, generator=g).double()
    torch.testing.assert_close(ci_kd_loss(logits, c, t1, v1, target="two_hot")[1],
                               ci_kd_loss(logits, c, t2, v2, target="two_hot")[1], rtol=1e-6, atol=1e-8)
