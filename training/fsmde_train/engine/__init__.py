"""Training engine: typed config with YAML overrides, trainer with atomic checkpoints and resume."""
from .config import TrainConfig, load_config

__all__ = ["TrainConfig", "load_config"]
