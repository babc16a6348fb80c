"""Structured item attributes -> a fixed-length float32 vector.

Vocabularies are fitted once on the catalog and stored as JSON next to the fusion
weights, so the same item always maps to the same vector until the encoder is refit.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

OOV = "<oov>"
MISSING = "<missing>"

# (field, kind). "multi" fields may hold several values ("gold, silver" or a list).
DEFAULT_FIELDS: tuple[tuple[str, str], ...] = (
    ("product_type", "one"),
    ("colour", "one"),
    ("colour_master", "one"),
    ("material", "multi"),
    ("appearance", "one"),
    ("department", "one"),
    ("section", "one"),
    ("index_group", "one"),
    ("exclusive_tier", "one"),
)


def _values(raw: Any, kind: str) -> list[str]:
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return []
    if kind == "multi":
        items = raw if isinstance(raw, (list, tuple, set)) else str(raw).replace("/", ",").replace(";", ",").split(",")
    else:
        items = [raw]
    out = []
    for v in items:
        s = " ".join(str(v).strip().lower().split())
        if s:
            out.append(s)
    return out


def _price(raw: Any) -> float | None:
    if raw is None:
        return None
    try:
        p = float(raw)
    except (TypeError, ValueError):
        return None
    return p if math.isfinite(p) and p >= 0 else None


@dataclass
class AttributeEncoder:
    """One-hot / multi-hot blocks per field (slot 0 = OOV, slot 1 = missing) + price features.

    Price gives a quantile-bucket one-hot (plus a missing slot) and one standardised
    log-price number, so both "cheap vs dear" and the exact level are visible.
    """

    fields: tuple[tuple[str, str], ...] = DEFAULT_FIELDS
    min_count: int = 2
    price_buckets: int = 5
    vocab: dict[str, list[str]] = field(default_factory=dict)
    price_edges: list[float] = field(default_factory=list)
    log_price_mean: float = 0.0
    log_price_std: float = 1.0
    fitted: bool = False

    def fit(self, items: Iterable[Mapping[str, Any]]) -> "AttributeEncoder":
        items = list(items)
        if not items:
            raise ValueError("AttributeEncoder.fit needs at least one item")
        self.vocab = {}
        for name, kind in self.fields:
            counts = Counter(v for it in items for v in _values(it.get(name), kind))
            # Rare values go to OOV: a category seen once teaches the fusion nothing.
            kept = sorted(v for v, c in counts.items() if c >= self.min_count)
            self.vocab[name] = [OOV, MISSING, *kept]
        prices = np.array([p for p in (_price(it.get("price")) for it in items) if p is not None], np.float64)
        if len(prices):
            qs = np.quantile(prices, np.linspace(0, 1, self.price_buckets + 1)[1:-1])
            self.price_edges = sorted(set(float(q) for q in qs))
            logs = np.log1p(prices)
            self.log_price_mean = float(logs.mean())
            self.log_price_std = float(logs.std()) or 1.0
        else:
            self.price_edges, self.log_price_mean, self.log_price_std = [], 0.0, 1.0
        self.fitted = True
        return self

    @property
    def dim(self) -> int:
        self._check()
        return sum(len(v) for v in self.vocab.values()) + (len(self.price_edges) + 1) + 1 + 1

    @property
    def version(self) -> str:
        return "attributes@" + hashlib.sha256(self.to_json().encode()).hexdigest()[:12]

    def feature_names(self) -> list[str]:
        self._check()
        names = [f"{f}={v}" for f, _ in self.fields for v in self.vocab[f]]
        names += [f"price_bucket={i}" for i in range(len(self.price_edges) + 1)]
        return names + ["price_missing", "log_price_z"]

    def _check(self) -> None:
        if not self.fitted:
            raise RuntimeError("AttributeEncoder is not fitted; call fit() or from_json()")

    def transform(self, items: Sequence[Mapping[str, Any]]) -> np.ndarray:
        self._check()
        items = list(items)
        out = np.zeros((len(items), self.dim), np.float32)
        index = {f: {v: i for i, v in enumerate(vs)} for f, vs in self.vocab.items()}
        for row, it in enumerate(items):
            col = 0
            for name, kind in self.fields:
                vals = _values(it.get(name), kind)
                if not vals:
                    out[row, col + 1] = 1.0
                for v in vals:
                    out[row, col + index[name].get(v, 0)] = 1.0
                col += len(self.vocab[name])
            p = _price(it.get("price"))
            nb = len(self.price_edges) + 1
            if p is None:
                out[row, col + nb] = 1.0
            else:
                out[row, col + int(np.searchsorted(self.price_edges, p, side="right"))] = 1.0
                out[row, col + nb + 1] = (math.log1p(p) - self.log_price_mean) / self.log_price_std
        return out

    def to_json(self) -> str:
        self._check()
        return json.dumps(
            {
                "fields": [list(f) for f in self.fields],
                "min_count": self.min_count,
                "price_buckets": self.price_buckets,
                "vocab": self.vocab,
                "price_edges": self.price_edges,
                "log_price_mean": self.log_price_mean,
                "log_price_std": self.log_price_std,
            },
            sort_keys=True,
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> "AttributeEncoder":
        try:
            d = json.loads(text)
            enc = cls(
                fields=tuple((str(f), str(k)) for f, k in d["fields"]),
                min_count=int(d["min_count"]),
                price_buckets=int(d["price_buckets"]),
                vocab={str(k): [str(x) for x in v] for k, v in d["vocab"].items()},
                price_edges=[float(x) for x in d["price_edges"]],
                log_price_mean=float(d["log_price_mean"]),
                log_price_std=float(d["log_price_std"]),
                fitted=True,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"invalid AttributeEncoder JSON: {exc}") from exc
        missing = [f for f, _ in enc.fields if f not in enc.vocab or enc.vocab[f][:2] != [OOV, MISSING]]
        if missing:
            raise ValueError(f"invalid AttributeEncoder JSON: bad vocabulary for {missing}")
        return enc
