"""The model manifest (models/<name>/manifest.json): read, validate, verify files by sha256.

Written by fsmde_train.export; the node refuses anything it does not understand, naming the file and field.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

SUPPORTED_VERSIONS = (1,)


# Camera-aware input channels a manifest may declare (input.geometry.channels; core/geometry_input.py computes them).
GEOMETRY_CHANNELS = ("ground_inverse_depth", "ray_elevation")


class ManifestError(ValueError):
    """A manifest or model file that cannot be used; the message names the file and what was expected."""


@dataclass(frozen=True)
class ModelManifest:
    root: Path
    name: str
    version: int
    height: int
    width: int
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    min_depth: float
    max_depth: float
    canonical_focal_px: float
    files: dict
    raw: dict
    geometry: dict | None = None  # input.geometry: camera-aware channels after RGB (None: RGB only)
    # fusion.kind "cross_view": a batch must be whole sets of these cameras in this order (the network's views
    # attend to their ring neighbours); () = every view is independent (a manifest without "fusion" is that)
    set_cameras: tuple[str, ...] = ()
    # fusion.state "previous_set": the model takes (image, prev_state, prev_valid) and returns (depth, state); the
    # per-view state's shape [C, h, w] (None: a stateless model)
    state_shape: tuple[int, ...] | None = None

    def check_cameras(self, names) -> None:
        """A cross-view model sees its ring neighbours by batch position: the node's cameras must be the set it
        was trained on, in that order. Raises ManifestError naming both lists."""
        if self.set_cameras and tuple(names) != self.set_cameras:
            raise ManifestError(f"model {self.name} fuses views across cameras (manifest fusion.kind 'cross_view') "
                                f"and needs exactly the cameras {list(self.set_cameras)} in that order; the node "
                                f"has {list(names)}")

    @property
    def channels(self) -> int:
        return 3 + (len(self.geometry["channels"]) if self.geometry else 0)

    def file_path(self, kind: str) -> Path:
        if kind not in self.files:
            raise ManifestError(f"{self.root / 'manifest.json'}: no '{kind}' file listed (has {sorted(self.files)})")
        path = (self.root / self.files[kind]["path"]).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ManifestError(f"{self.root / 'manifest.json'}: files.{kind}.path {self.files[kind]['path']!r} "
                                f"points outside the model folder; refusing to load it")
        return path

    def verified_file(self, kind: str) -> Path:
        """Path of a model file after checking it exists and matches its sha256 (never load unverified bytes)."""
        path = self.file_path(kind)
        if not path.is_file():
            raise ManifestError(f"model file {path} listed in {self.root / 'manifest.json'} is missing")
        digest = sha256_file(path)
        expected = self.files[kind].get("sha256")
        if digest != expected:
            raise ManifestError(f"model file {path}: sha256 {digest} does not match the manifest's {expected}")
        return path


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sha256_file(path) -> str:
    """The one sha256 helper of the package (model files, engine cache keys)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _get(d: dict, path: str, typ, where: Path):
    cur = d
    for key in path.split("."):
        if not isinstance(cur, dict) or key not in cur:
            raise ManifestError(f"{where}: missing field '{path}'")
        cur = cur[key]
    if typ is float and isinstance(cur, int) and not isinstance(cur, bool):
        cur = float(cur)
    if not isinstance(cur, typ) or isinstance(cur, bool) and typ is not bool:
        raise ManifestError(f"{where}: field '{path}' should be {typ.__name__}, got {type(cur).__name__} {cur!r}")
    return cur


