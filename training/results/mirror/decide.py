"""PLAN.md's rule on the three-seed means: AJ1-AJ3 (the shipped config, results/aspect_jitter) against MR1-MR3
(+ data.mirror=0.5, here).

python results/mirror/decide.py   (from training/). Prints the per-run rows, the means, each clause with its numbers,
and the verdict; exits 1 while a run is missing. The distance table after the verdict is not part of the rule.
"""
from __future__ import annotations

import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).parents[1] / "real_world_detail"))
from compare import decide  # noqa: E402

RESULTS = Path(__file__).parents[1]
HERE = Path(__file__).parent
RUNS = {**{f"AJ{s + 1}": ("AJ", s, RESULTS / "aspect_jitter") for s in range(3)},
        **{f"MR{s + 1}": ("MR", s, HERE) for s in range(3)}}


def main() -> int:
    return decide(RUNS, ("AJ", "MR"))


if __name__ == "__main__":
    sys.exit(main())
