"""Baselines that every evaluation runs next to the transfer model.

All score the target domain only (default candidates = the target catalog) and need no
user id: they read the customer's history from :class:`UserContext`, so test customers
unseen in training are handled the same way as by the ranker.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from ..data import InteractionData, RecData, UserContext
from ..common.artifacts import load_artifact, save_artifact
from ..common.matrix import top_k
from .base import Recommender

# Tiny weight of the popularity prior used to break ties (e.g. an empty history) in the
# personalised baselines, so they never fall back to arbitrary catalog order.
TIE_BREAK = 1e-6


def _train_of(data: RecData, train: InteractionData | None) -> InteractionData:
    return data.interactions if train is None else train


def _user_item_matrix(train: InteractionData, n_users: int, n_items: int, binary: bool = True) -> sparse.csr_matrix:
    vals = np.ones(len(train), np.float32) if binary else train.weight
    m = sparse.csr_matrix((vals, (train.user_idx, train.item_idx)), shape=(n_users, n_items), dtype=np.float32)
    m.sum_duplicates()
    if binary:
        m.data[:] = 1.0
    return m


class _TargetDomainModel(Recommender):
    def __init__(self) -> None:
        self.target_items = np.zeros(0, dtype=np.int64)
        self.n_items = 0

    def default_candidates(self) -> np.ndarray:
        return self.target_items

    def _set_domain(self, data: RecData) -> None:
        self.target_items = data.items.target_items.astype(np.int64)
        self.n_items = len(data.items)

    def _base_meta(self) -> dict[str, Any]:
        return {"name": self.name, "n_items": self.n_items}

    def _base_arrays(self) -> dict[str, np.ndarray]:
        return {"target_items": self.target_items}

    def _restore_base(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.target_items = arrays["target_items"].astype(np.int64)
        self.n_items = int(meta["n_items"])
        self.name = meta.get("name", self.name)


class PopularityRecommender(_TargetDomainModel):
    """Most interacted-with items first (event weights summed)."""

    name = "popularity"
    model_type = "popularity"

    def __init__(self) -> None:
        super().__init__()
        self.item_scores = np.zeros(0)

    def fit(self, data: RecData, train: InteractionData | None = None) -> "PopularityRecommender":
        train = _train_of(data, train)
        self._set_domain(data)
        self.item_scores = self._item_weights(train, len(data.items))
        return self

    def _item_weights(self, train: InteractionData, n_items: int) -> np.ndarray:
        return np.bincount(train.item_idx, weights=train.weight, minlength=n_items).astype(np.float64)

    def score(self, user: UserContext, candidate_items: np.ndarray) -> np.ndarray:
        return self.item_scores[np.asarray(candidate_items, dtype=np.int64)]

    def score_many(self, users, candidate_items):
        row = self.score(UserContext(), candidate_items)
        return np.tile(row, (len(users), 1))

    def save(self, path: str | Path) -> Path:
        save_artifact(path, self.model_type, {**self._base_arrays(), "item_scores": self.item_scores}, self._base_meta())
        return Path(path)

    @classmethod
    def load(cls, path: str | Path):
        arrays, meta = load_artifact(path, cls.model_type)
        m = cls.__new__(cls)
        _TargetDomainModel.__init__(m)
        m._restore_base(arrays, meta)
        m.item_scores = arrays["item_scores"]
        return m


class RecencyPopularityRecommender(PopularityRecommender):
    """Popularity where each event counts ``0.5 ** (age_days / half_life_days)`` relative to the newest event."""

    name = "recency_popularity"
    model_type = "recency_popularity"

    def __init__(self, half_life_days: float = 2.0) -> None:
        super().__init__()
        if half_life_days <= 0:
            raise ValueError(f"half_life_days must be > 0, got {half_life_days}")
        self.half_life_days = half_life_days

    def _item_weights(self, train: InteractionData, n_items: int) -> np.ndarray:
        if len(train) == 0:
            return np.zeros(n_items)
        age_days = (train.timestamp.max() - train.timestamp) / 86400.0
        w = train.weight * np.power(0.5, age_days / self.half_life_days)
        return np.bincount(train.item_idx, weights=w, minlength=n_items).astype(np.float64)


class ItemKNNRecommender(_TargetDomainModel):
    """Cross-category co-purchase: "customers who bought this garment bought this jewelry".

    sim(i, j) = |customers who bought i and j| / (n_i^alpha * n_j^(1 - alpha)) for any item i
    and target item j; score(user, j) = Σ_{i in history} sim(i, j), plus a tiny popularity
    prior for ties.
    """

    name = "item_knn"
    model_type = "item_knn"

    def __init__(self, alpha: float = 0.5) -> None:
        super().__init__()
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.alpha = alpha
        self.sim = sparse.csr_matrix((0, 0))
        self.popularity = np.zeros(0)

    def fit(self, data: RecData, train: InteractionData | None = None) -> "ItemKNNRecommender":
        train = _train_of(data, train)
        self._set_domain(data)
        x = _user_item_matrix(train, len(data.users), len(data.items))
        n = np.asarray(x.sum(axis=0)).ravel()
        co = (x.T @ x[:, self.target_items]).tocsr()  # items x target items
        # an item never co-occurs with itself as a recommendation
        co = co.tocoo()
        keep = self.target_items[co.col] != co.row
        row, col, val = co.row[keep], co.col[keep], co.data[keep]
        val = val / (np.power(n[row], self.alpha) * np.power(n[self.target_items[col]], 1 - self.alpha))
        self.sim = sparse.csr_matrix((val, (row, col)), shape=(len(data.items), len(self.target_items)))
        self.popularity = n[self.target_items].astype(np.float64)
        return self

    def _full_scores(self, history: np.ndarray) -> np.ndarray:
        s = np.asarray(self.sim[history].sum(axis=0)).ravel() if len(history) else np.zeros(len(self.target_items))
        return s + TIE_BREAK * self.popularity / max(1.0, self.popularity.max())

    def score(self, user: UserContext, candidate_items: np.ndarray) -> np.ndarray:
        full = self._full_scores(user.history[user.history < self.sim.shape[0]])
        pos = np.searchsorted(self.target_items, candidate_items)
        pos = np.clip(pos, 0, len(self.target_items) - 1)
        ok = self.target_items[pos] == candidate_items
        return np.where(ok, full[pos], -np.inf)

    def save(self, path: str | Path) -> Path:
        s = self.sim.tocsr()
        arrays = {
            **self._base_arrays(),
            "sim_indptr": s.indptr.astype(np.int64),
            "sim_indices": s.indices.astype(np.int64),
            "sim_data": s.data.astype(np.float64),
            "popularity": self.popularity,
        }
        save_artifact(path, self.model_type, arrays, {**self._base_meta(), "alpha": self.alpha, "sim_shape": list(s.shape)})
        return Path(path)

    @classmethod
    def load(cls, path: str | Path):
        arrays, meta = load_artifact(path, cls.model_type)
        m = cls(alpha=meta["alpha"])
        m._restore_base(arrays, meta)
        m.sim = sparse.csr_matrix((arrays["sim_data"], arrays["sim_indices"], arrays["sim_indptr"]), shape=tuple(meta["sim_shape"]))
        m.popularity = arrays["popularity"]
        return m


class ALSRecommender(_TargetDomainModel):
    """Implicit-feedback ALS (``implicit`` package, CPU) fitted on all allowed interactions.

    Customers are folded in at scoring time from their history (the closed-form
    least-squares user step of Hu et al.), so unseen customers need no refit and no id.
    """

    name = "als"
    model_type = "als"

    def __init__(self, factors: int = 64, regularization: float = 0.05, iterations: int = 15, alpha: float = 20.0,
                 num_threads: int = 2, seed: int = 0) -> None:
        super().__init__()
        self.factors, self.regularization, self.iterations = factors, regularization, iterations
        self.alpha, self.num_threads, self.seed = alpha, num_threads, seed
        self.item_factors = np.zeros((0, factors), np.float32)

    def fit(self, data: RecData, train: InteractionData | None = None) -> "ALSRecommender":
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        train = _train_of(data, train)
        self._set_domain(data)
        x = _user_item_matrix(train, len(data.users), len(data.items), binary=False)
        x.data = 1.0 + self.alpha * x.data
        # implicit's own threads do the work; a second BLAS thread pool would oversubscribe the cores
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=self.factors, regularization=self.regularization, iterations=self.iterations,
                alpha=1.0, num_threads=self.num_threads, random_state=self.seed, calculate_training_loss=False,
            )
            model.fit(x, show_progress=False)
        self.item_factors = np.asarray(model.item_factors, dtype=np.float32)
        self._yty = self.item_factors.T @ self.item_factors
        return self

    def user_vector(self, user: UserContext) -> np.ndarray:
        h = user.history[user.history < len(self.item_factors)]
        if len(h) == 0:
            return np.zeros(self.item_factors.shape[1], np.float32)
        w = user.history_weight[user.history < len(self.item_factors)]
        conf = 1.0 + self.alpha * w
        y = self.item_factors[h].astype(np.float64)
        a = self._yty + (y.T * (conf - 1.0)) @ y + self.regularization * np.eye(y.shape[1])
        b = (y.T * conf).sum(axis=1)
        return np.linalg.solve(a, b).astype(np.float32)

    def score(self, user: UserContext, candidate_items: np.ndarray) -> np.ndarray:
        return self.item_factors[np.asarray(candidate_items, np.int64)] @ self.user_vector(user)

    def save(self, path: str | Path) -> Path:
        meta = {**self._base_meta(), "factors": self.factors, "regularization": self.regularization,
                "iterations": self.iterations, "alpha": self.alpha, "seed": self.seed}
        save_artifact(path, self.model_type, {**self._base_arrays(), "item_factors": self.item_factors}, meta)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path):
        arrays, meta = load_artifact(path, cls.model_type)
        m = cls(factors=meta["factors"], regularization=meta["regularization"], iterations=meta["iterations"],
                alpha=meta["alpha"], seed=meta["seed"])
        m._restore_base(arrays, meta)
        m.item_factors = arrays["item_factors"]
        m._yty = m.item_factors.T @ m.item_factors
        return m


class ContentRecommender(_TargetDomainModel):
    """Content only: cosine of the mean history item vector with each item's vector."""

    name = "content"
    model_type = "content"

    def __init__(self) -> None:
        super().__init__()
        self.vectors = np.zeros((0, 0), np.float32)
        self.mask = np.zeros(0, bool)
        self.popularity = np.zeros(0)

    def fit(self, data: RecData, train: InteractionData | None = None) -> "ContentRecommender":
        if data.items.vectors is None:
            raise ValueError("content baseline needs item vectors (ItemTable.vectors)")
        train = _train_of(data, train)
        self._set_domain(data)
        v = data.items.vectors.astype(np.float32)
        norm = np.linalg.norm(v, axis=1, keepdims=True)
        self.vectors = np.where(norm > 0, v / np.maximum(norm, 1e-12), 0.0).astype(np.float32)
        self.mask = data.items.vector_mask.copy()
        self.popularity = np.bincount(train.item_idx, minlength=len(data.items)).astype(np.float64)
        return self

    def user_vector(self, user: UserContext) -> np.ndarray:
        h = user.history[user.history < len(self.vectors)]
        h = h[self.mask[h]]
        if len(h) == 0:
            return np.zeros(self.vectors.shape[1], np.float32)
        return self.vectors[h].mean(axis=0)

    def score(self, user: UserContext, candidate_items: np.ndarray) -> np.ndarray:
        c = np.asarray(candidate_items, np.int64)
        pop = self.popularity[c] / max(1.0, self.popularity.max())
        return self.vectors[c] @ self.user_vector(user) + TIE_BREAK * pop

    def save(self, path: str | Path) -> Path:
        arrays = {**self._base_arrays(), "vectors": self.vectors, "mask": self.mask.astype(np.uint8), "popularity": self.popularity}
        save_artifact(path, self.model_type, arrays, self._base_meta())
        return Path(path)

    @classmethod
    def load(cls, path: str | Path):
        arrays, meta = load_artifact(path, cls.model_type)
        m = cls()
        m._restore_base(arrays, meta)
        m.vectors, m.mask, m.popularity = arrays["vectors"], arrays["mask"].astype(bool), arrays["popularity"]
        return m


