"""One typed training config; YAML files override its defaults (unknown keys are errors)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .. import CAMERAS
from ..losses.objective import LossConfig
from ..networks.student import StudentConfig
from ..networks.teacher import TeacherConfig


@dataclass
class DataConfig:
    root: str = "data/synth"
    version: str = "v1.0-synth"
    # scenes: None = every scene of the root; a list of names; a split file (one name per line, relative paths
    # from the config file's folder); or "nuscenes:<split>" for the devkit's official splits (e.g. nuscenes:train)
    train_scenes: list[str] | str | None = None
    val_root: str | None = None  # held-out scenes (may be the same root as ``root``), None = no validation
    val_scenes: list[str] | str | None = None
    input_hw: tuple[int, int] = (128, 224)
    canonical_focal_px: float = 177.3  # CAM_FRONT's fx scaled to 224 px width
    sweeps: bool = True  # use the 12 Hz camera sets too (sparse GT from the nearest LiDAR sweep)
    gt: str = "lidar"  # supervision: "lidar" (sparse, projected LIDAR_TOP; real data) or "dense" (synthetic only)
    lidar_sweeps: int = 1  # LiDAR sweeps aggregated per camera set (nearest in time, ego motion compensated)
    # what moves between sweeps (data/objects.py): "static" (smears) or "follow" (carried with its 3D box, from the
    # annotations, to the camera's timestamp)
    lidar_objects: str = "static"
    eval_gt: str = "dense"  # GT of the validation metrics: "dense" (synthetic world) or "lidar"
    augment: float = 0.0  # photometric augmentation strength (data/augment.py): 0 = off, 1 = the documented ranges
    # probability per camera set of a random convolution of its RGB (data/augment.py random_convolution, RandConv):
    # texture and colour change, shapes stay; 0 = off
    randconv: float = 0.0
    # which sets train the validity head under randconv: "all" | "rendered" (only those left as rendered: the
    # convolved colours blur the sky's boundary, results/randconv/PLAN.md)
    randconv_validity: str = "all"
    # probability per view of another pixel aspect (data/augment.py aspect_jitter): fy/fx times r, log-uniform in
    # aspect_range, by a crop resized back (KITTI at the model input has fy/fx 1.89, DDAD 0.91; the synthetic
    # cameras 1); 0 = off
    aspect_jitter: float = 0.0
    aspect_range: tuple[float, float] = (0.8, 2.0)
    # probability per camera set of the mirror world (data/augment.py mirror_sets): every view left-right mirrored,
    # the ring read the other way round; the training streets are all right-hand traffic; 0 = off
    mirror: float = 0.0
    # probability per view of a new road surface (data/augment.py road_retexture; needs the world's material maps);
    # 0 = off
    road_retexture: float = 0.0
    # probability per view of another street above the horizon (data/augment.py horizon_mix): the pixels whose rays
    # rise take RGB and labels from another view of the batch; 0 = off
    horizon_mix: float = 0.0
    # self-supervised training (issue 14): samples hold frames (t-1, t, t+1) for the photometric terms
    sequence: bool = False
    # frame spacings k of the (t-k, t, t+k) triples (data/sequence.py): [1, 2] doubles the range of motions a pose
    # network sees (a recording's speed range x 1 and x 2); the pose evaluation and the node stay at consecutive sets
    sequence_strides: tuple[int, ...] = (1,)
    # train from these rosbag2 folders, or folders of them (the rig's topics, /tf_static, /tf), instead of root
    bags: list[str] | None = None
    kitti: str | None = None  # or from a KITTI raw folder as a stereo rig (data/kitti_seq.py; test-time adaptation)
    # or from DDAD scenes in DGP format, or folders of them (data/ddad_seq.py: world poses per image datum, no LiDAR
    # read); data.cameras then names the scenes' cameras in ring order (CAMERA_01, ...)
    ddad: list[str] | None = None
    cache_dir: str | None = None  # preprocessed arrays cached here (keyed by data + settings), None = no cache
    # the rig's cameras in ring order (adjacent entries overlap): N_cam of every batch, of VR-KD's ring pairs and
    # of the exported manifest; the node's rig file names the same cameras
    cameras: list[str] = field(default_factory=lambda: list(CAMERAS))


@dataclass
class OptimConfig:
    steps: int = 1000  # the schedule's length (warmup, cosine decay to 0)
    # stop after this step (checkpointed and validated) with the schedule of ``steps``: a staged run's earlier
    # network as the full run passes through it (e.g. before pose_iterations_from); 0 runs to ``steps``
    stop_at: int = 0
    # export the uniform average of the weights after each step from this one to ``steps`` (engine/average.py,
    # SWA); 0 = the last step's weights
    average_from: int = 0
    batch_size: int = 2  # camera sets per step (x 6 views)
    lr: float = 1e-3
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    warmup_steps: int = 50


@dataclass
class TrainConfig:
    name: str = "fsmde_student"
    out_dir: str = "runs/fsmde_student"
    seed: int = 0
    threads: int = 0
    device: str = "auto"  # auto (cuda:LOCAL_RANK when present, else cpu) | cpu | cuda
    amp: bool = True  # mixed precision on CUDA (bf16, or fp16 with a GradScaler where bf16 is missing); never on CPU
    model: StudentConfig = field(default_factory=StudentConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    checkpoint_every: int = 200
    log_every: int = 20
    image_every: int = 250  # TensorBoard depth images (0 = never)
    tensorboard: bool = True  # scalars + images under <out_dir>/tb
    # self-supervised runs without ego poses (issue 14): the surround pose network predicts the vehicle motion
    # between frames (networks/pose.py), trained with the photometric terms; it is saved in the checkpoints
    pose_net: bool = False
    # what of the student's metric depth of frame t (detached) the pose network also sees: none | inverse |
    # scaled_difference (networks/pose.py DEPTH_INPUTS)
    pose_depth_input: str = "none"
    pose_iterations: int = 1  # passes of the pose network, each on the source warped by the motion so far
    # radius of the pose network's local correlation volume at 1/4 resolution (networks/pose.py PoseConfig.correlation;
    # 0 off: the encoder reads the frames and their difference only)
    pose_correlation: int = 0
    # one pose head shared by the cameras, their motions fused in the ego frame (networks/pose.py PoseConfig.per_camera)
    pose_per_camera: bool = False
    # the step from which the passes beyond the first train; before it the network runs one pass (two passes trained
    # together from scratch split the motion between them: configs/selfsup_bag/pose_net_iterative.yaml)
    pose_iterations_from: int = 0
    # RAFT's sequence loss: with gamma > 0 each earlier pass's motion also drives the temporal term (weight
    # gamma ** (passes - pass), the student's depth detached there), so every pass is a whole motion estimate and a
    # later one corrects what is left; 0 = the final motion only
    pose_sequence_gamma: float = 0.0
    # the motion handed to each later pass scaled per sample by U(1 - j, 1 + j) in training (networks/pose.py)
    pose_iteration_jitter: float = 0.0
    # model each camera's exposure time within a set (networks/pose.py exposure_poses: the vehicle moves 0.3-0.7 m
    # while a nuScenes-style rig's six cameras fire); false takes one set's exposures as simultaneous, as the
    # pose-network rows measured before 2026-12-03 did
    pose_stagger: bool = True
    # the pose module's direct alignment (networks/pose_align.py) from step pose_align_from: [[factor, iterations],
    # ...] coarse to fine, [] off; needs pose_depth_input. The aligned motion drives the photometric terms; the
    # regression learns toward it with weight pose_align_distill (no GT: it is the images' photometric optimum)
    pose_align: tuple = ()
    pose_align_from: int = 0
    pose_align_distill: float = 0.0
    # motion composition (issue 14): the pose network also predicts ego(t+1) -> ego(t-1) from frames t-1 and t+1
    # (twice the motion a frame), whose translation must match the composition of its two one-frame motions in
    # length ratio and direction (engine/trainer.py composition_loss; scale-free), with this weight. A network that
    # answers from a scene's looks with one speed (measured: twice the flow in, ~1 x the motion out) cannot meet it;
    # one that reads the flow's size can. Needs no GT.
    pose_composition: float = 0.0
    # the step from which the term is on: trained from step 0 it learned self-consistent motions of the wrong sign
    # for ~40 % of a fresh world's triples (results/selfsup_bag_pose_compose); from a later step the photometric
    # terms have set the motion's direction before the term asks for its size
    pose_composition_from: int = 0
    init_from: str | None = None  # start from these weights (an exported model folder or a run folder), not random
    export_dir: str | None = None  # export the final weights (onnx + torch program + manifest) here


def _merge(obj, overrides: dict, path=""):
    names = {f.name: f for f in dataclasses.fields(obj)}
    for k, v in overrides.items():
        if k not in names:
            raise ValueError(f"unknown config key '{path}{k}' (known: {sorted(names)})")
        cur = getattr(obj, k)
        if dataclasses.is_dataclass(cur):
            if not isinstance(v, dict):
                raise ValueError(f"config key '{path}{k}' expects a mapping")
            if dataclasses.is_dataclass(cur) and getattr(type(cur), "__dataclass_params__").frozen:
                cur = dataclasses.replace(cur, **{kk: tuple(vv) if isinstance(vv, list) else vv for kk, vv in v.items()})
                setattr(obj, k, cur)
            else:
                _merge(cur, v, f"{path}{k}.")
        else:
            setattr(obj, k, tuple(v) if isinstance(cur, tuple) and isinstance(v, list) else v)
    return obj


def load_config(path=None, overrides: dict | None = None) -> TrainConfig:
    """Defaults, then each YAML file of ``path`` (one path or a list, applied in order), then ``overrides``."""
    cfg = TrainConfig()
    for p in ([] if not path else [path] if isinstance(path, (str, Path)) else path):
        _merge(cfg, yaml.safe_load(Path(p).read_text()) or {})
    if overrides:
        _merge(cfg, overrides)
    if cfg.model.cross_view and len(cfg.data.cameras) != cfg.model.n_cam:
        raise ValueError(f"model.cross_view needs whole sets: model.n_cam is {cfg.model.n_cam} but data.cameras "
                         f"has {len(cfg.data.cameras)} ({cfg.data.cameras})")
    sc = cfg.loss.photo_scales
    if not sc or not all(isinstance(f, int) and not isinstance(f, bool) and f >= 1 for f in sc):
        raise ValueError(f"loss.photo_scales must be a non-empty list of integer downsampling factors >= 1, "
                         f"e.g. [1, 2, 4, 8]; got {sc!r}")
    if not 0 <= cfg.optim.stop_at <= cfg.optim.steps:
        raise ValueError(f"optim.stop_at must be a step in [0, optim.steps = {cfg.optim.steps}] (0: run to the end), "
                         f"got {cfg.optim.stop_at}")
    if not 0 <= cfg.optim.average_from <= cfg.optim.steps:
        raise ValueError(f"optim.average_from must be a step in [0, optim.steps = {cfg.optim.steps}] (0: no "
                         f"averaging), got {cfg.optim.average_from}")
    if not 0.0 <= cfg.data.aspect_jitter <= 1.0:
        raise ValueError(f"data.aspect_jitter must be a probability in [0, 1], got {cfg.data.aspect_jitter}")
    if not 0.0 <= cfg.data.road_retexture <= 1.0:
        raise ValueError(f"data.road_retexture must be a probability in [0, 1], got {cfg.data.road_retexture}")
    if cfg.data.road_retexture and cfg.data.bags:
        raise ValueError("data.road_retexture needs a synthetic world's material maps (data.root); data.bags have none")
    if not 0.0 <= cfg.data.horizon_mix <= 1.0:
        raise ValueError(f"data.horizon_mix must be a probability in [0, 1], got {cfg.data.horizon_mix}")
    if cfg.data.horizon_mix and cfg.data.sequence:
        raise ValueError("data.horizon_mix does not apply to sequences (data.sequence: the frames t-1 and t+1 would "
                         "keep their own surroundings); set one of them off")
    if not 0.0 <= cfg.data.mirror <= 1.0:
        raise ValueError(f"data.mirror must be a probability in [0, 1], got {cfg.data.mirror}")
    if cfg.data.mirror and cfg.data.sequence:
        raise ValueError("data.mirror does not apply to sequences (data.sequence: the frames t-1 and t+1 and their "
                         "motions would need mirroring too)")
    if cfg.data.aspect_jitter and cfg.data.sequence:
        raise ValueError("data.aspect_jitter does not apply to sequences (data.sequence: the frames t-1 and t+1 would "
                         "keep the old pixel aspect); set one of them off")
    if len(cfg.data.aspect_range) != 2 or not 0 < cfg.data.aspect_range[0] <= cfg.data.aspect_range[1]:
        raise ValueError(f"data.aspect_range must be [lo, hi] with 0 < lo <= hi (fy/fx factors), "
                         f"got {cfg.data.aspect_range}")
    if cfg.data.randconv_validity not in ("all", "rendered"):
        raise ValueError(f"data.randconv_validity must be 'all' or 'rendered', got {cfg.data.randconv_validity!r}")
    if cfg.loss.photo_scale_mode not in ("upsample", "pyramid"):
        raise ValueError(f"loss.photo_scale_mode must be 'upsample' or 'pyramid', got {cfg.loss.photo_scale_mode!r}")
    if cfg.pose_depth_input not in ("none", "inverse", "scaled_difference"):
        raise ValueError(f"pose_depth_input must be none, inverse or scaled_difference, got {cfg.pose_depth_input!r}")
    if cfg.pose_iterations != 1 and (cfg.pose_depth_input == "none" or cfg.pose_iterations < 1):
        raise ValueError(f"pose_iterations must be >= 1, and > 1 needs pose_depth_input (the warp goes through the "
                         f"student's depth); got {cfg.pose_iterations} with {cfg.pose_depth_input!r}")
    if not isinstance(cfg.pose_correlation, int) or isinstance(cfg.pose_correlation, bool) or cfg.pose_correlation < 0:
        raise ValueError(f"pose_correlation must be an integer radius >= 0 (0 off), got {cfg.pose_correlation!r}")
    if not isinstance(cfg.pose_iterations_from, int) or cfg.pose_iterations_from < 0 or \
            (cfg.pose_iterations_from > 0 and cfg.pose_iterations == 1):
        raise ValueError(f"pose_iterations_from must be a step >= 0, and > 0 needs pose_iterations > 1; got "
                         f"{cfg.pose_iterations_from} with pose_iterations {cfg.pose_iterations}")
    try:
        cfg.pose_align = tuple((int(f), int(n)) for f, n in cfg.pose_align)
    except (TypeError, ValueError):
        cfg.pose_align = None
    if not 0.0 <= cfg.pose_sequence_gamma <= 1.0 or not 0.0 <= cfg.pose_iteration_jitter < 1.0 or \
            ((cfg.pose_sequence_gamma or cfg.pose_iteration_jitter) and cfg.pose_iterations == 1):
        raise ValueError(f"pose_sequence_gamma must be in [0, 1] and pose_iteration_jitter in [0, 1), and either "
                         f"needs pose_iterations > 1; got {cfg.pose_sequence_gamma}, {cfg.pose_iteration_jitter} "
                         f"with pose_iterations {cfg.pose_iterations}")
    if cfg.pose_align is None or any(f < 1 or n < 1 for f, n in cfg.pose_align) or \
            (cfg.pose_align and cfg.pose_depth_input == "none"):
        raise ValueError("pose_align must be [[factor, iterations], ...] with both >= 1 (e.g. [[4, 6], [2, 4]]) and "
                         "needs pose_depth_input (it aligns through the student's depth)")
    if not isinstance(cfg.pose_align_from, int) or cfg.pose_align_from < 0 or cfg.pose_align_distill < 0 or \
            ((cfg.pose_align_from or cfg.pose_align_distill) and not cfg.pose_align):
        raise ValueError(f"pose_align_from must be a step >= 0 and pose_align_distill >= 0, and either needs "
                         f"pose_align; got {cfg.pose_align_from}, {cfg.pose_align_distill} with {cfg.pose_align}")
    if cfg.pose_composition < 0 or (cfg.pose_composition and (not cfg.pose_net or cfg.model.temporal)):
        raise ValueError(f"pose_composition must be >= 0, and > 0 needs pose_net: true and a student without "
                         f"model.temporal (frame t-1's depth comes from a stateless forward); got "
                         f"{cfg.pose_composition}")
    if not isinstance(cfg.pose_composition_from, int) or cfg.pose_composition_from < 0 or \
            (cfg.pose_composition_from and not cfg.pose_composition):
        raise ValueError(f"pose_composition_from must be a step >= 0, and > 0 needs pose_composition > 0; got "
                         f"{cfg.pose_composition_from} with pose_composition {cfg.pose_composition}")
    if cfg.pose_depth_input != "none" and not cfg.pose_net:
        raise ValueError("pose_depth_input needs pose_net: true (it is an input of the pose network)")
    st = cfg.data.sequence_strides
    if not st or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in st) or len(set(st)) != len(st):
        raise ValueError(f"data.sequence_strides must be distinct integers >= 1, e.g. [1] or [1, 2]; got {st!r}")
    if cfg.model.temporal and tuple(st) != (1,):
        raise ValueError(f"model.temporal needs data.sequence_strides: [1] (the node's state comes from the previous "
                         f"set, not k sets back); got {st!r}")
    if cfg.model.temporal and not cfg.data.sequence:
        raise ValueError("model.temporal needs data.sequence: true (the state of frame t-1 feeds frame t)")
    return cfg


def config_to_dict(cfg: TrainConfig) -> dict:
    return dataclasses.asdict(cfg)


TRAINING_DIR = Path(__file__).resolve().parents[2]


def resolve_scenes(spec, base_dir: str | Path = TRAINING_DIR) -> list[str] | None:
    """``DataConfig.*_scenes`` -> scene names (None = all): a list, a split file (relative to the working directory
    or to ``base_dir``, the training/ folder), or ``nuscenes:<split>``."""
    if spec is None or isinstance(spec, (list, tuple)):
        return list(spec) if spec is not None else None
    if spec.startswith("nuscenes:"):
        from nuscenes.utils.splits import create_splits_scenes

        splits = create_splits_scenes()
        name = spec.split(":", 1)[1]
        if name not in splits:
            raise ValueError(f"unknown nuScenes split {name!r} (known: {sorted(splits)})")
        return list(splits[name])
    path = Path(spec)
    if not path.is_absolute() and not path.exists():
        path = Path(base_dir) / path
    if not path.exists():
        raise ValueError(f"split file {spec!r} not found (a list of scene names, a file, or nuscenes:<split>)")
    names = [ln.split("#")[0].strip() for ln in path.read_text().splitlines()]
    return [n for n in names if n]


def parse_overrides(pairs: list[str]) -> dict:
    """``a.b=value`` (value parsed as YAML) -> nested dict."""
    over: dict = {}
    for kv in pairs:
        key, sep, val = kv.partition("=")
        if not sep:
            raise ValueError(f"override {kv!r} is not key=value")
        cur = over
        parts = key.split(".")
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
        cur[parts[-1]] = yaml.safe_load(val)
    return over
