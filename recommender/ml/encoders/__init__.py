"""Pretrained encoders (image, text), attribute encoding, fusion and the image adapter.

Imports are lazy so that `from recommender.ml.encoders import AttributeEncoder` does not
pay for loading torch models or transformers.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "ImageEncoder": "image",
    "ImageDecodeError": "image",
    "load_image": "image",
    "preprocess_image": "image",
    "TextEncoder": "text",
    "MultilingualTextEncoder": "text",
    "get_text_encoder": "text",
    "AttributeEncoder": "attributes",
    "FusionModel": "fusion",
    "FusedVectors": "fusion",
    "ImageAdapter": "adaptation",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
