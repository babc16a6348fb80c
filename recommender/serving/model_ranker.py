"""The trained transfer ranker behind the serving ``Ranker`` interface, for versions trained
before the blend (their folder holds the xDeepFM alone; newer versions serve through
``blend_ranker``, with the transfer model as one of the blend's features).

Offline evaluation and serving call the same ``XDeepFMRecommender.score``; this adapter
only translates: catalog rows and the customer's request-time history into the model's
item indices. Jewelry added after training is scored from its attributes and multimodal
vector by a copy of the model that knows it (``extend_catalog``); the trained model is never
modified, and the copy is swapped in with the catalog snapshot it was built for.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

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


@dataclass(frozen=True)
class PreparedModel:
    """The model as mapped onto one catalog snapshot, replaced as one object so a request
    never mixes two catalogs: the model (the trained one, or a copy that also knows jewelry
    added since), its item index by external id, the catalog rows it scores and their model
    indices."""

    fingerprint: tuple | None
    model: XDeepFMRecommender
    index: dict[str, int]
    known: np.ndarray
    cands: np.ndarray


class ModelRanker:
    def __init__(self, version: ModelVersion, model: XDeepFMRecommender) -> None:
        self.version = version.name
        self.model = model  # as trained: never modified
        self._trained_index = {item_id: i for i, item_id in enumerate(model.item_ids)}
        self._prepared = PreparedModel(None, model, self._trained_index, np.zeros(0, np.int64), np.zeros(0, np.int64))
        self._lock = threading.Lock()

    @classmethod
    def load(cls, version: ModelVersion) -> "ModelRanker":
        if not version.artifact_dir:
            raise ValueError(f"Model version {version.name} has no artifacts.")
        model = XDeepFMRecommender.load(version.artifact_dir)
        model.net.eval()
        return cls(version, model)

    def _with_items(self, external_ids: list[str]) -> tuple[XDeepFMRecommender, dict[str, int]]:
        """The trained model plus the catalog's items it was not trained on (by external id)."""
        index = dict(self._trained_index)
        rows = list(Item.objects.filter(external_id__in=external_ids).values(
            "id", "external_id", "price", *ATTRIBUTE_FIELDS.values()))
        if not rows:
            return self.model, index
        names = self.model.attribute_names
        raw = item_attribute_values(rows)
        codes = attribute_codes_for({n: raw[n] for n in names if n in raw}, self.model.vocabularies)
        attrs = np.stack([codes.get(n, np.zeros(len(rows), np.int64)) for n in names], axis=1)
        vectors, mask = None, None
        if self.model.use_item_vector and self.model.net.use_item_vector:
            dim = int(self.model.net.item_vec.shape[1])
            vectors, mask, _ = item_vectors_for([r["id"] for r in rows], dim=dim)
        model, new = extend_catalog(self.model, [r["external_id"] for r in rows], attrs, vectors, mask)
        index.update({r["external_id"]: int(idx) for r, idx in zip(rows, new)})
        return model, index

    def prepare(self, catalog: ServingCatalog) -> None:
        """Map this catalog onto the model and cache its item side (once per snapshot)."""
        self.prepared_for(catalog)

    def prepared_for(self, catalog: ServingCatalog) -> PreparedModel:
        prepared = self._prepared
        if prepared.fingerprint != catalog.fingerprint:
            with self._lock:
                prepared = self._prepared
                if prepared.fingerprint != catalog.fingerprint:
                    missing = [eid for eid in catalog.external_ids if eid not in self._trained_index]
                    model, index = self._with_items(missing) if missing else (self.model, self._trained_index)
                    row_index = np.array([index.get(eid, -1) for eid in catalog.external_ids], np.int64)
                    known = np.flatnonzero(row_index >= 0)
                    cands = row_index[known]
                    # read-only and the same object for every request: the model recognises
                    # its item cache by identity (see XDeepFMRecommender.score_retrieved)
                    known.flags.writeable = False
                    cands.flags.writeable = False
                    # the item side is cached once per catalog, not per request
                    if len(cands):
                        model.prepare_candidates(cands)
                    prepared = self._prepared = PreparedModel(catalog.fingerprint, model, index, known, cands)
        return prepared

    def user_context(self, prepared: PreparedModel, ctx: CustomerContext, cart_ids: list[str]) -> UserContext:
        index = prepared.index
        # Histories are most recent first; the model reads them oldest first.
        hist = [(index.get(h.external_id), h.weight) for h in reversed(ctx.history)]
        hist = [(i, w) for i, w in hist if i is not None]
        n_tiers = self.model.net.tier_emb.num_embeddings
        return UserContext(
            history=np.array([i for i, _ in hist], np.int64),
            history_weight=np.array([w for _, w in hist], np.float32),
            tier=min(ctx.tier_rank, n_tiers - 1),
            # the transfer model is trained with one generic scenario (0); the field is kept for a
            # model that learns per-page embeddings
            scenario=0,
            cart=np.array([index[c] for c in cart_ids if c in index], np.int64),
        )

    def score(self, catalog: ServingCatalog, ctx: CustomerContext, *, cart_rows: list[int], scenario: str) -> np.ndarray:
        prepared = self.prepared_for(catalog)
        known, cands = prepared.known, prepared.cands
        scores = np.full(len(catalog), -np.inf, np.float32)
        if len(cands):
            user = self.user_context(prepared, ctx, [catalog.external_ids[r] for r in cart_rows])
            if len(cands) > RETRIEVAL_THRESHOLD:
                pos, values = prepared.model.score_retrieved(user, cands, n_retrieve=RETRIEVAL_N,
                                                             n_popular=RETRIEVAL_POPULAR)
                scores[known[pos]] = values
            else:
                scores[known] = prepared.model.score(user, cands)
        return scores
