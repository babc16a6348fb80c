"""Ranking metrics as small pure functions.

``ranked`` is one user's recommendation list (item indices, best first) and
``relevant`` the set of items that user really interacted with in the test period.
Per-user functions return a float; the ``mean_*`` helpers average over users and are
what reports show. Conventions (Cornac/RecBole style):

* Recall@K = |top-K ∩ relevant| / |relevant|
* HitRate@K = 1 if |top-K ∩ relevant| > 0 else 0
* NDCG@K  = DCG@K / IDCG@K with binary gains, DCG = Σ_{rank r (1-based) hit} 1/log2(r+1),
  IDCG = Σ_{r=1}^{min(K, |relevant|)} 1/log2(r+1)
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np


def _check(k: int) -> None:
    if k <= 0:
        raise ValueError(f"k must be a positive integer, got {k}")


def recall_at_k(ranked: Sequence[int], relevant: Iterable[int], k: int) -> float:
    _check(k)
    rel = set(int(x) for x in relevant)
    if not rel:
        return 0.0
    hits = sum(1 for x in list(ranked)[:k] if int(x) in rel)
    return hits / len(rel)


def hit_rate_at_k(ranked: Sequence[int], relevant: Iterable[int], k: int) -> float:
    _check(k)
    rel = set(int(x) for x in relevant)
    return float(any(int(x) in rel for x in list(ranked)[:k]))


def ndcg_at_k(ranked: Sequence[int], relevant: Iterable[int], k: int) -> float:
    _check(k)
    rel = set(int(x) for x in relevant)
    if not rel:
        return 0.0
    dcg = sum(1.0 / np.log2(r + 2) for r, x in enumerate(list(ranked)[:k]) if int(x) in rel)
    idcg = sum(1.0 / np.log2(r + 2) for r in range(min(k, len(rel))))
    return float(dcg / idcg)


def catalog_coverage(recommendations: Iterable[Sequence[int]], catalog: Iterable[int], k: int) -> float:
    """Share of the catalog that appears in at least one user's top-K."""
    _check(k)
    cat = set(int(x) for x in catalog)
    if not cat:
        return 0.0
    shown = {int(x) for rec in recommendations for x in list(rec)[:k]}
    return len(shown & cat) / len(cat)


def cold_recall_at_k(
    ranked_lists: Sequence[Sequence[int]], relevant_lists: Sequence[Iterable[int]], cold_items: Iterable[int], k: int
) -> float | None:
    """Recall@K counting only relevant items that are cold (no training interactions).

    Averaged over users who have at least one cold relevant item; ``None`` when no user has one.
    """
    _check(k)
    cold = set(int(x) for x in cold_items)
    values = []
    for ranked, relevant in zip(ranked_lists, relevant_lists):
        rel = set(int(x) for x in relevant) & cold
        if rel:
            values.append(recall_at_k(ranked, rel, k))
    return float(np.mean(values)) if values else None


def per_user(metric, ranked_lists: Sequence[Sequence[int]], relevant_lists: Sequence[Iterable[int]], k: int) -> np.ndarray:
    return np.array([metric(r, rel, k) for r, rel in zip(ranked_lists, relevant_lists)], dtype=np.float64)


def ranking_metrics(
    ranked_lists: Sequence[Sequence[int]],
    relevant_lists: Sequence[Iterable[int]],
    catalog: Iterable[int],
    cold_items: Iterable[int],
    ks: Sequence[int] = (10, 20),
) -> dict[str, float | None]:
    """The metric dict a report stores for one (protocol, model)."""
    out: dict[str, float | None] = {}
    catalog = list(catalog)
    cold_items = list(cold_items)
    for k in ks:
        out[f"recall@{k}"] = float(per_user(recall_at_k, ranked_lists, relevant_lists, k).mean())
        out[f"ndcg@{k}"] = float(per_user(ndcg_at_k, ranked_lists, relevant_lists, k).mean())
        out[f"hit_rate@{k}"] = float(per_user(hit_rate_at_k, ranked_lists, relevant_lists, k).mean())
        out[f"coverage@{k}"] = catalog_coverage(ranked_lists, catalog, k)
        out[f"cold_recall@{k}"] = cold_recall_at_k(ranked_lists, relevant_lists, cold_items, k)
    return out


def bootstrap_difference(
    a: np.ndarray, b: np.ndarray, n_resamples: int = 1000, seed: int = 0, alpha: float = 0.05
) -> dict[str, float]:
    """Paired bootstrap over users of mean(a) - mean(b) and of the relative improvement.

    ``a`` and ``b`` are per-user metric values of two models on the same users.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError("bootstrap needs two non-empty per-user arrays of the same length")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(n_resamples, len(a)))
    ma, mb = a[idx].mean(axis=1), b[idx].mean(axis=1)
    diff = ma - mb
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(mb > 0, diff / mb, np.nan)
    lo, hi = 100 * alpha / 2, 100 * (1 - alpha / 2)
    base = b.mean()
    return {
        "mean_a": float(a.mean()),
        "mean_b": float(base),
        "difference": float(a.mean() - base),
        "difference_ci_low": float(np.percentile(diff, lo)),
        "difference_ci_high": float(np.percentile(diff, hi)),
        "relative_improvement": float((a.mean() - base) / base) if base > 0 else float("nan"),
        "relative_ci_low": float(np.nanpercentile(rel, lo)) if np.isfinite(rel).any() else float("nan"),
        "relative_ci_high": float(np.nanpercentile(rel, hi)) if np.isfinite(rel).any() else float("nan"),
        "p_a_not_better": float(np.mean(diff <= 0)),
        "n_users": int(len(a)),
        "n_resamples": int(n_resamples),
    }
