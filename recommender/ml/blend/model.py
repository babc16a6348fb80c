"""The blend: candidate sources (``signals``) and, optionally, the transfer model's score,
combined log-linearly with weights learned on training customers (``tuning``).

One weight vector per shopper shape: ``intent`` (a history that may hold jewelry: home,
feed, member pages) and ``cross_sell`` (a basket of other things). The weights, the
scales and every table belong to the saved version; offline evaluation and serving call the
same ``score`` and ``explain``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from scipy import sparse

from ..data import InteractionData, RecData, UserContext
from ..common.artifacts import load_artifact, save_artifact
from ..models.base import Recommender
from .signals import SOURCES, SignalTables

MODEL_TYPE = "blend"
TRANSFER = "transfer"
SHAPES = ("intent", "cross_sell")
# Scores an (n_users, n_candidates) block of item indices for the transfer feature.
TransferScorer = Callable[[Sequence[UserContext], np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Explanation:
    """Why an item is in a shopper's list: the source that contributed most, and the shopper's
    own item behind it (``None`` for the popularity sources)."""

    source: str
    evidence_item: int | None


def default_weights(with_transfer: bool = False) -> dict[str, dict[str, float]]:
    """The untuned blend (the heuristic served before any training run, and where tuning
    starts): channel popularity, with what the shopper touched weighing more than it. A shopper
    who looks at rings now wants rings now, however well necklaces sell."""
    w = {"channel_popularity": 1.0, "trending": 0.1, "co_jewelry": 1.0, "co_purchase": 0.2,
         "department_affinity": 0.1, "colour_match": 0.2, "segment_affinity": 0.2, "price_affinity": 0.1,
         "type_affinity": 1.5, "colour_affinity": 0.5, "content": 1.0}
    if with_transfer:
        w[TRANSFER] = 0.0
    return {shape: dict(w) for shape in SHAPES}


class BlendRecommender(Recommender):
    name = "blend"
    model_type = MODEL_TYPE

    def __init__(self, weights: dict[str, dict[str, float]] | None = None, *, half_life_days: float = 1.0,
                 shrink: float = 5.0, name: str | None = None) -> None:
        self.weights = weights or default_weights()
        self.half_life_days = half_life_days
        self.shrink = shrink
        self.tables: SignalTables | None = None
        self.scales: dict[str, float] = {s: 1.0 for s in (*SOURCES, TRANSFER)}
        self.transfer: TransferScorer | None = None
        self.item_ids: list[str] = []
        self.shape = "intent"  # which weights ``score`` uses; serving picks per scenario
        self.tuning: dict[str, Any] = {}
        if name:
            self.name = name

    # ---- fitting ---------------------------------------------------------------------------
    def fit(self, data: RecData, train: InteractionData | None = None) -> "BlendRecommender":
        train = data.interactions if train is None else train
        self.tables = SignalTables.fit(data, train, shrink=self.shrink, half_life_days=self.half_life_days)
        self.item_ids = data.items.ids.tolist()
        return self

    def require(self) -> SignalTables:
        if self.tables is None:
            raise RuntimeError("the blend is not fitted yet")
        return self.tables

    def with_transfer(self, scorer: TransferScorer | None) -> "BlendRecommender":
        """Use the transfer model's scores as one more feature (weight from tuning)."""
        self.transfer = scorer
        return self

    def for_shape(self, shape: str) -> "BlendRecommender":
        """A view of this blend that scores with ``shape``'s weights (same tables)."""
        if shape not in SHAPES:
            raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")
        view = object.__new__(BlendRecommender)
        view.__dict__.update(self.__dict__)
        view.shape = shape
        return view

    def default_candidates(self) -> np.ndarray:
        return self.require().targets

    # ---- features --------------------------------------------------------------------------
    def feature_names(self) -> tuple[str, ...]:
        return (*SOURCES, TRANSFER) if self.transfer is not None else SOURCES

    def features_many(self, users: Sequence[UserContext],
                      cand: np.ndarray | None = None) -> tuple[np.ndarray, list[list[np.ndarray]]]:
        """(n_users, n_candidates, n_features) scaled features over the target positions
        ``cand`` (default: all targets), plus evidence."""
        tables = self.require()
        pos = tables.target_position()
        names = self.feature_names()
        n = len(tables.targets) if cand is None else len(cand)
        out = np.zeros((len(users), n, len(names)), np.float32)
        evidence = []
        for i, u in enumerate(users):
            f, ev = tables.features(u, pos, cand)
            out[i, :, : len(SOURCES)] = f
            evidence.append(ev)
        if self.transfer is not None and len(users):
            items = tables.targets if cand is None else tables.targets[cand]
            t = np.asarray(self.transfer(users, items), np.float32)
            # per shopper, centred: the transfer score's level differs between shoppers, its
            # order among items is what it knows
            out[:, :, len(SOURCES)] = t - t.mean(axis=1, keepdims=True)
        scale = np.array([self.scales.get(n, 1.0) for n in names], np.float32)
        return out / scale, evidence

    def fit_scales(self, users: Sequence[UserContext]) -> "BlendRecommender":
        """One scale per source (its standard deviation over these shoppers and every target),
        so that weights compare sources on one footing."""
        self.scales = {n: 1.0 for n in self.feature_names()}
        if users:
            feats, _ = self.features_many(users)
            std = feats.reshape(-1, feats.shape[2]).std(axis=0)
            self.scales = {n: float(v) if v > 1e-6 else 1.0 for n, v in zip(self.feature_names(), std)}
        return self

    def weight_vector(self, shape: str | None = None) -> np.ndarray:
        w = self.weights[shape or self.shape]
        return np.array([w.get(n, 0.0) for n in self.feature_names()], np.float32)

    # ---- Recommender interface -------------------------------------------------------------
    def score_many(self, users: Sequence[UserContext], candidate_items: np.ndarray) -> np.ndarray:
        tables = self.require()
        feats, _ = self.features_many(users)
        full = feats @ self.weight_vector()
        pos = tables.target_position()
        cands = np.asarray(candidate_items, np.int64)
        out = np.full((len(users), len(cands)), -np.inf, np.float64)
        ok = (cands >= 0) & (cands < tables.n_items)
        ok[ok] = pos[cands[ok]] >= 0
        out[:, ok] = full[:, pos[cands[ok]]]
        return out

    def score(self, user: UserContext, candidate_items: np.ndarray) -> np.ndarray:
        return self.score_many([user], candidate_items)[0]

    def explain(self, user: UserContext, items: Sequence[int]) -> list[Explanation]:
        """Per item (an item index), the source that put it highest for this shopper."""
        tables = self.require()
        pos = tables.target_position()
        feats, evidence = self.features_many([user])
        rows = [int(pos[i]) if 0 <= i < tables.n_items else -1 for i in items]
        return self.explain_rows(feats[0], evidence[0], rows)

    def explain_rows(self, feats: np.ndarray, evidence: list[np.ndarray], rows: Sequence[int]) -> list[Explanation]:
        """The explanation of each of ``rows`` of one shopper's scaled features (-1: an item the
        blend does not know, explained by popularity): the source whose weighted value is
        largest, with the shopper's item behind it. Serving explains with this too."""
        contrib = feats * self.weight_vector()[None, :]
        names = self.feature_names()
        out = []
        for r in rows:
            s = int(np.argmax(contrib[r])) if r >= 0 else -1
            if s < 0 or contrib[r, s] <= 0:
                out.append(Explanation("channel_popularity", None))
                continue
            ev = int(evidence[s][r]) if s < len(SOURCES) else -1
            out.append(Explanation(names[s], ev if ev >= 0 else None))
        return out

    # ---- persistence -----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        t = self.require()
        arrays = {
            "targets": t.targets, "counts": t.counts, "dept_of": t.dept_of, "dept_lift": t.dept_lift,
            "shade_of": t.shade_of, "colour_lift": t.colour_lift,
            "group_of": t.group_of, "section_of": t.section_of, "segment_lift": t.segment_lift,
            "price_of": t.price_of, "price_lift": t.price_lift,
            "type_of": t.type_of, "colour_of": t.colour_of, "vectors": t.vectors,
            "popular": t.popular, "type_top": t.type_top, "colour_top": t.colour_top,
        }
        for name in ("co_jewelry", "co_purchase"):
            m: sparse.csr_matrix = getattr(t, name)
            arrays[f"{name}.indptr"], arrays[f"{name}.indices"], arrays[f"{name}.data"] = m.indptr, m.indices, m.data
        meta = {
            "name": self.name, "weights": self.weights, "scales": self.scales, "half_life_days": self.half_life_days,
            "shrink": self.shrink, "n_items": t.n_items, "first_day": t.first_day, "online_share": t.online_share,
            "co_purchase_rows": t.co_purchase.shape[0], "item_ids": self.item_ids, "tuning": self.tuning,
        }
        save_artifact(path, self.model_type, arrays, meta)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "BlendRecommender":
        arrays, meta = load_artifact(path, MODEL_TYPE)
        m = cls(meta["weights"], half_life_days=meta["half_life_days"], shrink=meta["shrink"], name=meta.get("name"))
        m.scales = {k: float(v) for k, v in meta["scales"].items()}
        m.item_ids, m.tuning = list(meta["item_ids"]), meta.get("tuning", {})
        n_t = len(arrays["targets"])

        def csr(name: str, rows: int) -> sparse.csr_matrix:
            return sparse.csr_matrix((arrays[f"{name}.data"], arrays[f"{name}.indices"], arrays[f"{name}.indptr"]),
                                     shape=(rows, n_t))

        m.tables = SignalTables(
            targets=arrays["targets"].astype(np.int64), n_items=int(meta["n_items"]), first_day=int(meta["first_day"]),
            counts=arrays["counts"], online_share=float(meta["online_share"]), co_jewelry=csr("co_jewelry", n_t),
            co_purchase=csr("co_purchase", int(meta["co_purchase_rows"])), dept_of=arrays["dept_of"].astype(np.int64),
            dept_lift=arrays["dept_lift"], shade_of=arrays["shade_of"].astype(np.int64), colour_lift=arrays["colour_lift"],
            group_of=arrays["group_of"].astype(np.int64),
            section_of=arrays["section_of"].astype(np.int64), segment_lift=arrays["segment_lift"],
            price_of=arrays["price_of"].astype(np.int64), price_lift=arrays["price_lift"], type_of=arrays["type_of"].astype(np.int64),
            colour_of=arrays["colour_of"].astype(np.int64), vectors=arrays["vectors"],
            popular=arrays["popular"].astype(np.int64), type_top=arrays["type_top"].astype(np.int64),
            colour_top=arrays["colour_top"].astype(np.int64), half_life_days=float(meta["half_life_days"]),
        )
        return m
