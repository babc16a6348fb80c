"""Rankers score every catalog row for one customer.

``ActiveRanker`` wraps the promoted model version (loaded once per process, swapped
atomically on promotion); ``PopularityContentRanker`` answers when no version is active
yet, and is the honest non-personalised fallback for unknown customers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .catalog import ServingCatalog
from .customers import CustomerContext


class Ranker(Protocol):
    version: str

    def score(self, catalog: ServingCatalog, ctx: CustomerContext, *, cart_rows: list[int], scenario: str) -> np.ndarray:
        """One score per catalog row (higher is better)."""
        ...


@dataclass(frozen=True)
class SparseScores:
    """A ranker's scores over a large catalogue without one float per row.

    ``values`` for ``rows`` (ascending, unique); every other row scores ``rest_scale *
    catalog.popularity_score[row]``, or, when ``rest_scale`` is None, is not scored at all
    (like a two-stage ranker's unretrieved rows). At 1M items each full-catalogue pass costs
    milliseconds (a score array, its shift, a top-k over every eligible row); ranking the
    listed rows and the head of ``catalog.popularity_order`` gives the same answer
    (``scenarios._rank_sparse`` proves it per request, or ranks ``dense()`` instead).
    """

    rows: np.ndarray
    values: np.ndarray
    rest_scale: float | None

    def rest(self, catalog: ServingCatalog, rows: np.ndarray) -> np.ndarray:
        return catalog.popularity_score[rows] * np.float32(self.rest_scale)

    def at(self, catalog: ServingCatalog, rows: np.ndarray) -> np.ndarray:
        """The scores of ``rows`` (each listed, or scored by the rest rule)."""
        rows = np.asarray(rows, np.int64)
        pos = np.minimum(np.searchsorted(self.rows, rows), max(len(self.rows) - 1, 0))
        listed = self.rows[pos] == rows if len(self.rows) else np.zeros(len(rows), bool)
        out = (self.rest(catalog, rows) if self.rest_scale is not None
               else np.full(len(rows), -np.inf, np.float32)).astype(self.values.dtype, copy=True)
        out[listed] = self.values[pos[listed]]
        return out

    def dense(self, catalog: ServingCatalog) -> np.ndarray:
        """One score per row: what the ranker's dense form returns."""
        return self.at(catalog, np.arange(len(catalog)))


MAX_SIMILARITY_ANCHORS = 8


def _anchor_rows(catalog: ServingCatalog, ctx: CustomerContext, cart_rows: list[int]) -> list[int]:
    rows = list(cart_rows) + [catalog.pk_row[h.item_pk] for h in ctx.history if h.item_pk in catalog.pk_row]
    # The cart and the most recent items say most; older ones add cost, not signal.
    return [r for r in rows if catalog.has_vector[r]][:MAX_SIMILARITY_ANCHORS]


def history_neighbours(catalog: ServingCatalog, ctx: CustomerContext, cart_rows: list[int]
                       ) -> tuple[np.ndarray, np.ndarray]:
    """A large catalogue's (rows, max cosine) near the customer's jewelry history / cart items:
    each anchor's nearest items by the index. Every other row counts as dissimilar (0), which
    is what it would almost always be."""
    rows = _anchor_rows(catalog, ctx, cart_rows)
    if not rows or catalog.anchor_neighbours is None:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    near, sims = catalog.anchor_neighbours.max_similarity(rows)  # near ascending
    sims = sims.copy()
    # An anchor is its own nearest item, whatever the index found. (searchsorted on the sorted
    # rows, not np.isin / setdiff1d: those sort again, ~0.5 ms a request for 8 anchors.)
    anchors = np.asarray(rows, np.int64)
    at = np.minimum(np.searchsorted(near, anchors), max(len(near) - 1, 0))
    present = near[at] == anchors if len(near) else np.zeros(len(anchors), bool)
    sims[at[present]] = 1.0
    missing = anchors[~present]
    if len(missing):
        near = np.concatenate([near, missing])
        sims = np.concatenate([sims, np.ones(len(missing), np.float32)])
        order = np.argsort(near, kind="stable")
        near, sims = near[order], sims[order]
    return near, sims


def history_similarity(catalog: ServingCatalog, ctx: CustomerContext, cart_rows: list[int]) -> np.ndarray:
    """Max cosine between each catalog item and the customer's jewelry history / cart items."""
    vectors = catalog.fast_vectors
    if vectors.shape[1] == 0:
        return np.zeros(len(catalog), np.float32)
    if catalog.anchor_neighbours is not None:
        out = np.zeros(len(catalog), np.float32)
        near, sims = history_neighbours(catalog, ctx, cart_rows)
        out[near] = sims
        return out
    rows = _anchor_rows(catalog, ctx, cart_rows)
    if not rows:
        return np.zeros(len(catalog), np.float32)
    # (anchors x n) then max over the few anchor rows: a row-wise max over a (n x 8) matrix
    # is several times slower.
    return (vectors[rows] @ vectors.T).max(axis=0)


POPULARITY_WEIGHT = np.float32(0.4)
SIMILARITY_WEIGHT = np.float32(0.6)


class PopularityContentRanker:
    version = "popularity-content"

    def score(self, catalog: ServingCatalog, ctx: CustomerContext, *, cart_rows: list[int], scenario: str) -> np.ndarray:
        sparse = self.score_sparse(catalog, ctx, cart_rows=cart_rows, scenario=scenario)
        if sparse is not None:
            return sparse.dense(catalog)
        popularity = catalog.popularity_score
        similarity = history_similarity(catalog, ctx, cart_rows)
        if not similarity.any():
            return popularity.copy()
        return POPULARITY_WEIGHT * popularity + SIMILARITY_WEIGHT * np.clip(similarity, 0.0, None)

    def score_sparse(self, catalog: ServingCatalog, ctx: CustomerContext, *, cart_rows: list[int],
                     scenario: str) -> SparseScores | None:
        """A large catalogue's scores as the anchors' neighbours over popularity (None for a
        small catalogue: every row is compared there, and a full pass costs microseconds)."""
        if catalog.anchor_neighbours is None:
            return None
        near, sims = history_neighbours(catalog, ctx, cart_rows)
        if not sims.any():
            return SparseScores(np.zeros(0, np.int64), np.zeros(0, np.float32), 1.0)
        values = POPULARITY_WEIGHT * catalog.popularity_score[near] + SIMILARITY_WEIGHT * np.clip(sims, 0.0, None)
        return SparseScores(near, values, float(POPULARITY_WEIGHT))


def similar_scores(catalog: ServingCatalog, row: int, eligible: np.ndarray, k: int) -> np.ndarray | SparseScores:
    """Cosine of each catalog row's full vector with ``row``'s, -1 where unknown.

    In a large catalog only the index's nearest eligible candidates are compared, and only they
    are scored (``SparseScores``), unless fewer than ``2 k`` of them are eligible (a type filter
    the neighbours do not match, member-only items): then every row is, as in a small one.
    """
    vectors = catalog.vectors
    if catalog.similar_neighbours is not None:
        near, _ = catalog.similar_neighbours.max_similarity([row])  # ascending rows
        near = near[eligible[near]]
        if len(near) >= 2 * k:
            return SparseScores(near, vectors[near] @ vectors[row], None)
    scores = vectors @ vectors[row]
    scores[~catalog.has_vector] = -1.0
    return scores
