"""The interface every ranker shares, and its artifact folders.

Artifacts are a folder with ``weights.safetensors`` (tensors/arrays only) and
``metadata.json`` (model type, config, vocabularies, id maps). Nothing is pickled, so
loading an artifact can never execute code.
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from safetensors.numpy import load_file, save_file

from ..common.artifacts import ArtifactError, atomic_write
from ..common.matrix import top_k
from ..data import InteractionData, RecData, UserContext

WEIGHTS_FILE = "weights.safetensors"
METADATA_FILE = "metadata.json"


def write_artifact(path: str | Path, model_type: str, arrays: dict[str, np.ndarray], metadata: dict[str, Any]) -> Path:
    """A ranker's folder: tensors in safetensors, the rest in JSON, each file replaced atomically
    (the same rules as ``ml.common.artifacts``; this layout is the rankers' own, kept so that
    every version already on disk still loads)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    atomic_write(path / WEIGHTS_FILE, lambda tmp: save_file(arrays, tmp))
    text = json.dumps({"model_type": model_type, **metadata}, indent=1, sort_keys=True)
    atomic_write(path / METADATA_FILE, lambda tmp: Path(tmp).write_text(text))
    return path


def read_artifact(path: str | Path, model_type: str | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    path = Path(path)
    w, m = path / WEIGHTS_FILE, path / METADATA_FILE
    if not w.is_file() or not m.is_file():
        raise ArtifactError(f"artifact at {path} needs {WEIGHTS_FILE} and {METADATA_FILE}")
    try:
        meta = json.loads(m.read_text())
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{m}: unreadable metadata ({exc})") from exc
    if model_type is not None and meta.get("model_type") != model_type:
        raise ArtifactError(f"artifact at {path} is a {meta.get('model_type')!r} model, expected {model_type!r}")
    try:
        return load_file(str(w)), meta
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise ArtifactError(f"{w}: unreadable weights ({exc})") from exc


class Recommender(ABC):
    """fit / score / recommend / save / load.

    ``score(user, candidate_items)`` returns one float per candidate (higher = better);
    ``recommend`` is the shared top-K on top of it, so offline evaluation and serving rank
    with the same code.
    """

    name: str = "recommender"

    def fit(self, data: RecData, train: InteractionData | None = None) -> "Recommender":
        """Learn from ``train`` (default: all of ``data``'s interactions). Models trained by a
        separate trainer (xDeepFM: ``ml.training.transfer.fit_transfer``) do not implement it."""
        raise NotImplementedError(f"{type(self).__name__} is trained by its trainer, not by fit()")

    @abstractmethod
    def score(self, user: UserContext, candidate_items: np.ndarray) -> np.ndarray: ...

    def score_many(self, users: Sequence[UserContext], candidate_items: np.ndarray) -> np.ndarray:
        cands = np.asarray(candidate_items, dtype=np.int64)
        out = np.empty((len(users), len(cands)), dtype=np.float64)
        for i, u in enumerate(users):
            out[i] = self.score(u, cands)
        return out

    def recommend(
        self,
        user: UserContext,
        k: int,
        exclude: Sequence[int] | np.ndarray | None = None,
        candidates: np.ndarray | None = None,
    ) -> np.ndarray:
        """Top-``k`` item indices among ``candidates`` (default: the target catalog), minus ``exclude``."""
        cands = self.default_candidates() if candidates is None else np.asarray(candidates, dtype=np.int64)
        if exclude is not None and len(exclude):
            cands = cands[~np.isin(cands, np.asarray(exclude, dtype=np.int64))]
        scores = self.score(user, cands)
        return cands[top_k_indices(scores, k)]

    def default_candidates(self) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} needs explicit candidates")

    @abstractmethod
    def save(self, path: str | Path) -> Path: ...

    @classmethod
    @abstractmethod
    def load(cls, path: str | Path) -> "Recommender": ...


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k best scores, best first; ties broken by position (stable)."""
    return top_k(scores, k)[0]


def rank_many(scores: np.ndarray, candidates: np.ndarray, k: int) -> list[np.ndarray]:
    """Top-k candidate item indices per row of a (n_users, n_candidates) score matrix."""
    return [candidates[top_k_indices(row, k)] for row in scores]
