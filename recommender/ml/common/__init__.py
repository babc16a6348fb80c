"""Small pure helpers shared by the ML core: device choice, safe artifacts, matrix search."""
from .artifacts import ArtifactError, load_artifact, save_artifact, tensors_digest
from .device import select_device
from .matrix import l2_normalize, top_k, top_k_rows, top_k_unordered

__all__ = [
    "ArtifactError",
    "l2_normalize",
    "load_artifact",
    "save_artifact",
    "select_device",
    "tensors_digest",
    "top_k",
    "top_k_rows",
    "top_k_unordered",
]
