"""fsmde-pose-eval (issue 14): the pose network's motion against a world's ego poses, and its conventions."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fsmde_train.eval.pose_eval import load_pose_run, motion_errors, summarise

HW = (108, 192)


@pytest.fixture(scope="module")
def seq(tiny_world, nusc):
    from fsmde_train.data import SurroundDataset
    from fsmde_train.data.sequence import SurroundSequence

    return SurroundSequence(SurroundDataset(tiny_world, "v1.0-synth", input_hw=HW, sweeps=True, gt="lidar",
                                            progress=False, nusc=nusc))


class _Replay(torch.nn.Module):
    """Answers motion_errors' calls (triple by triple, t-1 then t+1) with the world's motion ego(f) -> ego(t),
    optionally transformed: a stand-in pose network whose errors are known."""

    def __init__(self, seq, transform):
        super().__init__()
        self.motions = []
        for k in range(len(seq)):
            s = seq[k]
            E0 = s["T_ego_cam"][0].double()
            self.motions += [transform(s["T_ref_cam"][f, 0].double() @ torch.linalg.inv(E0)) for f in (0, 2)]
        self.calls = 0

    def forward(self, a, b, *_):
        M = self.motions[self.calls]
        self.calls += 1
        return {"M": M[None]}


def test_pose_eval_scores_the_worlds_own_motion_zero_and_a_wrong_one_by_its_error(seq):
    exact = summarise(motion_errors(_Replay(seq, lambda M: M), seq), 0.1)
    assert exact["moving"] > 0 and exact["moving"] == exact["motions"]  # the tiny world always drives
    assert exact["translation_error_pct"]["p90"] < 1e-3 and exact["rotation_error_deg"]["p90"] < 1e-3
    assert abs(exact["length_ratio"]["median"] - 1) < 1e-6 and exact["wrong_direction"] == 0

    def scaled(M):
        M = M.clone()
        M[:3, 3] *= 0.8
        return M

    short = summarise(motion_errors(_Replay(seq, scaled), seq), 0.1)
    assert abs(short["translation_error_pct"]["median"] - 20) < 1e-3
    per_scene = short["per_scene"]  # every scene of the world, each 20 % short
    assert set(per_scene) == set(seq.base.set_scenes()) and sum(v["moving"] for v in per_scene.values()) == short["moving"]
    assert all(abs(v["length_ratio_median"] - 0.8) < 1e-6 for v in per_scene.values())
    assert abs(short["length_ratio"]["median"] - 0.8) < 1e-6
    # the split: a scaled motion errs in size only, a turned translation of the right length in direction only
    assert abs(short["length_error_pct"]["median"] - 20) < 1e-3 and short["direction_error_deg"]["p90"] < 1e-3

    def turned(M, deg=5.0):  # the translation rotated by deg about the vertical, the length kept
        c, s_ = np.cos(np.radians(deg)), np.sin(np.radians(deg))
        M = M.clone()
        M[:3, 3] = torch.tensor([[c, -s_, 0], [s_, c, 0], [0, 0, 1]], dtype=M.dtype) @ M[:3, 3]
        return M

    turn = summarise(motion_errors(_Replay(seq, turned), seq), 0.1)
    assert turn["length_error_pct"]["p90"] < 1e-6
    # the synthetic ego drives in the ground plane, so a turn about z is the full angle between the translations
    assert abs(turn["direction_error_deg"]["median"] - 5.0) < 0.05
    assert abs(turn["translation_error_pct"]["median"] - 200 * np.sin(np.radians(2.5))) < 0.1
    # the inverse motion (a sign or direction convention flipped) is 200 % off, nothing like the 0 above
    flipped = summarise(motion_errors(_Replay(seq, torch.linalg.inv), seq), 0.1)
    assert flipped["translation_error_pct"]["median"] > 150 and flipped["wrong_direction"] == flipped["moving"]
    # a network stuck at rest is 100 % off with length ratio 0: the collapse this eval was written to catch
    rest = summarise(motion_errors(_Replay(seq, lambda M: torch.eye(4, dtype=M.dtype)), seq), 0.1)
    assert np.isclose(rest["translation_error_pct"]["median"], 100) and rest["length_ratio"]["median"] == 0


def test_pose_eval_refuses_a_folder_without_a_run(tmp_path):
    with pytest.raises(ValueError, match="no loadable checkpoint"):
        load_pose_run(tmp_path)
