"""Process-wide encoder instances for the Django side (jobs and serving).

Loading an encoder costs seconds; each process loads each one once, on first use.
"""
from __future__ import annotations

import threading
from functools import lru_cache

from django.conf import settings

_lock = threading.Lock()


def _configure_torch() -> None:
    import torch

    if settings.JEWELREC_TORCH_THREADS > 0:
        torch.set_num_threads(settings.JEWELREC_TORCH_THREADS)


@lru_cache(maxsize=1)
def image_encoder():
    from recommender.ml.encoders.image import ImageEncoder

    with _lock:
        _configure_torch()
        return ImageEncoder()


def text_encoder(name: str | None = None):
    """The encoder for fused item vectors (``JEWELREC_TEXT_ENCODER``) or a named one."""
    from recommender.ml.encoders.text import get_text_encoder

    with _lock:
        _configure_torch()
        return get_text_encoder(name or settings.JEWELREC_TEXT_ENCODER, cached=True)


def search_text_encoder():
    """Search always uses the multilingual encoder: Chinese queries must find English items."""
    return text_encoder(settings.JEWELREC_SEARCH_TEXT_ENCODER)
