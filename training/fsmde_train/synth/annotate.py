"""3D box annotations of the synthetic world's vehicles, as nuScenes writes them (sample_annotation, instance).

A vehicle is several primitives (body, cabin, axles, lamps) that move together; ``vehicle_groups`` finds them as
connected groups of car boxes with one velocity, ``vehicle_boxes`` gives each group's oriented box (the body's yaw,
tight around every part). Annotations exist for what a loader needs to tell moving objects from the static world
(``fsmde_train.data.objects``: multi-sweep LiDAR GT); ``visibility_token`` is left empty (not computed).
"""
from __future__ import annotations

import numpy as np

from ..geometry import matrix_to_quat, yaw_matrix
from .world import CAR_BODY, CAR_GLASS, World

ANNOTATION_RANGE = 80.0  # m from the ego (xy) within which a vehicle is annotated at a key frame
TRUCK_LENGTH = 5.5  # m: longer vehicles are vehicle.truck
CATEGORIES = [
    {"token": "cat-vehicle.car", "name": "vehicle.car", "description": "Vehicle designed primarily for personal use."},
    {"token": "cat-vehicle.truck", "name": "vehicle.truck",
     "description": "Vehicles primarily designed to haul cargo; buses included in the synthetic world."},
]
ATTRIBUTES = [
    {"token": "attr-vehicle.moving", "name": "vehicle.moving", "description": "Vehicle is moving."},
    {"token": "attr-vehicle.parked", "name": "vehicle.parked", "description": "Vehicle is stationary, no driver."},
]


def _corners_xy(box: np.ndarray) -> np.ndarray:
    """[4, 2] footprint corners of a world box row (x, y, z, hx, hy, hz, yaw)."""
    R = yaw_matrix(box[6])[:2, :2]
    sx, sy = np.array([1, 1, -1, -1]) * box[3], np.array([1, -1, -1, 1]) * box[4]
    return box[None, :2] + np.stack([sx, sy], 1) @ R.T


def vehicle_groups(world: World, touch: float = 0.05) -> list[list[int]]:
    """Box indices of each vehicle: car-material boxes with the same velocity whose footprints (axis-aligned
    bounds of the rotated boxes) overlap within ``touch`` m, joined transitively. Distinct vehicles stand apart by
    far more (parked rows >= 0.6 m, lanes >= 1.2 m)."""
    idx = np.flatnonzero(np.isin(world.box_mat, (CAR_BODY, CAR_GLASS)))
    lo = np.array([_corners_xy(world.boxes[i]).min(0) for i in idx]).reshape(-1, 2) - touch
    hi = np.array([_corners_xy(world.boxes[i]).max(0) for i in idx]).reshape(-1, 2) + touch
    parent = list(range(len(idx)))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a in range(len(idx)):
        near = np.flatnonzero((lo[a] <= hi).all(1) & (lo <= hi[a]).all(1))
        for b in near[near > a]:
            if np.array_equal(world.box_vel[idx[a]], world.box_vel[idx[b]]):
                parent[find(b)] = find(a)
    groups: dict[int, list[int]] = {}
    for a in range(len(idx)):
        groups.setdefault(find(a), []).append(int(idx[a]))
    return sorted(groups.values())


def vehicle_boxes(world: World, groups: list[list[int]]) -> list[dict]:
    """Per group at scene time 0 (local frame): centre [3], size wlh [3] (nuScenes order), yaw, velocity [2]."""
    out = []
    for g in groups:
        boxes = world.boxes[g]
        yaw = boxes[np.argmax(np.prod(boxes[:, 3:6], 1)), 6]  # the largest part (the body) sets the heading
        R = yaw_matrix(yaw)[:2, :2]
        corners = np.concatenate([_corners_xy(b) for b in boxes])
        local = corners @ R  # into the body frame (R^T applied row-wise)
        lo, hi = local.min(0), local.max(0)
        z0, z1 = (boxes[:, 2] - boxes[:, 5]).min(), (boxes[:, 2] + boxes[:, 5]).max()
        cxy = R @ ((lo + hi) / 2)
        out.append({"centre": np.array([cxy[0], cxy[1], (z0 + z1) / 2]),
                    "wlh": np.array([hi[1] - lo[1], hi[0] - lo[0], z1 - z0]), "yaw": float(yaw),
                    "vel": world.box_vel[g[0]].astype(float)})
    return out


def annotation_rows(world: World, scene_key: tuple, samples: list[dict], times: list[float],
                    lidar_counts=None) -> tuple[list[dict], list[dict]]:
    """(instance rows, sample_annotation rows) of a scene's vehicles at its key frames.

    ``samples``: the scene's sample rows; ``times``: their scene times (s); ``lidar_counts(k, centre, R, wlh)``:
    LiDAR points of key frame k inside a box (local frame), else 0.
    A vehicle is annotated over the contiguous key frames from the first to the last within ANNOTATION_RANGE of
    the ego, with prev/next links as the devkit expects (box_velocity, get_boxes interpolation)."""
    from .writer import _token

    boxes = vehicle_boxes(world, vehicle_groups(world))
    T_gl = world.T_global_local
    yaw_gl = float(np.arctan2(T_gl[1, 0], T_gl[0, 0]))
    instances, anns = [], []
    ego = np.array([world.ego_pose_local(t)[:2, 3] for t in times])
    for n, b in enumerate(boxes):
        centres = np.array([b["centre"] + np.r_[b["vel"] * t, 0.0] for t in times])
        near = np.flatnonzero(np.linalg.norm(centres[:, :2] - ego, axis=1) <= ANNOTATION_RANGE)
        if not len(near):
            continue
        inst = _token("instance", *scene_key, n)
        cat = CATEGORIES[1 if b["wlh"][1] > TRUCK_LENGTH else 0]
        attr = ATTRIBUTES[0 if np.any(b["vel"] != 0) else 1]
        R = yaw_matrix(b["yaw"])
        rot = matrix_to_quat(yaw_matrix(yaw_gl + b["yaw"])).tolist()
        rows = []
        for k in range(near[0], near[-1] + 1):
            tok = _token("ann", *scene_key, n, k)
            pts = int(lidar_counts(k, centres[k], R, b["wlh"])) if lidar_counts else 0
            rows.append({"token": tok, "sample_token": samples[k]["token"], "instance_token": inst,
                         "visibility_token": "", "attribute_tokens": [attr["token"]],
                         "translation": (T_gl[:3, :3] @ centres[k] + T_gl[:3, 3]).tolist(),
                         "size": b["wlh"].tolist(), "rotation": rot, "prev": "", "next": "",
                         "num_lidar_pts": pts, "num_radar_pts": 0})
        for a, c in zip(rows, rows[1:]):
            a["next"], c["prev"] = c["token"], a["token"]
        anns.extend(rows)
        instances.append({"token": inst, "category_token": cat["token"], "nbr_annotations": len(rows),
                          "first_annotation_token": rows[0]["token"], "last_annotation_token": rows[-1]["token"]})
    return instances, anns


def points_in_box(pts: np.ndarray, centre: np.ndarray, R: np.ndarray, wlh) -> np.ndarray:
    """[N] bool: points [N, 3] inside the box (centre, rotation R whose x axis is the length, size wlh)."""
    p = (pts - centre) @ R
    w, l, h = wlh
    return (np.abs(p[:, 0]) <= l / 2) & (np.abs(p[:, 1]) <= w / 2) & (np.abs(p[:, 2]) <= h / 2)
