"""The xDeepFM transfer ranker behind the ``Recommender`` interface: building it for a
dataset, scoring (batched, and one shopper at a time through ``xdeepfm_scorer``), saving
and loading, and growing its item table for items added after training. The network itself
(fields, factorised CIN, DNN) is in ``xdeepfm_net.py``; it is trained from outside by
``ml.training.transfer.fit_transfer``.
"""
from __future__ import annotations

import copy
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..config import TrainConfig
from ..data import ITEM_ATTRIBUTES, InteractionData, RecData, UserContext
from ..common.artifacts import load_artifact, save_artifact
from .base import Recommender
from .xdeepfm_net import UserBatch, XDeepFMNet
from .xdeepfm_scorer import SingleUserScorer

MODEL_TYPE = "xdeepfm"


class XDeepFMRecommender(Recommender):
    """The transfer ranker behind the Recommender interface.

    The model owns its network, loss inputs and scoring; it is trained from outside by
    :func:`recommender.ml.training.transfer.fit_transfer` (pretrain on the source domain,
    fine-tune on the target), so the model never imports its trainer. ``score`` works for
    any :class:`UserContext`, with or without a user id.
    """

    name = "xdeepfm"
    model_type = MODEL_TYPE

    def __init__(self, config: TrainConfig | None = None, *, use_item_vector: bool = True, name: str | None = None):
        self.config = config if config is not None else TrainConfig()
        self.use_item_vector = use_item_vector
        if name:
            self.name = name
        self.net: XDeepFMNet | None = None
        self.target_items = np.zeros(0, np.int64)
        self.item_ids: list[str] = []
        self.vocabularies: dict[str, list[str]] = {}
        self.attribute_names: list[str] = list(ITEM_ATTRIBUTES)
        self.history: list[dict[str, Any]] = []
        self.device = torch.device("cpu")
        # (single-user scorer, the read-only candidate array it was last asked for): one
        # tuple, replaced in one assignment, so a thread never pairs a scorer with another's array
        self._serving: tuple[SingleUserScorer, np.ndarray | None] | None = None

    # ---- construction ----------------------------------------------------------
    def build(self, data: RecData, train: InteractionData | None = None) -> "XDeepFMRecommender":
        cfg = self.config
        items = data.items
        self.item_ids = items.ids.tolist()
        self.vocabularies = {k: list(v) for k, v in items.vocabularies.items()}
        self.target_items = items.target_items.astype(np.int64)
        torch.manual_seed(cfg.seed)
        self.net = XDeepFMNet(
            n_items=len(items),
            attr_vocab_sizes=items.vocab_sizes(self.attribute_names),
            vector_dim=items.vector_dim if self.use_item_vector else 0,
            n_tiers=max(data.n_tiers, 1),
            n_scenarios=cfg.n_scenarios,
            embed_dim=cfg.embed_dim,
            cin_layers=cfg.cin_layers,
            dnn_layers=cfg.dnn_layers,
            dropout=cfg.dropout,
            use_item_vector=self.use_item_vector,
            user_id_buckets=cfg.user_id_buckets,
        )
        train = data.interactions if train is None else train
        known = np.zeros(len(items), bool)
        known[train.item_idx] = True
        self.net.set_item_features(items.attribute_matrix(self.attribute_names), items.vectors, items.vector_mask, known)
        return self

    def default_candidates(self) -> np.ndarray:
        return self.target_items

    # ---- scoring ---------------------------------------------------------------
    def network(self) -> XDeepFMNet:
        if self.net is None:
            raise RuntimeError("xDeepFM model is not built or fitted yet")
        return self.net

    @torch.inference_mode()
    def score_many(self, users: Sequence[UserContext], candidate_items: np.ndarray, user_chunk: int = 16) -> np.ndarray:
        net = self.network()
        net.eval()
        cands = np.asarray(candidate_items, dtype=np.int64)
        if len(cands) and (cands.min() < 0 or cands.max() >= net.n_items):
            raise ValueError(f"candidate item indices must be in [0, {net.n_items})")
        items_t = torch.from_numpy(cands).to(self.device)
        xi, lin_i = net.item_fields(items_t)  # computed once for all users
        out = np.empty((len(users), len(cands)), dtype=np.float32)
        for start in range(0, len(users), user_chunk):
            chunk = users[start : start + user_chunk]
            ub = UserBatch.from_contexts(chunk, net.pad, self.config.max_history).to(self.device)
            out[start : start + len(chunk)] = net.pair_scores(net.user_fields(ub), xi, lin_i).cpu().numpy()
        return out

    def score(self, user: UserContext, candidate_items: np.ndarray) -> np.ndarray:
        """One customer against the candidates, through the single-user scorer: its item side
        is built for the first candidate set and reused for that set and any subset of it."""
        cands = np.asarray(candidate_items, dtype=np.int64)
        if len(cands) == 0:
            return np.zeros(0, np.float32)
        net = self.network()
        if cands.min() < 0 or cands.max() >= net.n_items:
            raise ValueError(f"candidate item indices must be in [0, {net.n_items})")
        scorer, pos = (self._serving or (None, None))[0], None
        if scorer is not None and scorer.fingerprint == net.fingerprint():
            if not (len(scorer.items) == len(cands) and np.array_equal(scorer.items, cands)):
                pos = scorer.pos[cands]
                if (pos < 0).any():
                    scorer, pos = None, None
        else:
            scorer = None
        if scorer is None:
            scorer = self._scorer_build(cands)
        return scorer.score(scorer.user_fields(user), pos)

    def score_two_stage(self, user: UserContext, candidate_items: np.ndarray, *, n_retrieve: int = 1000,
                        n_popular: int = 100) -> np.ndarray:
        """For large catalogs: retrieve ``n_retrieve`` candidates cheaply (see
        ``SingleUserScorer.retrieve``), rank only those; the others score -inf."""
        cands = np.asarray(candidate_items, dtype=np.int64)
        if len(cands) <= n_retrieve:
            return self.score(user, cands)
        pos, scores = self.score_retrieved(user, cands, n_retrieve=n_retrieve, n_popular=n_popular)
        out = np.full(len(cands), -np.inf, np.float32)
        out[pos] = scores
        return out

    def score_retrieved(self, user: UserContext, candidate_items: np.ndarray, *, n_retrieve: int,
                        n_popular: int) -> tuple[np.ndarray, np.ndarray]:
        """The two-stage scorer's sparse answer: (positions in ``candidate_items``, their scores)."""
        scorer = self._scorer_for(candidate_items)
        u = scorer.user_fields(user)
        pos = scorer.retrieve(u, n_retrieve, n_popular)
        return pos, scorer.score(u, pos)

    def prepare_candidates(self, candidate_items: np.ndarray) -> None:
        """Build the scorer for a candidate universe now (serving calls this when the
        catalog changes, so the first request does not pay for it)."""
        self._scorer_for(candidate_items)

    def _scorer_for(self, candidate_items: np.ndarray) -> SingleUserScorer:
        """The scorer for exactly ``candidate_items``. Serving passes the same read-only array
        on every request: it is recognised by identity instead of comparing ~100k indices."""
        net = self.network()
        scorer, source = self._serving or (None, None)
        if scorer is not None and source is candidate_items and not candidate_items.flags.writeable \
                and scorer.fingerprint == net.fingerprint():
            return scorer
        cands = np.asarray(candidate_items, dtype=np.int64)
        if len(cands) and (cands.min() < 0 or cands.max() >= net.n_items):
            raise ValueError(f"candidate item indices must be in [0, {net.n_items})")
        if not (scorer is not None and scorer.fingerprint == net.fingerprint() and len(scorer.items) == len(cands)
                and np.array_equal(scorer.items, cands)):
            scorer = self._scorer_build(cands)
        self._serving = (scorer, candidate_items)
        return scorer

    def _scorer_build(self, cands: np.ndarray) -> SingleUserScorer:
        net = self.network()
        if net.training:
            net.eval()
        scorer = SingleUserScorer(net, cands, max_history=self.config.max_history)
        self._serving = (scorer, None)
        return scorer

    # ---- artifacts -------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        net = self.network()
        arrays = {k: v.detach().cpu().contiguous().numpy() for k, v in net.state_dict().items()}
        arrays["target_items"] = self.target_items
        meta = {
            "name": self.name,
            "config": asdict(self.config),
            "use_item_vector": self.use_item_vector,
            "n_items": net.n_items,
            "vector_dim": int(net.item_vec.shape[1]) if net.use_item_vector else 0,
            "attr_vocab_sizes": [e.num_embeddings for e in net.attr_emb],
            "n_tiers": net.tier_emb.num_embeddings,
            "attribute_names": self.attribute_names,
            "vocabularies": self.vocabularies,
            "item_ids": self.item_ids,
            "history": self.history,
        }
        save_artifact(path, self.model_type, arrays, meta)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "XDeepFMRecommender":
        arrays, meta = load_artifact(path, MODEL_TYPE)
        cfg = TrainConfig.from_dict(meta["config"])
        m = cls(cfg, use_item_vector=meta["use_item_vector"], name=meta.get("name"))
        m.item_ids, m.vocabularies = meta["item_ids"], meta["vocabularies"]
        m.attribute_names, m.history = meta["attribute_names"], meta.get("history", [])
        m.target_items = arrays.pop("target_items").astype(np.int64)
        m.net = XDeepFMNet(
            n_items=meta["n_items"], attr_vocab_sizes=meta["attr_vocab_sizes"], vector_dim=meta["vector_dim"],
            n_tiers=meta["n_tiers"], n_scenarios=cfg.n_scenarios, embed_dim=cfg.embed_dim, cin_layers=cfg.cin_layers,
            dnn_layers=cfg.dnn_layers, dropout=cfg.dropout, use_item_vector=meta["use_item_vector"],
            user_id_buckets=cfg.user_id_buckets,
        )
        state = {k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}
        # artifacts written before the popularity prior existed score without one
        state.setdefault("item_prior", torch.zeros(meta["n_items"] + 1))
        state.setdefault("prior_beta", torch.zeros(()))
        m.net.load_state_dict(state, strict=True)
        m.net.invalidate_cache()
        m.net.eval()
        return m


