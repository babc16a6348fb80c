"""Rankers score every catalog row for one customer.

``ActiveRanker`` wraps the promoted model version (loaded once per process, swapped
atomically on promotion); ``PopularityContentRanker`` answers when no version is active
yet, and is the honest non-personalised fallback for unknown customers.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from .catalog import ServingCatalog
from .customers import CustomerContext


class Ranker(Protocol):
    version: str

    def score(self, catalog: ServingCatalog, ctx: CustomerContext, *, cart_rows: list[int], scenario: str) -> np.ndarray:
        """One score per catalog row (higher is better)."""
        ...


MAX_SIMILARITY_ANCHORS = 8


def _normalise(values: np.ndarray) -> np.ndarray:
    values = values.astype(np.float64)
    span = values.max() - values.min() if len(values) else 0.0
    return (values - values.min()) / span if span > 0 else np.zeros_like(values)


def history_similarity(catalog: ServingCatalog, ctx: CustomerContext, cart_rows: list[int]) -> np.ndarray:
    """Max cosine between each catalog item and the customer's jewelry history / cart items."""
    vectors = catalog.fast_vectors
    if vectors.shape[1] == 0:
        return np.zeros(len(catalog))
    rows = list(cart_rows) + [catalog.pk_row[h.item_pk] for h in ctx.history if h.item_pk in catalog.pk_row]
    # The cart and the most recent items say most; older ones add cost, not signal.
    rows = [r for r in rows if catalog.has_vector[r]][:MAX_SIMILARITY_ANCHORS]
    if not rows:
        return np.zeros(len(catalog))
    sims = vectors @ vectors[rows].T
    return sims.max(axis=1)


class PopularityContentRanker:
    version = "popularity-content"

    def score(self, catalog: ServingCatalog, ctx: CustomerContext, *, cart_rows: list[int], scenario: str) -> np.ndarray:
        popularity = _normalise(np.log1p(catalog.popularity))
        similarity = history_similarity(catalog, ctx, cart_rows)
        if not similarity.any():
            return popularity
        return 0.4 * popularity + 0.6 * np.clip(similarity, 0.0, None)
