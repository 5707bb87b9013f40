"""Synthetic surround world written in the real nuScenes format, with exact dense depth."""
from .writer import PRESETS, SynthConfig, dense_depth_path, generate_dataset, load_dense_depth

__all__ = ["PRESETS", "SynthConfig", "dense_depth_path", "generate_dataset", "load_dense_depth"]
