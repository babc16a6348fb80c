"""Where published artefacts live on disk: one home, read by the side that writes them
(training, embeddings) and the side that reads them (serving)."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings

HEURISTIC_PREFIX = "heuristic-blend"
# Folders inside a model version's folder: the blend that serves, and the transfer model
# whose score is one of its features.
BLEND_DIR = "blend"
TRANSFER_DIR = "transfer"


def artifact_root() -> Path:
    return Path(settings.JEWELREC_ARTIFACT_DIR)


def heuristic_root() -> Path:
    """Builds of the heuristic blend, and the CURRENT.json pointer to the published one."""
    return artifact_root() / "heuristic"


def model_version_root() -> Path:
    return artifact_root() / "models"


def fusion_root() -> Path:
    """Fitted fusion models (photo + text + attributes -> 512-d), and the pointer to the current one."""
    return artifact_root() / "fusion"


def image_adapter_root() -> Path:
    """Trained jewelry image adapters, and the pointer to the current one."""
    return artifact_root() / "image-adapter"


def ann_root() -> Path:
    """Nearest-neighbour indexes over catalogue vectors, one folder per vectors' digest."""
    return artifact_root() / "ann"


def mapped_root() -> Path:
    """Large arrays shared by every serving process through a memory-mapped file, one folder
    per array's digest (a large catalogue's vectors)."""
    return artifact_root() / "mapped"
