"""Every node parameter, declared once (name, default, description, constraints) and validated into one
frozen ``NodeConfig``. The README's parameter table and config/surround_depth.yaml are checked against
``PARAMS`` by the tests.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from .backends import BACKENDS, DEVICES


class ConfigError(ValueError):
    """Invalid parameter values; the message lists every problem (already logged by the node)."""


@dataclass(frozen=True)
class Param:
    name: str
    default: object
    description: str
    read_only: bool = True  # changes need a restart (model, topics, QoS)
    choices: tuple = ()
    min: float | None = None
    max: float | None = None


PARAMS: tuple[Param, ...] = (
    Param("model_path", "", "model folder holding manifest.json; empty = the installed demo model"),
    Param("backend", "auto", "inference backend; auto picks the first that runs here, in the order "
          f"{list(BACKENDS[1:])}", choices=BACKENDS),
    Param("device", "auto", "auto = cuda when available, else cpu", choices=DEVICES),
    Param("threads", 0, "CPU threads for inference (0 = library default)", min=0, max=256),
    Param("engine_cache_dir", "~/.cache/fsmde_ros/engines", "TensorRT engine cache folder"),
    Param("gpu_decode", True, "on a CUDA device: decode JPEGs with nvJPEG and resize, normalise and back-project "
          "on the GPU (falls back to the CPU path, saying why, when no GPU decoder is importable)"),
    Param("cameras", [], "subset of the rig file's cameras to serve, one batch slot each; empty = all of them, "
          "in the rig file's order"),
    Param("rig_file", "", "rig YAML: the cameras, their topics, frames and fallback extrinsics; empty = installed "
          "config/nuscenes_rig.yaml"),
    Param("image_transport", "compressed", "subscribe to sensor_msgs/Image (raw) or CompressedImage "
          "(<image_topic>/compressed)", choices=("raw", "compressed")),
    Param("qos_reliability", "reliable", "reliability of all synced subscriptions (best_effort = sensor data)",
          choices=("reliable", "best_effort")),
    Param("qos_depth", 5, "history depth of all synced subscriptions", min=1, max=1000),
    Param("sync_queue_size", 10, "ApproximateTimeSynchronizer queue size per input", min=1, max=1000),
    Param("sync_slop", 0.06, "max spread of stamps within one set, seconds (nuScenes cameras span ~40 ms)",
          min=0.0, max=10.0),
    Param("base_frame", "", "frame of the fused cloud; empty = the rig file's base_frame"),
    Param("ground_height", 0.0, "height of base_frame's origin above the road (m): 0 for nuScenes' ego frame and "
          "base_footprint, ~0.3 for base_link on the rear axle; models with camera-aware input (manifest "
          "input.geometry) need it", min=-5.0, max=5.0),
    Param("use_tf", True, "camera extrinsics from tf2 when available (else / on failure: the rig file)"),
    Param("motion_compensation", "auto", "place every view of the fused cloud where the vehicle was at the cloud's "
          "stamp (the set's first camera), not at its own exposure: odometry = poses from odom_topic; tf = tf2 "
          "through odom_frame; auto = odometry once a pose is heard, else tf when tf2 is importable; none = the "
          "static extrinsics only", choices=("auto", "odometry", "tf", "none")),
    Param("odom_topic", "odom", "nav_msgs/Odometry of the vehicle (base_frame, or a frame rigid with it) for "
          "motion_compensation; subscribed best effort, which also hears reliable publishers"),
    Param("motion_wait", 0.1, "with odometry: how long a set may wait for the poses of its last exposure (s); "
          "odometry that trails the images longer leaves those views uncompensated (a WARN says so)",
          read_only=False, min=0.0, max=2.0),
    Param("odom_frame", "odom", "fixed frame for motion_compensation through TF (tf2's lookup_transform_full), "
          "e.g. map where a bag has only map -> base_link"),
    Param("publish_depth_16uc1", False, "also publish <cam>/depth/image_16uc1 (millimetres, 0 invalid)",
          read_only=False),
    Param("publish_colorized", True, "also publish <cam>/depth/colorized (bgr8) for RViz", read_only=False),
    Param("cloud_enabled", True, "publish the fused XYZRGB cloud on 'points'", read_only=False),
    Param("cloud_stride", 2, "back-project every n-th pixel of the depth maps", read_only=False, min=1, max=64),
    Param("cloud_min_range", 1.0, "drop cloud points nearer than this (m)", read_only=False, min=0.0, max=1000.0),
    Param("cloud_max_range", 60.0, "drop cloud points farther than this (m)", read_only=False, min=0.0, max=1000.0),
    Param("cloud_voxel_size", 0.0, "voxel grid size for the cloud (m); 0 = off", read_only=False, min=0.0, max=10.0),
    Param("diagnostics_period", 1.0, "seconds between /diagnostics messages", min=0.05, max=60.0),
    Param("log_period", 10.0, "seconds between periodic rate/latency log lines (0 = off)", min=0.0, max=3600.0),
    Param("stale_input_timeout", 2.0, "warn about inputs silent for this long while others arrive (s)",
          min=0.1, max=600.0),
    Param("partial_set_timeout", 1.0, "when no complete set for this long while some cameras are live, serve "
          "partial sets of the live cameras (s; 0 = strict, only complete sets)", min=0.0, max=60.0),
    Param("temporal_max_gap", 0.5, "a model with temporal state (manifest fusion.state): drop the previous set's "
          "state when more than this passed since it (s); a stamp that does not move forward (bag loop) drops it too",
          min=0.01, max=60.0),
    Param("max_future_stamp", 10.0, "drop sets stamped more than this ahead of the node clock (s; 0 = off)",
          read_only=False, min=0.0, max=1e6),
)
PARAM_BY_NAME = {p.name: p for p in PARAMS}


@dataclass(frozen=True)
class NodeConfig:
    model_path: str
    backend: str
    device: str
    threads: int
    engine_cache_dir: str
    gpu_decode: bool
    cameras: tuple[str, ...]
    rig_file: str
    image_transport: str
    qos_reliability: str
    qos_depth: int
    sync_queue_size: int
    sync_slop: float
    base_frame: str
    ground_height: float
    use_tf: bool
    motion_compensation: str
    odom_topic: str
    motion_wait: float
    odom_frame: str
    publish_depth_16uc1: bool
    publish_colorized: bool
    cloud_enabled: bool
    cloud_stride: int
    cloud_min_range: float
    cloud_max_range: float
    cloud_voxel_size: float
    diagnostics_period: float
    log_period: float
    stale_input_timeout: float
    partial_set_timeout: float
    temporal_max_gap: float
    max_future_stamp: float


def check_value(name: str, value) -> str | None:
    """Why ``value`` is not acceptable for parameter ``name`` (None when it is)."""
    p = PARAM_BY_NAME.get(name)
    if p is None:
        return f"unknown parameter '{name}'"
    d = p.default
    if isinstance(d, bool):
        if not isinstance(value, bool):
            return f"{name} must be a bool, got {value!r}"
    elif isinstance(d, int):
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{name} must be an integer, got {value!r}"
    elif isinstance(d, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{name} must be a number, got {value!r}"
    elif isinstance(d, list):
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
            return f"{name} must be a list of names, got {value!r}"
    elif isinstance(d, str) and not isinstance(value, str):
        return f"{name} must be a string, got {value!r}"
    if p.choices and value not in p.choices:
        return f"{name} must be one of {list(p.choices)}, got {value!r}"
    if p.min is not None and value < p.min:
        return f"{name} must be >= {p.min}, got {value!r}"
    if p.max is not None and value > p.max:
        return f"{name} must be <= {p.max}, got {value!r}"
    return None


def make_config(values: dict) -> NodeConfig:
    """Validate a full set of parameter values into a NodeConfig; raises ValueError listing every problem."""
    problems = [msg for n, v in values.items() if (msg := check_value(n, v))]
    missing = [f.name for f in fields(NodeConfig) if f.name not in values]
    if missing:
        problems.append(f"missing parameters {missing}")
    if not problems and values["cloud_min_range"] >= values["cloud_max_range"]:
        problems.append(f"cloud_min_range ({values['cloud_min_range']}) must be < cloud_max_range "
                        f"({values['cloud_max_range']})")
    if not problems and values["motion_compensation"] == "odometry" and not values["odom_topic"]:
        problems.append("motion_compensation 'odometry' needs an odom_topic")
    if not problems and values["motion_compensation"] == "tf" and not values["odom_frame"]:
        problems.append("motion_compensation 'tf' needs an odom_frame")
    if not problems and len(set(values["cameras"])) != len(values["cameras"]):
        problems.append(f"cameras has duplicates: {values['cameras']}")
    if problems:
        raise ConfigError("invalid parameters: " + "; ".join(problems))
    v = dict(values)
    v["cameras"] = tuple(v["cameras"])
    for f in fields(NodeConfig):
        if f.type == "float":
            v[f.name] = float(v[f.name])
    return NodeConfig(**{f.name: v[f.name] for f in fields(NodeConfig)})


def params_yaml() -> str:
    """config/surround_depth.yaml as generated from ``PARAMS`` (a test keeps the file equal to it).

    A list parameter left at its empty default is written as a comment: rcl's YAML parser refuses empty arrays."""
    import json

    lines = ["# Parameters of fsmde_ros/surround_depth (every one the node declares, with its default).",
             "# Generated from fsmde_ros/params.py: python -m fsmde_ros.params > config/surround_depth.yaml",
             "# Launch arguments override model_path, backend, device, image_transport, rig_file and use_sim_time.",
             "/**:", "  ros__parameters:"]
    for p in PARAMS:
        if isinstance(p.default, list) and not p.default:
            lines.append(f"    # {p.name}: [CAM_FRONT, CAM_BACK]  # {p.description}")
            continue
        value = json.dumps(p.default) if not isinstance(p.default, bool) else str(p.default).lower()
        lines.append(f"    {p.name}: {value}  # {p.description}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(params_yaml(), end="")
