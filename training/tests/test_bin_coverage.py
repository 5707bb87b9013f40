"""The bin-coverage diagnostic's measures (eval/bin_coverage.py) on centres whose answers are known."""
import math

import torch

from fsmde_train.eval.bin_coverage import distinct_centres, far_fraction, softmax_expectation_error
from fsmde_train.losses.distill import two_hot


def test_far_fraction_and_distinct_centres():
    c = torch.tensor([1.0, 2.0, 4.0, 8.0])
    assert far_fraction(c.clone(), c) == 0.0
    assert far_fraction(torch.tensor([1.0, 1.5, 3.0, 8.0]), c) == 0.5  # 1.5 and 3 are ~0.29 from a centre in log
    assert distinct_centres(c) == 4
    assert distinct_centres(torch.tensor([1.0, 1.001, 1.002, 3.0, 3.01, 9.0])) == 3


def test_softmax_target_expectation_error_grows_between_centres_and_with_tau():
    c = torch.exp(torch.linspace(math.log(0.5), math.log(80), 32))
    at = softmax_expectation_error(c[10:20].clone(), c, 0.01)
    assert at.max() < 1e-3  # a sharp target on a centre is that centre
    mid = c[10:20] ** 0.7 * c[11:21] ** 0.3  # 30 % of the way (in log) to the next centre
    sharp = softmax_expectation_error(mid, c, 0.01)
    assert sharp.min() > 0.04  # snapped to the nearer centre: off by 30 % of a bin (the centres are 17 % apart)
    wide = softmax_expectation_error(mid, c, 1.0)
    assert wide.min() > sharp.max()  # a wide kernel averages over many bins, skewed to the far ones
    # the two-hot target reproduces the depth exactly: the contrast the error measures
    p = two_hot(mid[None, None, :, None], c[None])
    assert torch.allclose((p[0, :, :, 0] * c[:, None]).sum(0), mid, rtol=1e-4)