def load_manifest(model_dir) -> ModelManifest:
    """Load and validate ``<model_dir>/manifest.json`` (``model_dir`` may also be the manifest file)."""
    p = Path(model_dir).expanduser().resolve()
    mf = p if p.suffix == ".json" else p / "manifest.json"
    if not mf.exists():
        raise ManifestError(f"model manifest {mf} does not exist (model folder: {mf.parent})")
    try:
        d = json.loads(mf.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ManifestError(f"model manifest {mf} is not valid JSON: {e}") from e
    if not isinstance(d, dict) or d.get("format") != "fsmde-model":
        raise ManifestError(f"{mf}: not an fsmde model manifest (expected \"format\": \"fsmde-model\")")
    version = _get(d, "format_version", int, mf)
    if version not in SUPPORTED_VERSIONS:
        raise ManifestError(f"{mf}: format_version {version} is not supported (this node reads {SUPPORTED_VERSIONS})")
    h, w = _get(d, "input.height", int, mf), _get(d, "input.width", int, mf)
    if h <= 0 or w <= 0 or h % 32 or w % 32:
        raise ManifestError(f"{mf}: input size {h}x{w} must be positive multiples of 32")
    if _get(d, "input.channel_order", str, mf) != "RGB" or _get(d, "input.layout", str, mf) != "NCHW":
        raise ManifestError(f"{mf}: expected RGB NCHW input, got {d['input'].get('channel_order')} "
                            f"{d['input'].get('layout')}")
    mean, std = _get(d, "input.mean", list, mf), _get(d, "input.std", list, mf)
    if len(mean) != 3 or len(std) != 3 or any(s <= 0 for s in std):
        raise ManifestError(f"{mf}: input.mean/std must be 3 numbers each, std > 0")
    if _get(d, "output.units", str, mf) != "m":
        raise ManifestError(f"{mf}: output.units must be 'm', got {d['output']['units']!r}")
    lo, hi = _get(d, "output.min_depth", float, mf), _get(d, "output.max_depth", float, mf)
    f = _get(d, "canonical_focal_px", float, mf)
    if not (0 < lo < hi) or f <= 0:
        raise ManifestError(f"{mf}: need 0 < min_depth < max_depth and canonical_focal_px > 0")
    geometry = d["input"].get("geometry")
    if geometry is not None:
        names = _get(d, "input.geometry.channels", list, mf)
        unknown = [n for n in names if n not in GEOMETRY_CHANNELS]
        if not names or unknown or _get(d, "input.geometry.version", int, mf) != 1:
            raise ManifestError(f"{mf}: input.geometry must be version 1 with channels from {GEOMETRY_CHANNELS}, "
                                f"got {names!r} (version {geometry.get('version')!r})")
        _get(d, "input.geometry.ground_scale", float, mf), _get(d, "input.geometry.ground_clip", float, mf)
    channels = 3 + (len(geometry["channels"]) if geometry else 0)
    if d["input"].get("channels", 3) != channels:
        raise ManifestError(f"{mf}: input.channels is {d['input'].get('channels')!r}, expected {channels} "
                            f"(RGB + the geometry channels declared)")
    set_cameras: tuple[str, ...] = ()
    fusion = d.get("fusion", {"kind": "none"})
    if not isinstance(fusion, dict) or fusion.get("kind") not in ("none", "cross_view"):
        raise ManifestError(f"{mf}: fusion.kind must be 'none' or 'cross_view', got {fusion!r}")
    state_shape = None
    if fusion.get("state", "none") not in ("none", "previous_set"):
        raise ManifestError(f"{mf}: fusion.state must be 'none' or 'previous_set', got {fusion.get('state')!r}")
    if fusion.get("state") == "previous_set":
        state_shape = tuple(_get(d, "fusion.state_shape", list, mf))
        if len(state_shape) != 3 or not all(isinstance(v, int) and v > 0 for v in state_shape) \
                or fusion.get("state_inputs") != ["prev_state", "prev_valid"] or fusion.get("state_output") != "state":
            raise ManifestError(f"{mf}: fusion.state 'previous_set' needs state_shape [C, h, w], state_inputs "
                                f"['prev_state', 'prev_valid'] and state_output 'state', got {fusion!r}")
    if fusion["kind"] == "cross_view":
        set_cameras = tuple(_get(d, "cameras", list, mf))
        if len(set_cameras) != _get(d, "fusion.views_per_set", int, mf) or len(set_cameras) < 3:
            raise ManifestError(f"{mf}: fusion.views_per_set must equal the number of 'cameras' (>= 3), got "
                                f"{fusion.get('views_per_set')!r} and {list(set_cameras)}")
    files = _get(d, "files", dict, mf)
    for kind, entry in files.items():
        if not isinstance(entry, dict) or "path" not in entry or "sha256" not in entry:
            raise ManifestError(f"{mf}: files.{kind} needs 'path' and 'sha256'")
    return ModelManifest(root=mf.parent, name=_get(d, "name", str, mf), version=version, height=h, width=w,
                         scale=_get(d, "input.scale", float, mf), mean=tuple(mean), std=tuple(std), min_depth=lo,
                         max_depth=hi, canonical_focal_px=f, files=files, raw=d, geometry=geometry,
                         set_cameras=set_cameras, state_shape=state_shape)


def onnx_input_shape(path) -> list | None:
    """Declared shape of an ONNX model's first graph input (symbolic dims as strings); None without ``onnx``."""
    try:
        import onnx
    except ImportError:
        return None
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - protobuf raises DecodeError and friends for garbage
        raise ManifestError(f"model file {path} is not a readable ONNX model ({type(e).__name__}: "
                            f"{str(e).strip()[:200]})") from e
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if not inputs:
        raise ManifestError(f"model file {path} declares no graph input")
    dims = inputs[0].type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]


def check_model_files(m: ModelManifest) -> None:
    """Every file the manifest lists exists, matches its sha256, and (ONNX) takes the manifest's input size,
    whichever backend will load it: a folder whose files disagree with its manifest is refused as a whole."""
    for kind in m.files:
        path = m.verified_file(kind)
        if kind == "onnx":
            shape = onnx_input_shape(path)
            if shape is not None and (len(shape) != 4 or list(shape[1:]) != [m.channels, m.height, m.width]):
                raise ManifestError(f"model file {path} takes input {shape}, but the manifest says "
                                    f"{m.channels}x{m.height}x{m.width}")