class DotProductRetriever:
    """Candidate generation for large catalogs: mean history vector . item vectors, top-N.

    ``retrieve(user, n)`` returns item indices of the target catalog; the ranker then scores
    only those. Items without a vector are appended by popularity so new items stay reachable.
    """

    def __init__(self, vectors: np.ndarray, mask: np.ndarray, candidates: np.ndarray, popularity: np.ndarray | None = None):
        v = np.asarray(vectors, np.float32)
        norm = np.linalg.norm(v, axis=1, keepdims=True)
        self.vectors = np.where(norm > 0, v / np.maximum(norm, 1e-12), 0.0).astype(np.float32)
        self.mask = np.asarray(mask, bool)
        self.candidates = np.asarray(candidates, np.int64)
        self.popularity = np.zeros(len(v)) if popularity is None else np.asarray(popularity, np.float64)
        self._cand_vecs = self.vectors[self.candidates]

    def retrieve(self, user: UserContext, n: int) -> np.ndarray:
        h = user.history[(user.history < len(self.vectors))]
        h = h[self.mask[h]]
        pop = self.popularity[self.candidates] / max(1.0, self.popularity.max())
        if len(h) == 0:
            scores = pop
        else:
            scores = self._cand_vecs @ self.vectors[h].mean(axis=0) + TIE_BREAK * pop
            scores = np.where(self.mask[self.candidates], scores, -1e9 + pop)
        return self.candidates[top_k(scores, n)[0]]


BASELINES: dict[str, type[Recommender]] = {
    "popularity": PopularityRecommender,
    "recency_popularity": RecencyPopularityRecommender,
    "item_knn": ItemKNNRecommender,
    "als": ALSRecommender,
    "content": ContentRecommender,
}