def extend_catalog(
    model: XDeepFMRecommender,
    ids: Sequence[str],
    attributes: np.ndarray,
    vectors: np.ndarray | None = None,
    vector_mask: np.ndarray | None = None,
) -> tuple[XDeepFMRecommender, np.ndarray]:
    """A copy of ``model`` that also knows items it was not trained on, and their indices.

    New items have no id embedding (they use the "unknown item" row, as cold items do in
    training): they are scored from their attributes and item vector alone. ``attributes``
    are codes in the model's vocabularies (0 = unknown). The trained model is left untouched
    (a request scoring with it meanwhile never sees half-grown tables); serving swaps the
    copy in with the catalog snapshot it was built for.
    """
    m = len(ids)
    if m == 0:
        return model, np.zeros(0, np.int64)
    grown_model = copy.copy(model)
    grown_model.net = net = copy.deepcopy(model.network())
    grown_model._serving = None  # the copy builds its own single-user scorer
    n_old = net.n_items
    attributes = np.asarray(attributes, np.int64).reshape(m, net.n_attr)
    attr = np.concatenate([net.item_attr[:n_old].cpu().numpy(), attributes])
    known = np.concatenate([net.item_id_known[:n_old].cpu().numpy(), np.zeros(m, bool)])
    if net.use_item_vector:
        d = net.item_vec.shape[1]
        new_vec = np.zeros((m, d), np.float32) if vectors is None else np.asarray(vectors, np.float32).reshape(m, d)
        new_mask = np.zeros(m, bool) if vector_mask is None else np.asarray(vector_mask, bool)
        vec = np.concatenate([net.item_vec[:n_old].cpu().numpy(), new_vec])
        mask = np.concatenate([net.item_vec_mask[:n_old].cpu().numpy(), new_mask])
    else:
        vec, mask = None, None
    with torch.no_grad():
        for name in ("item_id_emb", "item_id_lin", "hist_id_emb"):
            old = getattr(net, name)
            grown = nn.Embedding(n_old + m + 1, old.embedding_dim).to(old.weight.device)
            grown.weight[: n_old + 1] = old.weight
            grown.weight[n_old + 1 :] = old.weight[0]  # row 0 is the "unknown item" row
            setattr(net, name, grown)
    prior = np.concatenate([net.item_prior[:n_old].cpu().numpy(), np.zeros(m, np.float32)])  # new items: no sales yet
    net.n_items = n_old + m
    net.pad = net.n_items
    net.set_item_features(attr, vec, mask, known)
    net.set_item_prior(prior, float(net.prior_beta))
    net.eval()
    grown_model.item_ids = list(model.item_ids) + [str(i) for i in ids]
    return grown_model, np.arange(n_old, n_old + m, dtype=np.int64)
