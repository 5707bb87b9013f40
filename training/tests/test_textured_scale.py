"""fsmde_train.eval.textured_scale: a depth's scale where the image has texture (issue 14's pose diagnosis)."""
from __future__ import annotations

import torch

from fsmde_train.eval.textured_scale import main, textured_ratio


def test_a_depth_too_far_only_at_the_textured_pixels_shows_there_and_not_over_all():
    H, W = 40, 60
    image = torch.zeros(3, H, W)
    image[:, :, ::6] = 1.0  # vertical stripes: every column next to one has a strong gradient
    gt = torch.full((H, W), 10.0)
    gt[:5] = 0  # no GT there: left out
    textured = torch.zeros(H, W, dtype=torch.bool)
    for x in range(6, W, 6):  # the stripe's neighbours have the gradient (central differences); a third of the image
        textured[:, x - 1] = textured[:, x + 1] = True
    textured[:, 1] = True
    pred = torch.where(textured, gt * 1.2, gt)
    all_ratio, tex_ratio = textured_ratio(pred, gt, image, quantile=0.8)
    assert abs(tex_ratio - 1.2) < 1e-5 and abs(all_ratio - 1.0) < 1e-5
    assert textured_ratio(pred, torch.zeros(H, W), image) is None


def test_the_cli_refuses_a_folder_without_a_run_and_a_bad_quantile(tmp_path, capsys):
    assert main(["--run", str(tmp_path), "--data-root", str(tmp_path)]) == 2
    assert "no loadable checkpoint" in capsys.readouterr().err
    assert main(["--run", str(tmp_path), "--data-root", str(tmp_path), "--quantile", "1.5"]) == 2
    assert "between 0 and 1" in capsys.readouterr().err
