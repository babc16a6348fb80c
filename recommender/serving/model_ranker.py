"""The trained transfer ranker behind the serving ``Ranker`` interface, for versions trained
before the blend (their folder holds the xDeepFM alone; newer versions serve through
``blend_ranker``, with the transfer model as one of the blend's features).

Offline evaluation and serving call the same ``XDeepFMRecommender.score``; this adapter
only translates: catalog rows and the customer's request-time history into the model's
item indices. Jewelry added after training is appended to the model's item table from
its attributes and multimodal vector, so new items score without retraining.
"""
from __future__ import annotations

import threading

import numpy as np

from recommender.ml.data import UserContext, attribute_codes_for
from recommender.ml.models.xdeepfm import XDeepFMRecommender, extend_catalog
from recommender.models import Item, ModelVersion
from recommender.catalog.features import ATTRIBUTE_FIELDS, item_attribute_values, item_vectors_for

from .catalog import ServingCatalog
from .customers import CustomerContext

# Above this many candidates the ranker scores only a retrieved subset (p99 budget of the API):
# 100 nearest by the model's own item projection (from its inner-product index at 100k items)
# plus the 100 with the highest learned prior. The scorer's cost grows with this number. On
# the 100k-item benchmark (bench/retrieval_quality.py, docs/benchmarks.md) the served top 10
# held 78.0% of the full model's top 10 with 200 candidates through the index, 78.3% with
# 300 (index or exact scan alike), for ~0.3 ms less ranking per request; the 100 popular
# ones matter most (200 with 60 of them: 53.8%).
RETRIEVAL_THRESHOLD = 5000
RETRIEVAL_N = 200
RETRIEVAL_POPULAR = 100


class ModelRanker:
    def __init__(self, version: ModelVersion, model: XDeepFMRecommender) -> None:
        self.version = version.name
        self.model = model
        self.index = {item_id: i for i, item_id in enumerate(model.item_ids)}
        # (catalog fingerprint, catalog rows the model knows, their model indices): replaced as
        # one tuple, so a request never mixes two catalogs.
        self._prepared: tuple[tuple | None, np.ndarray, np.ndarray] = (None, np.zeros(0, np.int64), np.zeros(0, np.int64))
        self._lock = threading.Lock()

    @classmethod
    def load(cls, version: ModelVersion) -> "ModelRanker":
        if not version.artifact_dir:
            raise ValueError(f"Model version {version.name} has no artifacts.")
        model = XDeepFMRecommender.load(version.artifact_dir)
        model.net.eval()
        return cls(version, model)

    def _extend(self, external_ids: list[str]) -> None:
        """Append unknown items (by external id) to the model's table."""
        rows = list(Item.objects.filter(external_id__in=external_ids).values(
            "id", "external_id", "price", *ATTRIBUTE_FIELDS.values()))
        if not rows:
            return
        names = self.model.attribute_names
        raw = item_attribute_values(rows)
        codes = attribute_codes_for({n: raw[n] for n in names if n in raw}, self.model.vocabularies)
        attrs = np.stack([codes.get(n, np.zeros(len(rows), np.int64)) for n in names], axis=1)
        vectors, mask = None, None
        if self.model.use_item_vector and self.model.net.use_item_vector:
            dim = int(self.model.net.item_vec.shape[1])
            vectors, mask, _ = item_vectors_for([r["id"] for r in rows], dim=dim)
        new = extend_catalog(self.model, [r["external_id"] for r in rows], attrs, vectors, mask)
        for r, idx in zip(rows, new):
            self.index[r["external_id"]] = int(idx)

    def prepare(self, catalog: ServingCatalog) -> None:
        """Map this catalog onto the model and cache its item side (once per snapshot)."""
        self._rows(catalog)

    def _rows(self, catalog: ServingCatalog) -> tuple[tuple | None, np.ndarray, np.ndarray]:
        prepared = self._prepared
        if prepared[0] != catalog.fingerprint:
            with self._lock:
                prepared = self._prepared
                if prepared[0] != catalog.fingerprint:
                    missing = [eid for eid in catalog.external_ids if eid not in self.index]
                    if missing:
                        self._extend(missing)
                    row_index = np.array([self.index.get(eid, -1) for eid in catalog.external_ids], np.int64)
                    known = np.flatnonzero(row_index >= 0)
                    cands = row_index[known]
                    # read-only and the same object for every request: the model recognises
                    # its item cache by identity (see XDeepFMRecommender.score_retrieved)
                    known.flags.writeable = False
                    cands.flags.writeable = False
                    # the item side is cached once per catalog, not per request
                    if len(cands):
                        self.model.prepare_candidates(cands)
                    prepared = self._prepared = (catalog.fingerprint, known, cands)
        return prepared

    def user_context(self, ctx: CustomerContext, cart_ids: list[str], scenario: str) -> UserContext:
        # Histories are most recent first; the model reads them oldest first.
        hist = [(self.index.get(h.external_id), h.weight) for h in reversed(ctx.history)]
        hist = [(i, w) for i, w in hist if i is not None]
        n_tiers = self.model.net.tier_emb.num_embeddings
        return UserContext(
            history=np.array([i for i, _ in hist], np.int64),
            history_weight=np.array([w for _, w in hist], np.float32),
            tier=min(ctx.tier_rank, n_tiers - 1),
            # the transfer model is trained with one generic scenario (0); the field is kept for a
            # model that learns per-page embeddings
            scenario=0,
            cart=np.array([self.index[c] for c in cart_ids if c in self.index], np.int64),
        )

    def score(self, catalog: ServingCatalog, ctx: CustomerContext, *, cart_rows: list[int], scenario: str) -> np.ndarray:
        _, known, cands = self._rows(catalog)
        scores = np.full(len(catalog), -np.inf, np.float32)
        if len(cands):
            user = self.user_context(ctx, [catalog.external_ids[r] for r in cart_rows], scenario)
            if len(cands) > RETRIEVAL_THRESHOLD:
                pos, values = self.model.score_retrieved(user, cands, n_retrieve=RETRIEVAL_N, n_popular=RETRIEVAL_POPULAR)
                scores[known[pos]] = values
            else:
                scores[known] = self.model.score(user, cands)
        return scores
