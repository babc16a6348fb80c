"""The training loop: Adam, epochs, mini-batches, early stopping, NaN check, callbacks.

The trainer owns the loop; the model owns its loss (:meth:`Trainer` calls
``sampled_softmax_loss`` on the model's logits) and its scoring. Progress goes to
``on_epoch(phase, epoch, loss, metrics)`` and, after every optimizer step, to
``on_batch(TrainProgress)``; raising from either callback cancels training (the exception
propagates unchanged, so a job runner can tell cancellation apart).
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..data import DatasetTooSmall
from ..common.device import select_device
from ..config import ConfigError, TrainConfig
from ..models.xdeepfm import XDeepFMRecommender
from ..models.xdeepfm_net import UserBatch

OnEpoch = Callable[[str, int, float, dict], None]


@dataclass(frozen=True)
class TrainProgress:
    """Where a training phase is: batch ``batch`` of ``batches`` in epoch ``epoch`` of ``epochs``."""

    phase: str
    epoch: int
    epochs: int
    batch: int
    batches: int

    @property
    def fraction(self) -> float:
        """Share of this phase's planned work done (early stopping may end it sooner)."""
        return ((self.epoch - 1) + self.batch / max(1, self.batches)) / max(1, self.epochs)


OnBatch = Callable[[TrainProgress], None]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def training_device(preference: str = "auto") -> torch.device:
    """The one device rule (``ml.common.device``); an absent accelerator is a config error here."""
    try:
        return select_device(preference)
    except RuntimeError as exc:
        raise ConfigError(str(exc), field="device") from exc


@dataclass
class Examples:
    """(history -> target item) training examples, padded."""

    hist: np.ndarray  # (N, L) int64, padded with pad_item
    hist_w: np.ndarray  # (N, L) float32, 0 on padding
    target: np.ndarray  # (N,) int64
    tier: np.ndarray  # (N,) int64
    user_idx: np.ndarray  # (N,) int64

    def __len__(self) -> int:
        return len(self.target)

    def batch(self, idx: np.ndarray) -> UserBatch:
        n = len(idx)
        return UserBatch(
            torch.from_numpy(self.hist[idx]), torch.from_numpy(self.hist_w[idx]), torch.from_numpy(self.tier[idx]),
            torch.zeros(n, dtype=torch.long), torch.full((n, 1), -1, dtype=torch.long), torch.from_numpy(self.user_idx[idx]),
        )


@dataclass
class NegativeSampler:
    """Samples negatives from one domain with q(j) ∝ (count_j + 1) ** beta; beta = 0 is uniform."""

    items: np.ndarray
    probs: np.ndarray
    pos_probs: np.ndarray  # how often each item is a positive (in-batch negatives follow this)

    @classmethod
    def for_domain(cls, items: np.ndarray, counts: np.ndarray, beta: float, targets: np.ndarray) -> "NegativeSampler":
        items = np.asarray(items, np.int64)
        w = np.power(counts[items] + 1.0, beta)
        pos = np.bincount(targets, minlength=len(counts)).astype(np.float64)[items]
        return cls(items, w / w.sum(), pos / max(pos.sum(), 1.0))

    def log_expected(self, items: np.ndarray, n_neg: int) -> np.ndarray:
        """log of the expected number of times each item is drawn among ``n_neg`` negatives."""
        pos = np.clip(np.searchsorted(self.items, items), 0, len(self.items) - 1)
        q = np.where(self.items[pos] == items, self.probs[pos], 0.0) * max(n_neg, 1)
        return np.log(np.maximum(q, 1e-12)).astype(np.float32)


def sampled_softmax_loss(logits: torch.Tensor, pos_items: torch.Tensor, neg_items: torch.Tensor,
                         log_q_pos: torch.Tensor, log_q_neg: torch.Tensor) -> torch.Tensor:
    """Sampled softmax over [own positive | shared sampled negatives] with logQ correction.

    ``logits`` is (B, 1 + N). Subtracting log(expected count) of each candidate makes the
    sampled loss an unbiased stand-in for the full softmax over the domain, so scores stay
    comparable across the whole catalog. A sampled negative equal to the row's positive is
    masked, never treated as a negative.
    """
    corr = torch.cat([log_q_pos.unsqueeze(1), log_q_neg.unsqueeze(0).expand(logits.shape[0], -1)], dim=1)
    logits = logits - corr
    if neg_items.numel():
        dup = neg_items.unsqueeze(0) == pos_items.unsqueeze(1)
        logits = torch.cat([logits[:, :1], logits[:, 1:].masked_fill(dup, float("-inf"))], dim=1)
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return torch.nn.functional.cross_entropy(logits, target)


