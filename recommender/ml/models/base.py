"""The interface every ranker shares, and safe artifact I/O.

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

from ..data import InteractionData, RecData, UserContext

WEIGHTS_FILE = "weights.safetensors"
METADATA_FILE = "metadata.json"


class ArtifactError(ValueError):
    """An artifact folder is missing, incomplete or of the wrong model type."""


def write_artifact(path: str | Path, model_type: str, arrays: dict[str, np.ndarray], metadata: dict[str, Any]) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    # Write to temporary names first so a crash never leaves half an artifact behind.
    tmp_w, tmp_m = path / (WEIGHTS_FILE + ".tmp"), path / (METADATA_FILE + ".tmp")
    save_file(arrays, str(tmp_w))
    tmp_m.write_text(json.dumps({"model_type": model_type, **metadata}, indent=1, sort_keys=True))
    tmp_w.replace(path / WEIGHTS_FILE)
    tmp_m.replace(path / METADATA_FILE)
    return path


def read_artifact(path: str | Path, model_type: str | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    path = Path(path)
    w, m = path / WEIGHTS_FILE, path / METADATA_FILE
    if not w.is_file() or not m.is_file():
        raise ArtifactError(f"artifact at {path} needs {WEIGHTS_FILE} and {METADATA_FILE}")
    meta = json.loads(m.read_text())
    if model_type is not None and meta.get("model_type") != model_type:
        raise ArtifactError(f"artifact at {path} is a {meta.get('model_type')!r} model, expected {model_type!r}")
    return load_file(str(w)), meta


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
    scores = np.asarray(scores)
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k < len(scores):
        part = np.argpartition(-scores, k - 1)[:k]
        # stable tie-break on position so results are deterministic
        order = np.lexsort((part, -scores[part]))
        return part[order]
    return np.lexsort((np.arange(len(scores)), -scores))


def rank_many(scores: np.ndarray, candidates: np.ndarray, k: int) -> list[np.ndarray]:
    """Top-k candidate item indices per row of a (n_users, n_candidates) score matrix."""
    return [candidates[top_k_indices(row, k)] for row in scores]
