"""The blend behind the serving ``Ranker`` interface, with the reason for each item.

Offline evaluation and serving call the same ``BlendRecommender`` features and weights;
this adapter only translates: the customer's request-time history and channel into the
blend's item indices, and the blend's jewelry back onto catalog rows. Jewelry added after
the blend was fitted has no sales in its tables: it is scored from its photo/text vector
against what the shopper touched (the content source), which is how new items get in.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recommender.ml.blend.model import TRANSFER, BlendRecommender
from recommender.ml.data import UserContext

from .catalog import ServingCatalog
from .customers import CustomerContext
from .rankers import history_similarity

SHAPE_OF_SCENARIO = {"cross_sell": "cross_sell"}  # every other scenario reads a history: "intent"
# Above this many jewels a request scores only the shopper's candidates, read from the blend's
# precomputed lists (best sellers per channel, type and colour; neighbours of their items),
# not every jewel: the per-request cost then stays flat as the catalog grows.
CANDIDATE_THRESHOLD = 5000


@dataclass(frozen=True)
class Reason:
    """Why a row is in a list: the source, and the shopper's own item behind it (if any)."""

    source: str
    evidence_pk: int | None = None


class BlendRanker:
    def __init__(self, name: str, blend: BlendRecommender, transfer=None) -> None:
        self.version = name
        self.blend = blend
        if transfer is not None and any(w.get(TRANSFER, 0.0) for w in blend.weights.values()):
            blend.with_transfer(transfer.score_many)
        self.index = {item_id: i for i, item_id in enumerate(blend.item_ids)}
        self._pos = blend.require().target_position()
        # (catalog fingerprint, catalog row per blend target or -1, rows the blend does not know)
        self._prepared: tuple[tuple | None, np.ndarray, np.ndarray] = (None, np.zeros(0, np.int64), np.zeros(0, np.int64))
        self._lock = threading.Lock()
        # score() and explain() of one request share one feature computation
        self._last = threading.local()

    @classmethod
    def load(cls, name: str, folder: str | Path, transfer_folder: str | Path | None = None) -> "BlendRanker":
        blend = BlendRecommender.load(folder)
        transfer = None
        if transfer_folder is not None and Path(transfer_folder).is_dir() and \
                any(w.get(TRANSFER, 0.0) for w in blend.weights.values()):
            from recommender.ml.models.xdeepfm import XDeepFMRecommender

            transfer = XDeepFMRecommender.load(transfer_folder)
        return cls(name, blend, transfer)

    # ---- catalog mapping ---------------------------------------------------------------------
    def prepare(self, catalog: ServingCatalog) -> None:
        self._rows(catalog)

    def _rows(self, catalog: ServingCatalog) -> tuple[tuple | None, np.ndarray, np.ndarray]:
        prepared = self._prepared
        if prepared[0] != catalog.fingerprint:
            with self._lock:
                prepared = self._prepared
                if prepared[0] != catalog.fingerprint:
                    targets = self.blend.require().targets
                    row_of_target = np.array([catalog.row_of.get(self.blend.item_ids[t], -1) for t in targets], np.int64)
                    known = np.zeros(len(catalog), bool)
                    known[row_of_target[row_of_target >= 0]] = True
                    prepared = self._prepared = (catalog.fingerprint, row_of_target, np.flatnonzero(~known))
        return prepared

    def user_context(self, ctx: CustomerContext, cart_ids: list[str]) -> UserContext:
        # Histories are most recent first; the blend reads them oldest first.
        hist = [(self.index.get(h.external_id), h.weight) for h in reversed(ctx.history)]
        hist = [(i, w) for i, w in hist if i is not None]
        return UserContext(
            history=np.array([i for i, _ in hist], np.int64),
            history_weight=np.array([w for _, w in hist], np.float32),
            cart=np.array([self.index[c] for c in cart_ids if c in self.index], np.int64),
            online_share=ctx.online_share,
            at=int(time.time()),
        )

    # ---- scoring -------------------------------------------------------------------------------
    def _shape(self, scenario: str) -> BlendRecommender:
        return self.blend.for_shape(SHAPE_OF_SCENARIO.get(scenario, "intent"))

    def _features(self, catalog: ServingCatalog, ctx: CustomerContext, cart_rows: list[int], scenario: str):
        """The shape's view, the catalog row of each scored target (-1: not in the catalog),
        the catalog rows the blend does not know, and the features and evidence."""
        key = (catalog.fingerprint, tuple(cart_rows), scenario)
        last = getattr(self._last, "value", None)
        if last is not None and last[0] is ctx and last[1] == key:
            return last[2]
        result = self._compute(catalog, ctx, cart_rows, scenario)
        self._last.value = (ctx, key, result)
        return result

    def _compute(self, catalog: ServingCatalog, ctx: CustomerContext, cart_rows: list[int], scenario: str):
        _, row_of_target, unknown = self._rows(catalog)
        user = self.user_context(ctx, [catalog.external_ids[r] for r in cart_rows])
        view = self._shape(scenario)
        cand = None
        if len(row_of_target) > CANDIDATE_THRESHOLD:
            cand = self.blend.require().candidates(user, self._pos)
            row_of_target = row_of_target[cand]
        feats, evidence = view.features_many([user], cand)
        return view, row_of_target, unknown, feats[0], evidence[0]

    def score(self, catalog: ServingCatalog, ctx: CustomerContext, *, cart_rows: list[int], scenario: str) -> np.ndarray:
        """One score per catalog row; rows outside a large catalog's candidates are -inf."""
        view, row_of_target, unknown, feats, _ = self._features(catalog, ctx, cart_rows, scenario)
        weights = view.weight_vector()
        scores = np.full(len(catalog), -np.inf, np.float32)
        ok = row_of_target >= 0
        scores[row_of_target[ok]] = feats[ok] @ weights
        if len(unknown):
            scores[unknown] = self._unknown_scores(view, catalog, ctx, cart_rows, unknown)
        return scores

    def _unknown_scores(self, view: BlendRecommender, catalog: ServingCatalog, ctx: CustomerContext,
                        cart_rows: list[int], unknown: np.ndarray) -> np.ndarray:
        """Rows the blend was not fitted with: no sales, so only the content source speaks."""
        w = view.weights[view.shape].get("content", 0.0) / view.scales.get("content", 1.0)
        sim = history_similarity(catalog, ctx, cart_rows)[unknown]
        # a new item ranks like an item nobody bought, plus how close it is to what they touched
        return (w * np.clip(sim, 0.0, None)).astype(np.float32)

    def explain(self, catalog: ServingCatalog, ctx: CustomerContext, rows: list[int], *, cart_rows: list[int],
                scenario: str) -> dict[int, Reason]:
        """Per shown row, the source that contributed most for this shopper, with its evidence."""
        view, row_of_target, _, feats, evidence = self._features(catalog, ctx, cart_rows, scenario)
        target_of_row = {int(r): t for t, r in enumerate(row_of_target.tolist()) if r >= 0}
        known = [row for row in rows if int(row) in target_of_row]
        why = view.explain_rows(feats, evidence, [target_of_row[int(row)] for row in known])
        pk_of_index = {self.index.get(h.external_id): h.item_pk for h in ctx.history}
        pk_of_index.update({self.index.get(catalog.external_ids[r]): int(catalog.item_pk[r]) for r in cart_rows})
        out = {row: Reason(e.source, pk_of_index.get(e.evidence_item)) for row, e in zip(known, why)}
        for row in rows:  # jewelry the blend was not fitted with: only the content path scored it
            out.setdefault(row, Reason("content" if ctx.history or cart_rows else "new"))
        return out
