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


def history_similarity(catalog: ServingCatalog, ctx: CustomerContext, cart_rows: list[int]) -> np.ndarray:
    """Max cosine between each catalog item and the customer's jewelry history / cart items.

    In a large catalog only each anchor's nearest items (the index's answer) are compared;
    the rest count as dissimilar (0), which is what they would almost all be.
    """
    vectors = catalog.fast_vectors
    if vectors.shape[1] == 0:
        return np.zeros(len(catalog), np.float32)
    rows = list(cart_rows) + [catalog.pk_row[h.item_pk] for h in ctx.history if h.item_pk in catalog.pk_row]
    # The cart and the most recent items say most; older ones add cost, not signal.
    rows = [r for r in rows if catalog.has_vector[r]][:MAX_SIMILARITY_ANCHORS]
    if not rows:
        return np.zeros(len(catalog), np.float32)
    if catalog.anchor_neighbours is not None:
        out = np.zeros(len(catalog), np.float32)
        near, sims = catalog.anchor_neighbours.max_similarity(rows)
        out[near] = sims
        out[rows] = 1.0  # an anchor is its own nearest item, whatever the index found
        return out
    # (anchors x n) then max over the few anchor rows: a row-wise max over a (n x 8) matrix
    # is several times slower.
    return (vectors[rows] @ vectors.T).max(axis=0)


class PopularityContentRanker:
    version = "popularity-content"

    def score(self, catalog: ServingCatalog, ctx: CustomerContext, *, cart_rows: list[int], scenario: str) -> np.ndarray:
        popularity = catalog.popularity_score
        similarity = history_similarity(catalog, ctx, cart_rows)
        if not similarity.any():
            return popularity.copy()
        return 0.4 * popularity + 0.6 * np.clip(similarity, 0.0, None)


# Candidates a large catalog's similar-items answer reads from the index before it ranks them
# by the full vectors: a scan of 100k x 512 floats (200 MB) per request was its whole cost.
SIMILAR_CANDIDATES = 400


def similar_scores(catalog: ServingCatalog, row: int, eligible: np.ndarray, k: int) -> np.ndarray:
    """Cosine of each catalog row's full vector with ``row``'s, -1 where unknown.

    In a large catalog only the index's nearest candidates are compared (the rest count -1,
    like items without a vector), unless fewer than ``2 k`` of them are eligible (a type
    filter the neighbours do not match, member-only items): then every row is, as in a small one.
    """
    vectors = catalog.vectors
    if catalog.similarity_index is not None:
        near, _ = catalog.similarity_index.search(catalog.fast_vectors[row], SIMILAR_CANDIDATES)
        near = near[0][near[0] >= 0]
        near = near[eligible[near]]
        if len(near) >= 2 * k:
            scores = np.full(len(catalog), -1.0, np.float32)
            scores[near] = vectors[near] @ vectors[row]
            return scores
    scores = vectors @ vectors[row]
    scores[~catalog.has_vector] = -1.0
    return scores
