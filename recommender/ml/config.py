"""Hyperparameters of the transfer ranker: shared by the model (which is built from them) and
the trainer (which runs them), so neither has to import the other."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

import numpy as np


class ConfigError(ValueError):
    """A hyperparameter is missing, unknown or out of range; ``field`` names it (None when the
    error is about the whole set), so a form can put the message on its input."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


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
                raise ConfigError(f"{name} must be a number, got {v!r}", field=name)
            ok = (lo <= v if lo_inclusive else lo < v) and v <= hi
            if not ok:
                raise ConfigError(f"{name} must be in {'[' if lo_inclusive else '('}{lo:g}, {hi:g}], got {v:g}", field=name)
        for name, (lo, hi) in self._INT_RANGES.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ConfigError(f"{name} must be an integer, got {v!r}", field=name)
            if not lo <= v <= hi:
                raise ConfigError(f"{name} must be in [{lo}, {hi}], got {v}", field=name)
        for name in ("cin_layers", "dnn_layers"):
            v = getattr(self, name)
            if not isinstance(v, (list, tuple)) or not all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) and 1 <= x <= 4096 for x in v):
                raise ConfigError(f"{name} must be a list of layer sizes in [1, 4096], got {v!r}", field=name)
            if len(v) > 8:
                raise ConfigError(f"{name} may have at most 8 layers, got {len(v)}", field=name)
            setattr(self, name, [int(x) for x in v])
        if not isinstance(self.prior_residual, bool):
            raise ConfigError(f"prior_residual must be true or false, got {self.prior_residual!r}", field="prior_residual")
        if not isinstance(self.freeze_on_finetune, bool):
            raise ConfigError(f"freeze_on_finetune must be true or false, got {self.freeze_on_finetune!r}", field="freeze_on_finetune")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device must be 'auto', 'cpu' or 'cuda', got {self.device!r}", field="device")
        if self.prior_beta is not None and (isinstance(self.prior_beta, bool) or not isinstance(self.prior_beta, (int, float))
                                            or not math.isfinite(self.prior_beta) or not 0 <= self.prior_beta <= 100):
            raise ConfigError(f"prior_beta must be null (tune on validation) or a number in [0, 100], got {self.prior_beta!r}", field="prior_beta")
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
