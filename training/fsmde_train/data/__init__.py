"""Datasets over nuScenes-format roots (the real nuScenes or the synthetic world), through the real devkit."""
from .sampler import StepBatchSampler
from .surround import BATCH_KEYS, SurroundDataset, SurroundSample

__all__ = ["BATCH_KEYS", "StepBatchSampler", "SurroundDataset", "SurroundSample"]
