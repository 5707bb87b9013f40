"""Camera frames for the benchmarks: JPEGs and intrinsics of every camera set of a nuScenes-format world
(generated once with the synthetic world generator and cached under out/bench/)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CAMERAS = ["CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_FRONT_LEFT"]
OFFSETS_MS = (25, 33, 40, 0, 10, 17)  # capture offsets within a set, as in nuScenes


def ensure_world(root: Path, width: int, height: int, duration: float, seed: int = 7,
                 version: str = "v1.0-synth") -> Path:
    if not (root / version / "scene.json").exists():
        sys.path.insert(0, str(ROOT / "training"))
        from fsmde_train.synth import SynthConfig, generate_dataset

        generate_dataset(SynthConfig(out=str(root), scenes=1, duration=duration, width=width, height=height,
                                     seed=seed, version=version))
    return root


def load_frames(world: Path, version: str = "v1.0-synth"):
    """[(per-camera JPEG bytes, per-camera K 3x3, (w, h))] of every camera set, in time order.

    Reads the tables as JSON (no devkit needed, so it also runs on machines without nuscenes-devkit)."""
    import json

    tab = {n: json.loads((world / version / f"{n}.json").read_text())
           for n in ("sample_data", "calibrated_sensor", "sensor")}
    cs = {c["token"]: c for c in tab["calibrated_sensor"]}
    sensor = {s["token"]: s["channel"] for s in tab["sensor"]}
    chains = {c: [] for c in CAMERAS}
    for sd in tab["sample_data"]:
        ch = sensor[cs[sd["calibrated_sensor_token"]]["sensor_token"]]
        if ch in chains:
            chains[ch].append(sd)
    for c in CAMERAS:
        chains[c].sort(key=lambda r: r["timestamp"])
    n = min(len(v) for v in chains.values())
    frames = []
    for k in range(n):
        recs = [chains[c][k] for c in CAMERAS]
        frames.append(([(world / r["filename"]).read_bytes() for r in recs],
                       [np.array(cs[r["calibrated_sensor_token"]]["camera_intrinsic"]) for r in recs],
                       (recs[0]["width"], recs[0]["height"])))
    return frames