class Trainer:
    def __init__(self, config: TrainConfig, on_epoch: OnEpoch | None = None, on_batch: OnBatch | None = None):
        self.config = config
        self.on_epoch = on_epoch
        self.on_batch = on_batch
        self.device = training_device(config.device)

    def run(
        self,
        model: XDeepFMRecommender,
        examples: Examples,
        sampler: NegativeSampler,
        *,
        phase: str,
        epochs: int,
        lr: float,
        freeze: Sequence[torch.nn.Parameter] = (),
        freeze_epochs: int = 0,
        validate: Callable[[], dict[str, float]] | None = None,
        monitor: str | None = None,
    ) -> list[dict[str, Any]]:
        """Train for up to ``epochs``; returns one record per epoch.

        With ``validate`` and ``monitor``, stops after ``patience`` epochs without
        improvement of ``metrics[monitor]`` and restores the best weights.
        """
        cfg = self.config
        net = model.network()
        net.to(self.device)
        model.device = self.device
        if len(examples) < 2:
            raise DatasetTooSmall(f"{phase} needs at least 2 training examples, got {len(examples)}")
        rng = np.random.default_rng(cfg.seed + (0 if phase == "pretrain" else 1))
        torch.manual_seed(cfg.seed + (0 if phase == "pretrain" else 1))
        opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=cfg.weight_decay)
        frozen = list(freeze)
        # the target domain is small: smaller batches give enough optimizer steps per epoch
        bs = min(cfg.batch_size if phase == "pretrain" else cfg.finetune_batch_size, len(examples))
        n_neg = min(cfg.negatives, len(sampler.items))
        records: list[dict[str, Any]] = []
        best, best_state, since_best = -math.inf, None, 0
        for epoch in range(1, epochs + 1):
            for p in frozen:
                p.requires_grad_(epoch > freeze_epochs)
            net.train()
            t0 = time.perf_counter()
            order = rng.permutation(len(examples))
            n_batches = (len(order) + bs - 1) // bs
            total, n_seen = 0.0, 0
            for step, start in enumerate(range(0, len(order), bs)):
                idx = order[start : start + bs]
                if len(idx) < 2:
                    continue
                ub = examples.batch(idx).to(self.device)
                pos = examples.target[idx]
                neg = rng.choice(sampler.items, size=n_neg, p=sampler.probs) if n_neg else np.zeros(0, np.int64)
                log_q_pos = torch.from_numpy(sampler.log_expected(pos, n_neg)).to(self.device)
                log_q_neg = torch.from_numpy(sampler.log_expected(neg, n_neg)).to(self.device)
                pos_t, neg_t = torch.from_numpy(pos).to(self.device), torch.from_numpy(neg).to(self.device)
                logits = net.forward_train(ub, pos_t, neg_t, id_dropout=cfg.id_dropout)
                loss = sampled_softmax_loss(logits, pos_t, neg_t, log_q_pos, log_q_neg)
                if not torch.isfinite(loss):
                    raise TrainingDiverged(
                        f"{phase} loss became {loss.item()} at epoch {epoch}, step {step}; "
                        f"lower the learning rate (now {lr:g}) or check the input vectors for NaN/inf"
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
                n_seen += len(idx)
                if self.on_batch is not None:
                    self.on_batch(TrainProgress(phase, epoch, epochs, step + 1, n_batches))
            epoch_loss = total / max(n_seen, 1)
            metrics = validate() if validate is not None else {}
            rec = {"phase": phase, "epoch": epoch, "loss": epoch_loss, "seconds": time.perf_counter() - t0,
                   "examples_per_s": n_seen / max(time.perf_counter() - t0, 1e-9), **metrics}
            records.append(rec)
            if self.on_epoch is not None:
                self.on_epoch(phase, epoch, epoch_loss, dict(metrics))
            if monitor and monitor in metrics:
                if metrics[monitor] > best:
                    best, since_best = metrics[monitor], 0
                    best_state = copy.deepcopy(net.state_dict())
                else:
                    since_best += 1
                    if since_best >= cfg.patience:
                        break
        for p in frozen:
            p.requires_grad_(True)
        if best_state is not None:
            net.load_state_dict(best_state)
            records.append({"phase": phase, "epoch": "best", "restored_epoch": int(np.argmax([r.get(monitor, -math.inf) for r in records]) + 1), monitor: best})
        net.eval()
        return records
