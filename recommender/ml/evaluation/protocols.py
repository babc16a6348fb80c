"""Run models on a protocol split and collect the numbers a report needs."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from ..data import RecData, UserContext
from ..models.base import Recommender, rank_many
from .metrics import ndcg_at_k, ranking_metrics
from .splits import ProtocolSplit


@dataclass
class ProtocolResult:
    protocol: str
    notes: str
    metrics: dict[str, dict[str, float | None]] = field(default_factory=dict)  # model -> metric -> value
    per_user_ndcg: dict[str, np.ndarray] = field(default_factory=dict)  # model -> ndcg@k per test user
    k: int = 10


def test_contexts(data: RecData, split: ProtocolSplit) -> list[UserContext]:
    """Scoring inputs for the test customers: history only, no user id (they are unseen)."""
    share = split.test_online_share if split.test_online_share is not None else np.full(split.n_test, np.nan)
    at = split.test_at if split.test_at is not None else np.zeros(split.n_test, np.int64)
    return [UserContext(history=h, tier=int(data.users.tier[u]),
                        online_share=None if np.isnan(s) else float(s), at=int(t) or None)
            for u, h, s, t in zip(split.test_users, split.test_histories, share, at)]


def evaluate_model(
    model: Recommender, data: RecData, split: ProtocolSplit, ks: Sequence[int] = (10, 20), k_main: int = 10
) -> tuple[dict[str, float | None], np.ndarray]:
    """Rank the FULL candidate catalog for every test customer; metrics + per-user NDCG@k_main."""
    users = test_contexts(data, split)
    scores = model.score_many(users, split.candidates)
    if split.exclude_history:
        scores = np.array(scores, dtype=np.float64)
        col = {int(c): j for j, c in enumerate(split.candidates)}
        for i, h in enumerate(split.test_histories):
            scores[i, [col[int(x)] for x in h if int(x) in col]] = -np.inf
    ranked = rank_many(scores, split.candidates, max(max(ks), k_main))
    metrics = ranking_metrics(ranked, split.test_relevant, split.candidates, split.cold_items(data), ks)
    metrics["n_test_users"] = len(users)
    per_user = np.array([ndcg_at_k(r, rel, k_main) for r, rel in zip(ranked, split.test_relevant)])
    return metrics, per_user


def evaluate_models(
    models: Mapping[str, Recommender], data: RecData, split: ProtocolSplit, ks: Sequence[int] = (10, 20), k_main: int = 10
) -> ProtocolResult:
    res = ProtocolResult(split.name, split.notes, k=k_main)
    for name, model in models.items():
        res.metrics[name], res.per_user_ndcg[name] = evaluate_model(model, data, split, ks, k_main)
    return res
