"""Cross-category transfer: pretrain on the source domain, fine-tune on the target domain.

Pretraining examples are leave-one-out on source purchases: for a customer with
several non-target items, one item is the target and the others are the history.
This teaches the shared fields (attribute embeddings, history item embeddings, the
item-vector projection, the CIN) how a history predicts the next item. Fine-tuning
examples have the cross-sell shape: history = the customer's non-target items,
target = a target-domain item they bought; negatives come from the target domain
only. Fine-tuning uses the lower ``finetune_lr`` and, with ``freeze_on_finetune``,
keeps the shared fields and the CIN frozen for the first ``freeze_epochs`` epochs so
the new target item embeddings settle before the transferred weights move.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..data import DatasetTooSmall, InteractionData, RecData, UserContext, item_counts, user_histories
from ..evaluation.metrics import ndcg_at_k, recall_at_k
from ..evaluation.splits import ProtocolSplit
from ..models.base import rank_many
from ..models.xdeepfm import XDeepFMRecommender
from .trainer import Examples, NegativeSampler, OnBatch, OnEpoch, Trainer


def _pad(histories: list[np.ndarray], weights: list[np.ndarray] | None, pad_item: int, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    n = len(histories)
    lmax = max(1, min(max_len, max((len(h) for h in histories), default=1)))
    hist = np.full((n, lmax), pad_item, np.int64)
    hw = np.zeros((n, lmax), np.float32)
    for i, h in enumerate(histories):
        h = h[-lmax:]
        hist[i, : len(h)] = h
        hw[i, : len(h)] = 1.0 if weights is None else weights[i][-lmax:]
    return hist, hw


def source_examples(data: RecData, train: InteractionData, *, targets_per_user: int, max_history: int,
                    max_examples: int, seed: int) -> Examples:
    """Leave-one-out examples on non-target items (customers with >= 2 distinct source items)."""
    is_src = ~data.items.is_target[train.item_idx]
    hists = user_histories(train.subset(is_src), len(data.users))
    rng = np.random.default_rng(seed)
    users, targets, histories = [], [], []
    for u, items in enumerate(hists):
        if len(items) < 2:
            continue
        picks = rng.choice(len(items), size=min(targets_per_user, len(items)), replace=False)
        for p in picks:
            users.append(u)
            targets.append(items[p])
            histories.append(np.delete(items, p))
    if len(users) > max_examples:
        keep = np.sort(rng.choice(len(users), size=max_examples, replace=False))
        users = [users[i] for i in keep]
        targets = [targets[i] for i in keep]
        histories = [histories[i] for i in keep]
    hist, hw = _pad(histories, None, len(data.items), max_history)
    users_a = np.asarray(users, np.int64)
    return Examples(hist, hw, np.asarray(targets, np.int64), data.users.tier[users_a] if len(users_a) else users_a, users_a)


def target_examples(data: RecData, train: InteractionData, *, max_history: int, history_domain: str = "source") -> Examples:
    """One example per (customer, target item bought): history = their source items ("source")
    or all their other items ("all")."""
    if history_domain not in ("source", "all"):
        raise ValueError(f"history_domain must be 'source' or 'all', got {history_domain!r}")
    is_tgt = data.items.is_target[train.item_idx]
    n_users = len(data.users)
    tgt_hist = user_histories(train.subset(is_tgt), n_users)
    ctx_hist = user_histories(train if history_domain == "all" else train.subset(~is_tgt), n_users)
    users, targets, histories = [], [], []
    for u in np.flatnonzero([len(t) > 0 for t in tgt_hist]):
        for t in tgt_hist[u]:
            users.append(u)
            targets.append(t)
            histories.append(ctx_hist[u][ctx_hist[u] != t])
    hist, hw = _pad(histories, None, len(data.items), max_history)
    users_a = np.asarray(users, np.int64)
    return Examples(hist, hw, np.asarray(targets, np.int64), data.users.tier[users_a] if len(users_a) else users_a, users_a)


def evaluate_split(model, split: ProtocolSplit, k: int = 10, tiers: np.ndarray | None = None) -> dict[str, float]:
    """Mean NDCG@k and Recall@k of any Recommender on a protocol split (full candidate set)."""
    users = [UserContext(history=h, tier=int(tiers[u]) if tiers is not None else 0) for u, h in zip(split.test_users, split.test_histories)]
    ranked = rank_many(model.score_many(users, split.candidates), split.candidates, k)
    return {
        f"ndcg@{k}": float(np.mean([ndcg_at_k(r, rel, k) for r, rel in zip(ranked, split.test_relevant)])),
        f"recall@{k}": float(np.mean([recall_at_k(r, rel, k) for r, rel in zip(ranked, split.test_relevant)])),
    }


def pretrain(model: XDeepFMRecommender, data: RecData, train: InteractionData, *, on_epoch: OnEpoch | None = None,
             on_batch: OnBatch | None = None) -> list[dict[str, Any]]:
    cfg = model.config
    if cfg.epochs_pretrain == 0:
        return []
    ex = source_examples(data, train, targets_per_user=cfg.pretrain_targets_per_user, max_history=cfg.max_history,
                         max_examples=cfg.max_pretrain_examples, seed=cfg.seed)
    if len(ex) < cfg.batch_size // 4 or len(ex) < 2:
        raise DatasetTooSmall(
            f"pretraining needs source-domain customers with at least 2 items; got {len(ex)} examples "
            f"(set epochs_pretrain=0 to train on the target domain only)"
        )
    src_items = np.flatnonzero(~data.items.is_target)
    sampler = NegativeSampler.for_domain(src_items, item_counts(train, len(data.items)), cfg.pretrain_negative_beta, ex.target)
    return Trainer(cfg, on_epoch, on_batch).run(model, ex, sampler, phase="pretrain", epochs=cfg.epochs_pretrain, lr=cfg.lr)


def finetune(model: XDeepFMRecommender, data: RecData, train: InteractionData, *, on_epoch: OnEpoch | None = None,
             validation: ProtocolSplit | None = None, history_domain: str = "source", lr: float | None = None,
             freeze: bool | None = None, on_batch: OnBatch | None = None) -> list[dict[str, Any]]:
    cfg = model.config
    if cfg.epochs_finetune == 0:
        return []
    ex = target_examples(data, train, max_history=cfg.max_history, history_domain=history_domain)
    if len(ex) < cfg.min_finetune_examples:
        raise DatasetTooSmall(
            f"fine-tuning needs at least {cfg.min_finetune_examples} target-domain interactions, got {len(ex)}"
        )
    sampler = NegativeSampler.for_domain(data.items.target_items, item_counts(train, len(data.items)),
                                         cfg.finetune_negative_beta, ex.target)
    freeze = cfg.freeze_on_finetune if freeze is None else freeze
    frozen = model.network().shared_parameters() if freeze else []
    validate: Callable[[], dict[str, float]] | None = None
    if validation is not None and validation.n_test:
        validate = lambda: {f"val_{k}": v for k, v in evaluate_split(model, validation, cfg.k, data.users.tier).items()}
    return Trainer(cfg, on_epoch, on_batch).run(
        model, ex, sampler, phase="finetune", epochs=cfg.epochs_finetune, lr=cfg.finetune_lr if lr is None else lr,
        freeze=frozen, freeze_epochs=cfg.freeze_epochs, validate=validate,
        monitor=f"val_ndcg@{cfg.k}" if validate else None,
    )


def fit_transfer(model: XDeepFMRecommender, data: RecData, train: InteractionData | None = None, *,
                 on_epoch: OnEpoch | None = None, validation: ProtocolSplit | None = None,
                 history_domain: str = "source", on_batch: OnBatch | None = None) -> list[dict[str, Any]]:
    """Build, pretrain (if ``epochs_pretrain`` > 0), then fine-tune. With no pretraining the
    fine-tune phase is the whole training ("scratch"): it uses ``lr`` and freezes nothing."""
    train = data.interactions if train is None else train
    model.build(data, train)
    records = pretrain(model, data, train, on_epoch=on_epoch, on_batch=on_batch)
    if model.config.prior_residual:
        # the fine-tuned model learns a residual over log-popularity (weight 1, fixed)
        model.network().set_item_prior(popularity_prior(train, len(data.items), model.config.prior_half_life_days), 1.0)
    scratch = model.config.epochs_pretrain == 0
    records += finetune(model, data, train, on_epoch=on_epoch, validation=validation, history_domain=history_domain,
                        lr=model.config.lr if scratch else None, freeze=False if scratch else None, on_batch=on_batch)
    if not model.config.prior_residual:
        records += fit_prior(model, data, train, validation=validation)
    model.history = records
    return records


PRIOR_BETAS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)


def popularity_prior(train: InteractionData, n_items: int, half_life_days: float) -> np.ndarray:
    """log(1 + recency-weighted purchase count) per item (each event weighs 0.5 ** (age / half-life))."""
    if len(train) == 0:
        return np.zeros(n_items, np.float32)
    age_days = (train.timestamp.max() - train.timestamp) / 86400.0
    w = train.weight * np.power(0.5, age_days / half_life_days)
    return np.log1p(np.bincount(train.item_idx, weights=w, minlength=n_items)).astype(np.float32)


def fit_prior(model: XDeepFMRecommender, data: RecData, train: InteractionData, *,
              validation: ProtocolSplit | None = None) -> list[dict[str, Any]]:
    """Set the popularity prior; its weight is ``config.prior_beta`` or, when that is None, the
    value of ``PRIOR_BETAS`` with the best validation NDCG@k (smallest on ties; 0 without validation)."""
    cfg, net = model.config, model.network()
    prior = popularity_prior(train, net.n_items, cfg.prior_half_life_days)
    if cfg.prior_beta is not None or validation is None or not validation.n_test:
        beta = 0.0 if cfg.prior_beta is None else float(cfg.prior_beta)
        net.set_item_prior(prior, beta)
        return [{"phase": "prior", "epoch": "chosen", "beta": beta}]
    records, best = [], (-np.inf, 0.0)
    for beta in PRIOR_BETAS:
        net.set_item_prior(prior, beta)
        m = evaluate_split(model, validation, cfg.k, data.users.tier)
        records.append({"phase": "prior", "epoch": f"beta={beta:g}", "beta": beta, **{f"val_{k}": v for k, v in m.items()}})
        if m[f"ndcg@{cfg.k}"] > best[0] + 1e-12:
            best = (m[f"ndcg@{cfg.k}"], beta)
    net.set_item_prior(prior, best[1])
    records.append({"phase": "prior", "epoch": "chosen", "beta": best[1], f"val_ndcg@{cfg.k}": best[0]})
    return records
