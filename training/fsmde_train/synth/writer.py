"""Write synthetic drives as a nuScenes-format dataset (loadable by the real nuscenes-devkit).

Layout under ``dataroot``::

    <version>/*.json                      the 13 nuScenes tables; the vehicles' 3D boxes at the key frames
                                          (synth/annotate.py; visibility not computed), no other classes
    samples/<CHANNEL>/<log>__<CHANNEL>__<us>.jpg|.pcd.bin   key frames (2 Hz)
    sweeps/<CHANNEL>/...                  the other frames (cameras 12 Hz, LIDAR_TOP 20 Hz)
    maps/<token>.png                      a blank map mask (the devkit opens it at load time)
    depth/<samples|sweeps>/<CHANNEL>/<stem>.npz   dense GT for every camera sample_data (see below)
    synth/worlds/<scene>.npz              the scene's primitives (for geometric oracle checks): load_world();
                                          scene time t = (timestamp_us - t0_us) / 1e6
    synth/meta.json                       generator settings and the depth convention

Dense depth: ``np.load(path)["depth"]``, float32 [H, W], metres of z-depth along the camera's optical axis
(the convention of projected LiDAR depth maps), exact up to float32; **0 where the pixel sees sky**. Beside it,
``np.load(path)["material"]``, uint8 [H, W]: the material id each pixel sees (``world.MATERIAL_NAMES``; 255 = sky),
the synthetic world's semantic labels (worlds rendered before 2026-12-06 lack the key).
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, asdict
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from .. import CAMERAS
from ..geometry import matrix_to_quat
from .annotate import ATTRIBUTES, CATEGORIES, annotation_rows, points_in_box
from .render import SKY_ID, lidar_sweep, primitives_at, render_image
from .shading import Style, random_style
from .rig import CAMERA_HZ, KEYFRAME_HZ, LIDAR_HZ, PRESETS, camera_trigger_offsets, jitter_rig, load_rig
from .world import MATERIAL_NAMES, generate_world

DEPTH_DIR = "depth"
EPOCH_US = 1_532_402_927_000_000  # 2018-07-24, like nuScenes' n015 logs
VISIBILITY = [
    {"token": "1", "level": "v0-40", "description": "visibility of whole object is between 0 and 40%"},
    {"token": "2", "level": "v40-60", "description": "visibility of whole object is between 40 and 60%"},
    {"token": "3", "level": "v60-80", "description": "visibility of whole object is between 60 and 80%"},
    {"token": "4", "level": "v80-100", "description": "visibility of whole object is between 80 and 100%"},
]


def dense_depth_path(dataroot, filename: str) -> Path:
    """Where the dense GT of a camera sample_data (by its ``filename``) lives."""
    return Path(dataroot) / DEPTH_DIR / Path(filename).with_suffix(".npz")


def load_dense_depth(dataroot, filename: str) -> np.ndarray:
    with np.load(dense_depth_path(dataroot, filename)) as z:
        return z["depth"]


@dataclass(frozen=True)
class SynthConfig:
    out: str
    scenes: int = 2
    duration: float = 8.0  # seconds per scene (a multiple of 0.5 s, the key-frame period)
    width: int = 1600
    height: int = 900
    seed: int = 0
    version: str = "v1.0-synth"
    jpeg_quality: int = 90
    device: str = "cpu"
    # domain randomisation per scene: another mounting of the rig (rig.jitter_rig), lighting, exposure, white
    # balance, noise, blur and JPEG quality (shading.random_style), more object classes (world.generate_world)
    randomize: bool = False
    layout: str = "street"  # world.LAYOUTS: "boulevard" is the held-out test world's street layout
    palette: str = "default"  # world.PALETTES: "alt" is the learned stand-in teacher's world
    speed_change: float = 0.0  # m/s^2: the ego's speed changes within a scene at a rate drawn from U(-A, A)
    # what real streets show that the box world did not (issue "Real images"): cast sun shadows, vehicles with
    # wheels and lamps, traffic close ahead and behind in the ego lane
    shadows: bool = False
    car_detail: bool = False
    close_traffic: bool = False
    vehicle_looks: float = 0.0  # share of vehicles with random paint and patterns, glossy paint and glass (0: none)
    open_streets: bool = False  # half the scenes an open suburban street (low, set-back buildings, yards, lots)
    vehicle_types: bool = False  # sedans, SUVs, pick-ups and vans (world.VEHICLE_TYPES) instead of sedans only
    cross_streets: bool = False  # one or two streets cross each scene's street (long sight lines for side cameras)
    photo_textures: float = 0.0  # contrast of real photographed grain on road, pavement, grass, façades (0: none)


def _token(*parts) -> str:
    return hashlib.md5("/".join(map(str, parts)).encode()).hexdigest()


def _pose_record(token: str, T: np.ndarray, timestamp: int) -> dict:
    return {"token": token, "timestamp": timestamp, "rotation": matrix_to_quat(T[:3, :3]).tolist(),
            "translation": T[:3, 3].tolist()}


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _per_sample() -> dict[str, int]:
    """Frames per key-frame period of every sensor."""
    return {"LIDAR_TOP": int(LIDAR_HZ / KEYFRAME_HZ), **{c: int(CAMERA_HZ / KEYFRAME_HZ) for c in CAMERAS}}


def _render_scene(cfg: SynthConfig, si: int, tick=None) -> dict[str, list]:
    """Render scene ``si`` (files under ``cfg.out``) and return its rows of the tables, in writing order.

    Everything random comes from seeds of (cfg.seed, si), so a scene renders the same in any process."""
    root = Path(cfg.out)
    base_rig = load_rig(cfg.width, cfg.height)
    offsets = camera_trigger_offsets(base_rig)  # the trigger timing of the nominal rig for every scene
    per_sample = _per_sample()
    n_samples = int(round(cfg.duration * KEYFRAME_HZ))
    rows = {k: [] for k in ("log", "calibrated_sensor", "sample", "scene", "ego_pose", "sample_data", "instance",
                            "sample_annotation")}
    seed = cfg.seed * 1000 + si
    world = generate_world(seed, cfg.duration, varied=cfg.randomize, layout=cfg.layout, palette=cfg.palette,
                           speed_change=cfg.speed_change, car_detail=cfg.car_detail,
                           close_traffic=cfg.close_traffic, open_streets=cfg.open_streets,
                           vehicle_types=cfg.vehicle_types, cross_streets=cfg.cross_streets)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed + 7)
    style_rng = np.random.default_rng([seed, 13])
    rig = jitter_rig(base_rig, style_rng) if cfg.randomize else base_rig
    style = random_style(style_rng) if cfg.randomize else Style()
    quality = style.jpeg_quality or cfg.jpeg_quality
    scene_name = f"scene-{si + 1:04d}"
    log_name = f"n015-synth-{cfg.seed:03d}-{si + 1:04d}"
    t0_us = EPOCH_US + si * 100_000_000
    log_token, scene_token = _token("log", cfg.seed, si), _token("scene", cfg.seed, si)
    rows["log"].append({"token": log_token, "logfile": log_name, "vehicle": "n015",
                        "date_captured": "2018-07-24", "location": "synthetic-street"})
    cs_tokens = {}
    for ch, s in rig.items():
        cs_tokens[ch] = _token("cs", cfg.seed, si, ch)
        rows["calibrated_sensor"].append({
            "token": cs_tokens[ch], "sensor_token": _token("sensor", ch), "translation": s.translation.tolist(),
            "rotation": s.rotation_wxyz.tolist(), "camera_intrinsic": s.K.tolist() if s.K is not None else []})
    samples = [{"token": _token("sample", cfg.seed, si, k), "timestamp": t0_us + int(round(k * 1e6 / KEYFRAME_HZ)),
                "scene_token": scene_token, "prev": "", "next": ""} for k in range(n_samples)]
    for a, b in zip(samples, samples[1:]):
        a["next"], b["prev"] = b["token"], a["token"]
    rows["sample"].extend(samples)
    rows["scene"].append({"token": scene_token, "log_token": log_token, "nbr_samples": n_samples,
                          "first_sample_token": samples[0]["token"], "last_sample_token": samples[-1]["token"],
                          "name": scene_name, "description": f"synthetic street, seed {seed}"})

    # All sensor frames of the scene in time order, so moving primitives are built once per instant.
    events = []
    for k in range(n_samples * per_sample["LIDAR_TOP"]):
        events.append((k / LIDAR_HZ, "LIDAR_TOP", k))
    for c in CAMERAS:
        for k in range(n_samples * per_sample[c]):
            events.append((k / CAMERA_HZ + offsets[c], c, k))
    events.sort()
    chains: dict[str, list[dict]] = {ch: [] for ch in rig}
    key_lidar: dict[int, np.ndarray] = {}  # key frame -> its sweep's points in the local frame (annotation counts)
    for t, ch, k in events:
        ts = t0_us + int(round(t * 1e6))
        key = k % per_sample[ch] == 0
        sample_idx = min(k // per_sample[ch], n_samples - 1)
        sensor = rig[ch]
        ext = "pcd.bin" if sensor.modality == "lidar" else "jpg"
        rel = f"{'samples' if key else 'sweeps'}/{ch}/{log_name}__{ch}__{ts}.{ext}"
        T_local_ego = world.ego_pose_local(t)
        prims = primitives_at(world, t, cfg.device)
        if sensor.modality == "lidar":
            pts = lidar_sweep(world, prims, T_local_ego, sensor, rng)
            _write_file(root / rel, pts.astype(np.float32).tobytes())
            if key:
                T = T_local_ego @ sensor.T_ego_sensor
                key_lidar[sample_idx] = pts[:, :3].astype(np.float64) @ T[:3, :3].T + T[:3, 3]
        else:
            labels: dict = {}
            img, depth = render_image(world, prims, T_local_ego, sensor, gen, style, shadows=cfg.shadows,
                                      vehicle_looks=cfg.vehicle_looks, material=labels,
                                      photo_textures=cfg.photo_textures)
            ok, jpg = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
            assert ok, "JPEG encoding failed"
            _write_file(root / rel, jpg.tobytes())
            dpath = dense_depth_path(root, rel)
            dpath.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(dpath, depth=depth, material=labels["material"])
        sd_token = _token("sd", cfg.seed, si, ch, k)
        rows["ego_pose"].append(_pose_record(sd_token, world.T_global_local @ T_local_ego, ts))
        chains[ch].append({
            "token": sd_token, "sample_token": samples[sample_idx]["token"], "ego_pose_token": sd_token,
            "calibrated_sensor_token": cs_tokens[ch], "timestamp": ts, "fileformat": ext.split(".")[0],
            "is_key_frame": key, "height": sensor.height, "width": sensor.width, "filename": rel,
            "prev": "", "next": ""})
        if tick is not None:
            tick()
    for recs in chains.values():
        for a, b in zip(recs, recs[1:]):
            a["next"], b["prev"] = b["token"], a["token"]
        rows["sample_data"].extend(recs)
    def lidar_counts(k, centre, R, wlh):
        return points_in_box(key_lidar[k], centre, R, wlh).sum() if k in key_lidar else 0

    times = [(s["timestamp"] - t0_us) / 1e6 for s in samples]
    rows["instance"], rows["sample_annotation"] = annotation_rows(world, (cfg.seed, si), samples, times, lidar_counts)
    (root / "synth" / "worlds").mkdir(parents=True, exist_ok=True)
    world.save(root / "synth" / "worlds" / f"{scene_name}.npz", t0_us=np.int64(t0_us))
    return rows


def generate_dataset(cfg: SynthConfig, progress: bool = True, workers: int = 1) -> Path:
    """Render ``cfg.scenes`` drives and write the dataset; returns the dataroot.

    ``workers`` > 1 renders scenes in that many processes. Every scene draws from its own seeds, and the tables are
    merged in scene order, so the files and tables are the same as with one worker (tests/test_synth_world.py).
    """
    if cfg.duration <= 0 or abs(cfg.duration * KEYFRAME_HZ - round(cfg.duration * KEYFRAME_HZ)) > 1e-9:
        raise ValueError(f"duration must be a positive multiple of {1 / KEYFRAME_HZ} s, got {cfg.duration}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if cfg.photo_textures < 0:
        raise ValueError(f"photo_textures must be >= 0, got {cfg.photo_textures}")
    if cfg.photo_textures:  # before anything is written: the photographs must be there
        from . import photo_texture

        try:
            for name in photo_texture.NAMES:
                photo_texture.pyramid(name)
        except RuntimeError as e:
            raise ValueError(str(e)) from None
    root = Path(cfg.out)
    base_rig = load_rig(cfg.width, cfg.height)
    offsets = camera_trigger_offsets(base_rig)
    tables = {k: [] for k in ("category", "attribute", "instance", "sensor", "calibrated_sensor", "ego_pose",
                              "log", "scene", "sample", "sample_data", "sample_annotation", "map")}
    tables["visibility"] = VISIBILITY
    tables["category"], tables["attribute"] = list(CATEGORIES), list(ATTRIBUTES)
    for ch, s in base_rig.items():
        tables["sensor"].append({"token": _token("sensor", ch), "channel": ch, "modality": s.modality})
    map_token = _token("map", cfg.seed)

    n_samples = int(round(cfg.duration * KEYFRAME_HZ))
    frames_per_scene = n_samples * sum(_per_sample().values())
    bar = tqdm(total=cfg.scenes * frames_per_scene, desc="fsmde-synth", unit="frame", disable=not progress)
    if workers == 1 or cfg.scenes == 1:
        per_scene = [_render_scene(cfg, si, lambda: bar.update(1)) for si in range(cfg.scenes)]
    else:
        # spawn: a forked child of a process that has touched torch's thread pool (or CUDA) can hang
        ctx = multiprocessing.get_context("spawn")
        threads = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(min(workers, cfg.scenes), mp_context=ctx, initializer=torch.set_num_threads,
                                 initargs=(threads,)) as ex:
            futures = {ex.submit(_render_scene, cfg, si): si for si in range(cfg.scenes)}
            for f in as_completed(futures):
                f.result()  # a failed scene raises here, before any table is written
                bar.update(frames_per_scene)
            per_scene = [f.result() for f in sorted(futures, key=futures.get)]
    bar.close()
    for rows in per_scene:
        for name, recs in rows.items():
            tables[name].extend(recs)

    mask_rel = f"maps/{map_token}.png"
    (root / "maps").mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / mask_rel), np.full((64, 64), 255, np.uint8))
    tables["map"].append({"token": map_token, "log_tokens": [r["token"] for r in tables["log"]],
                          "category": "semantic_prior", "filename": mask_rel})
    (root / cfg.version).mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        _write_file(root / cfg.version / f"{name}.json", json.dumps(rows, indent=0).encode())
    meta = {"generator": "fsmde_train.synth", "config": asdict(cfg),
            "depth": {"folder": DEPTH_DIR, "format": "npz key 'depth', float32 [H, W]", "units": "m",
                      "kind": "z-depth along the optical axis", "sky": 0.0,
                      "material": {"format": "npz key 'material', uint8 [H, W]", "names": MATERIAL_NAMES,
                                   "sky": SKY_ID}},
            "lidar": {"frame": "LIDAR_TOP", "fields": ["x", "y", "z", "intensity", "ring"], "hz": LIDAR_HZ},
            "camera_trigger_offsets_s": offsets}
    _write_file(root / "synth" / "meta.json", json.dumps(meta, indent=2).encode())
    return root


__all__ = ["SynthConfig", "generate_dataset", "dense_depth_path", "load_dense_depth", "PRESETS"]
