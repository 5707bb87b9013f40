"""Export: torch program (.pt2) + ONNX + manifest.json, with parity checks; TensorRT engines on GPU machines."""
from .exporter import MANIFEST_VERSION, export_model, sha256_file

__all__ = ["MANIFEST_VERSION", "export_model", "sha256_file"]
