"""Median student / exact depth of what the pose probe's networks read (sky and beyond 80 m excluded), per world.

    python results/selfsup_bag_pose_scenes/depth_ratio.py /tmp/probe/fresh307.pt /tmp/probe/fresh307_exact.pt ...

Arguments in pairs (the student-depth cache, the exact-depth cache of the same world; probe.py cache [--depth exact]).
The pair named train-dr.pt (the training world) also reports its held-out scenes 13-16 alone.
"""
import json
import os
import sys

import torch

HELD = {"scene-0013", "scene-0014", "scene-0015", "scene-0016"}


def ratio(a, b, idx):
    r = []
    for i in idx[::2]:  # each triple's depth is stored twice (for t-k and t+k)
        s, e = a["depth"][i].float(), b["depth"][i].float()
        m = (e > 0.5) & (e < 80)
        r.append((s[m] / e[m]).median())
    return float(torch.stack(r).median())


def main(paths):
    out = {}
    for ps, pe in zip(paths[::2], paths[1::2]):
        a, b = (torch.load(p, weights_only=False, mmap=True) for p in (ps, pe))  # GBs: read as needed
        assert torch.equal(a["M"], b["M"]), f"{ps} and {pe} are not the same motions"
        out[ps] = {"all": ratio(a, b, list(range(len(a["M"]))))}
        held = [i for i, s in enumerate(a["scene"]) if s in HELD]
        if os.path.basename(ps) == "train-dr.pt" and held:
            out[ps]["held_out_13_16"] = ratio(a, b, held)
        print(ps, out[ps], flush=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
