"""The interface every ranker shares.

A ranker saves to a folder through ``ml.common.artifacts``: ``weights.safetensors``
(tensors/arrays only) and ``meta.json`` (kind, digest, config, vocabularies, id maps).
Nothing is pickled, so loading an artifact can never execute code.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Sequence

import numpy as np

from ..common.matrix import top_k
from ..data import InteractionData, RecData, UserContext


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
        return cands[top_k(scores, k)[0]]

    def default_candidates(self) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} needs explicit candidates")

    @abstractmethod
    def save(self, path: str | Path) -> Path: ...

    @classmethod
    @abstractmethod
    def load(cls, path: str | Path) -> "Recommender": ...


def rank_many(scores: np.ndarray, candidates: np.ndarray, k: int) -> list[np.ndarray]:
    """Top-k candidate item indices per row of a (n_users, n_candidates) score matrix."""
    return [candidates[top_k(row, k)[0]] for row in scores]
