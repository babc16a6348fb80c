"""The training loop: Adam, epochs, mini-batches, early stopping, NaN check, callbacks.

The trainer owns the loop; the model owns its loss (:meth:`Trainer` calls
``sampled_softmax_loss`` on the model's logits) and its scoring. Progress goes to
``on_epoch(phase, epoch, loss, metrics)``; raising from the callback cancels training
(the exception propagates unchanged, so a job runner can tell cancellation apart).
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from ..data import DatasetTooSmall
from ..models.xdeepfm import UserBatch, XDeepFMRecommender

OnEpoch = Callable[[str, int, float, dict], None]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


class ConfigError(ValueError):
    """A hyperparameter is missing, unknown or out of range."""


@dataclass
class TrainConfig:
    lr: float = 3e-3
    finetune_lr: float = 3e-3
    batch_size: int = 256
    finetune_batch_size: int = 64
    epochs_pretrain: int = 1
    epochs_finetune: int = 12
    embed_dim: int = 16
    cin_layers: list[int] = field(default_factory=lambda: [16, 16])
    dnn_layers: list[int] = field(default_factory=lambda: [64, 32])
    dropout: float = 0.1
    negatives: int = 32
    seed: int = 0
    freeze_on_finetune: bool = True
    freeze_epochs: int = 1
    k: int = 10
    weight_decay: float = 0.0
    id_dropout: float = 0.3
    user_id_buckets: int = 0
    max_history: int = 50
    n_scenarios: int = 8
    pretrain_negative_beta: float = 0.5
    finetune_negative_beta: float = 0.0
    pretrain_targets_per_user: int = 2
    max_pretrain_examples: int = 20000
    patience: int = 3
    min_finetune_examples: int = 20
    device: str = "auto"
    # popularity prior added to the logit after fine-tuning: beta * log(1 + recency-weighted
    # count); prior_beta None = tuned on the validation split (0 when there is none)
    prior_half_life_days: float = 2.0
    prior_beta: float | None = None
    prior_residual: bool = False  # experiment: prior (weight 1) present during fine-tuning instead

    _RANGES = {
        "lr": (0.0, 1.0, False),
        "finetune_lr": (0.0, 1.0, False),
        "dropout": (0.0, 0.9, True),
        "id_dropout": (0.0, 1.0, True),
        "weight_decay": (0.0, 1.0, True),
        "pretrain_negative_beta": (0.0, 1.0, True),
        "finetune_negative_beta": (0.0, 1.0, True),
        "prior_half_life_days": (0.0, 1e6, False),
    }
    _INT_RANGES = {
        "batch_size": (2, 65536),
        "finetune_batch_size": (2, 65536),
        "epochs_pretrain": (0, 1000),
        "epochs_finetune": (0, 1000),
        "embed_dim": (1, 512),
        "negatives": (0, 100000),
        "freeze_epochs": (0, 1000),
        "k": (1, 1000),
        "user_id_buckets": (0, 10_000_000),
        "max_history": (1, 10000),
        "n_scenarios": (1, 1000),
        "pretrain_targets_per_user": (1, 1000),
        "max_pretrain_examples": (1, 100_000_000),
        "patience": (1, 1000),
        "min_finetune_examples": (1, 1_000_000),
        "seed": (0, 2**31 - 1),
    }

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        for name, (lo, hi, lo_inclusive) in self._RANGES.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(f"{name} must be a number, got {v!r}")
            ok = (lo <= v if lo_inclusive else lo < v) and v <= hi
            if not ok:
                raise ConfigError(f"{name} must be in {'[' if lo_inclusive else '('}{lo:g}, {hi:g}], got {v:g}")
        for name, (lo, hi) in self._INT_RANGES.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ConfigError(f"{name} must be an integer, got {v!r}")
            if not lo <= v <= hi:
                raise ConfigError(f"{name} must be in [{lo}, {hi}], got {v}")
        for name in ("cin_layers", "dnn_layers"):
            v = getattr(self, name)
            if not isinstance(v, (list, tuple)) or not all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) and 1 <= x <= 4096 for x in v):
                raise ConfigError(f"{name} must be a list of layer sizes in [1, 4096], got {v!r}")
            if len(v) > 8:
                raise ConfigError(f"{name} may have at most 8 layers, got {len(v)}")
            setattr(self, name, [int(x) for x in v])
        if not isinstance(self.prior_residual, bool):
            raise ConfigError(f"prior_residual must be true or false, got {self.prior_residual!r}")
        if not isinstance(self.freeze_on_finetune, bool):
            raise ConfigError(f"freeze_on_finetune must be true or false, got {self.freeze_on_finetune!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        if self.prior_beta is not None and (isinstance(self.prior_beta, bool) or not isinstance(self.prior_beta, (int, float))
                                            or not math.isfinite(self.prior_beta) or not 0 <= self.prior_beta <= 100):
            raise ConfigError(f"prior_beta must be null (tune on validation) or a number in [0, 100], got {self.prior_beta!r}")
        if self.epochs_pretrain + self.epochs_finetune == 0:
            raise ConfigError("epochs_pretrain and epochs_finetune cannot both be 0")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "TrainConfig":
        if not isinstance(values, Mapping):
            raise ConfigError(f"hyperparameters must be a mapping, got {type(values).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown hyperparameter(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**dict(values))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_overrides(self, **kw: Any) -> "TrainConfig":
        return TrainConfig.from_dict({**self.to_dict(), **kw})


def select_device(preference: str = "auto") -> torch.device:
    if preference == "cuda" or (preference == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("device 'cuda' requested but CUDA is not available")
        return torch.device("cuda")
    return torch.device("cpu")


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
    def __init__(self, config: TrainConfig, on_epoch: OnEpoch | None = None):
        self.config = config
        self.on_epoch = on_epoch
        self.device = select_device(config.device)

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
        net = model._require()
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
