"""Training engine: typed config with YAML overrides, DDP trainer with AMP, atomic checkpoints, TensorBoard."""
from .config import TrainConfig, load_config, resolve_scenes

__all__ = ["TrainConfig", "load_config", "resolve_scenes"]
