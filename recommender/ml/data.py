"""Plain-array dataset containers shared by training, evaluation and serving.

The Django side builds the same containers from the database; experiments and
benchmarks build them from the H&M parquet files with :func:`load_hm_interactions`.
Everything here is numpy (no torch, no Django) so the containers are cheap to build,
slice and test.

Conventions
-----------
* Items and users are addressed by a dense index ``0..n-1``; ``ids`` map back to the
  retailer's external ids.
* Categorical attributes are integer codes with ``0`` reserved for "unknown", so a new
  value seen only at serving time maps to 0 instead of crashing an embedding lookup.
* Item vectors are an ``(n_items, d)`` float32 array of any ``d`` plus a boolean mask
  for items that have one; rows without a vector are ignored when pooling histories.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

EVENT_TYPES: tuple[str, ...] = ("view", "favorite", "add_to_cart", "purchase")
# How strongly each kind of event says "this customer wants this item": the one home of these
# weights, for training, evaluation and serving alike.
EVENT_WEIGHTS: dict[str, float] = {"view": 0.25, "favorite": 0.5, "add_to_cart": 0.75, "purchase": 1.0}
# Sales channels as codes (0 = not known). The H&M sample's sales_channel_id is 1 (store) or
# 2 (online), the same codes.
CHANNELS: tuple[str, ...] = ("", "store", "online")
CHANNEL_CODES: dict[str, int] = {name: code for code, name in enumerate(CHANNELS) if name}
# The one spelling of each jewelry type, by any spelling seen (lower case): the sample writes
# both "Earring" (1,159 articles) and "Earrings" (11); filters, charts and search see one type.
JEWELRY_TYPE_SPELLINGS: dict[str, str] = {
    "earring": "Earring", "earrings": "Earring",
    "necklace": "Necklace", "necklaces": "Necklace",
    "ring": "Ring", "rings": "Ring",
    "bracelet": "Bracelet", "bracelets": "Bracelet",
}
JEWELRY_TYPES = frozenset(JEWELRY_TYPE_SPELLINGS)  # lower case, every spelling

# Attributes every ranker may use. Shared vocabularies across categories are what lets
# a colour or a section learnt on garments carry over to jewelry.
ITEM_ATTRIBUTES: tuple[str, ...] = (
    "product_type",
    "product_group",
    "colour",
    "colour_master",
    "appearance",
    "section",
    "index_group",
    "department",
    "price_bucket",
)
N_PRICE_BUCKETS = 10


class DataError(ValueError):
    """A dataset container was built from inconsistent arrays."""


class DatasetTooSmall(DataError):
    """Not enough data for the requested protocol or training run."""


@dataclass
class InteractionData:
    """One row per event: who, what, when, how strongly."""

    user_idx: np.ndarray  # int64 (n,)
    item_idx: np.ndarray  # int64 (n,)
    timestamp: np.ndarray  # int64 (n,) unix seconds
    weight: np.ndarray  # float32 (n,)
    event_type: np.ndarray  # int8 (n,) index into EVENT_TYPES
    channel: np.ndarray | None = None  # int8 (n,) index into CHANNELS; None = all unknown

    def __post_init__(self) -> None:
        self.user_idx = np.asarray(self.user_idx, dtype=np.int64)
        self.item_idx = np.asarray(self.item_idx, dtype=np.int64)
        self.timestamp = np.asarray(self.timestamp, dtype=np.int64)
        self.weight = np.asarray(self.weight, dtype=np.float32)
        self.event_type = np.asarray(self.event_type, dtype=np.int8)
        n = len(self.user_idx)
        self.channel = np.zeros(n, np.int8) if self.channel is None else np.asarray(self.channel, dtype=np.int8)
        for name in ("item_idx", "timestamp", "weight", "event_type", "channel"):
            if len(getattr(self, name)) != n:
                raise DataError(f"InteractionData.{name} has {len(getattr(self, name))} rows, user_idx has {n}")
        if n and (self.user_idx.min() < 0 or self.item_idx.min() < 0):
            raise DataError("InteractionData indices must be >= 0")
        if n and not np.all(np.isfinite(self.weight)):
            raise DataError("InteractionData.weight contains NaN or inf")

    def __len__(self) -> int:
        return len(self.user_idx)

    def subset(self, mask: np.ndarray) -> "InteractionData":
        """Rows where ``mask`` is true (a boolean mask or an index array)."""
        return InteractionData(
            self.user_idx[mask], self.item_idx[mask], self.timestamp[mask], self.weight[mask], self.event_type[mask],
            self.channel[mask],
        )

    @classmethod
    def empty(cls) -> "InteractionData":
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z, np.zeros(0, np.float32), np.zeros(0, np.int8))


@dataclass
class ItemTable:
    """The catalog of every category; ``is_target`` marks the target domain (jewelry)."""

    ids: np.ndarray  # str (n,)
    is_target: np.ndarray  # bool (n,)
    attributes: dict[str, np.ndarray]  # name -> int64 codes (n,), 0 = unknown
    vocabularies: dict[str, list[str]]  # name -> values; code c means vocabularies[name][c - 1]
    vectors: np.ndarray | None = None  # float32 (n, d)
    vector_mask: np.ndarray | None = None  # bool (n,)
    texts: list[str] | None = None  # title + description, for content vectors

    def __post_init__(self) -> None:
        self.ids = np.asarray(self.ids).astype(str)
        n = len(self.ids)
        self.is_target = np.asarray(self.is_target, dtype=bool)
        if len(self.is_target) != n:
            raise DataError(f"ItemTable.is_target has {len(self.is_target)} rows, ids has {n}")
        for name, codes in list(self.attributes.items()):
            codes = np.asarray(codes, dtype=np.int64)
            if len(codes) != n:
                raise DataError(f"ItemTable attribute {name!r} has {len(codes)} rows, ids has {n}")
            size = len(self.vocabularies.get(name, [])) + 1
            if n and (codes.min() < 0 or codes.max() >= size):
                raise DataError(f"ItemTable attribute {name!r} has codes outside 0..{size - 1}")
            self.attributes[name] = codes
        if self.vectors is not None:
            self.set_vectors(self.vectors, self.vector_mask)
        if self.texts is not None and len(self.texts) != n:
            raise DataError(f"ItemTable.texts has {len(self.texts)} rows, ids has {n}")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def target_items(self) -> np.ndarray:
        return np.flatnonzero(self.is_target)

    @property
    def vector_dim(self) -> int:
        return 0 if self.vectors is None else int(self.vectors.shape[1])

    def set_vectors(self, vectors: np.ndarray, mask: np.ndarray | None = None) -> None:
        """Attach item vectors (n_items x d). Rows with a false mask or non-finite values are unused."""
        vectors = np.asarray(vectors, dtype=np.float32)
        n = len(self.ids)
        if vectors.ndim != 2 or vectors.shape[0] != n:
            raise DataError(f"item vectors must have shape ({n}, d), got {vectors.shape}")
        finite = np.isfinite(vectors).all(axis=1)
        mask = finite if mask is None else (np.asarray(mask, dtype=bool) & finite)
        if len(mask) != n:
            raise DataError(f"item vector mask has {len(mask)} rows, expected {n}")
        self.vectors = np.where(mask[:, None], vectors, 0.0).astype(np.float32)
        self.vector_mask = mask

    def attribute_matrix(self, names: Sequence[str] = ITEM_ATTRIBUTES) -> np.ndarray:
        """(n_items, len(names)) int64 codes; a missing attribute is all-unknown (0)."""
        n = len(self.ids)
        cols = [self.attributes.get(name, np.zeros(n, dtype=np.int64)) for name in names]
        return np.stack(cols, axis=1) if cols else np.zeros((n, 0), dtype=np.int64)

    def vocab_sizes(self, names: Sequence[str] = ITEM_ATTRIBUTES) -> list[int]:
        return [len(self.vocabularies.get(name, [])) + 1 for name in names]


@dataclass
class UserTable:
    ids: np.ndarray  # str (n,)
    tier: np.ndarray  # int64 (n,), 0 = no membership

    def __post_init__(self) -> None:
        self.ids = np.asarray(self.ids).astype(str)
        self.tier = np.asarray(self.tier, dtype=np.int64)
        if len(self.tier) != len(self.ids):
            raise DataError(f"UserTable.tier has {len(self.tier)} rows, ids has {len(self.ids)}")
        if len(self.tier) and self.tier.min() < 0:
            raise DataError("UserTable.tier must be >= 0")

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class RecData:
    """Everything a training or evaluation run needs."""

    users: UserTable
    items: ItemTable
    interactions: InteractionData
    n_tiers: int = 1  # tier codes are 0..n_tiers-1

    def __post_init__(self) -> None:
        if len(self.interactions):
            if self.interactions.user_idx.max() >= len(self.users):
                raise DataError("interactions reference a user index beyond the user table")
            if self.interactions.item_idx.max() >= len(self.items):
                raise DataError("interactions reference an item index beyond the item table")
        if len(self.users) and self.users.tier.max() >= self.n_tiers:
            self.n_tiers = int(self.users.tier.max()) + 1

    def with_interactions(self, interactions: InteractionData) -> "RecData":
        return RecData(self.users, self.items, interactions, self.n_tiers)


@dataclass
class UserContext:
    """What the ranker knows about one customer at scoring time. No id is needed.

    ``history`` holds item indices of any category (purchases, views...), ``history_weight``
    their strengths; ``cart`` the items in the basket; ``scenario`` the page (0 = generic).
    """

    history: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    history_weight: np.ndarray | None = None
    tier: int = 0
    scenario: int = 0
    cart: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    user_idx: int | None = None
    # Share of the customer's orders placed online (0 = all in store), None = not known.
    online_share: float | None = None
    # The moment being recommended for (unix seconds); None = the latest moment in the data.
    at: int | None = None

    def __post_init__(self) -> None:
        self.history = np.asarray(self.history, dtype=np.int64).reshape(-1)
        self.cart = np.asarray(self.cart, dtype=np.int64).reshape(-1)
        if self.history_weight is None:
            self.history_weight = np.ones(len(self.history), dtype=np.float32)
        self.history_weight = np.asarray(self.history_weight, dtype=np.float32).reshape(-1)
        if len(self.history_weight) != len(self.history):
            raise DataError("UserContext.history_weight must match history")


def user_histories(
    interactions: InteractionData, n_users: int, max_len: int | None = None
) -> list[np.ndarray]:
    """Per user, the distinct items of their events, most recent last (truncated to the last ``max_len``)."""
    order = np.lexsort((interactions.item_idx, interactions.timestamp, interactions.user_idx))
    u = interactions.user_idx[order]
    it = interactions.item_idx[order]
    bounds = np.searchsorted(u, np.arange(n_users + 1))
    out: list[np.ndarray] = []
    for k in range(n_users):
        seq = it[bounds[k] : bounds[k + 1]]
        if len(seq) > 1:
            # keep the last occurrence of each item, in time order
            _, last_pos = np.unique(seq[::-1], return_index=True)
            seq = seq[::-1][np.sort(last_pos)][::-1]
        if max_len is not None and len(seq) > max_len:
            seq = seq[-max_len:]
        out.append(seq)
    return out


def item_counts(interactions: InteractionData, n_items: int) -> np.ndarray:
    return np.bincount(interactions.item_idx, weights=interactions.weight, minlength=n_items).astype(np.float64)


def categorical_codes(values: Sequence[object]) -> tuple[np.ndarray, list[str]]:
    vals = np.asarray(["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values])
    vocab = sorted(set(vals.tolist()) - {""})
    lookup = {v: i + 1 for i, v in enumerate(vocab)}
    return np.array([lookup.get(v, 0) for v in vals.tolist()], dtype=np.int64), vocab


def price_buckets(prices: np.ndarray, n_buckets: int = N_PRICE_BUCKETS) -> tuple[np.ndarray, list[str]]:
    """Quantile buckets 1..n of the known prices; unknown (NaN) prices map to 0."""
    prices = np.asarray(prices, dtype=np.float64)
    known = np.isfinite(prices)
    codes = np.zeros(len(prices), dtype=np.int64)
    if known.any():
        edges = np.quantile(prices[known], np.linspace(0, 1, n_buckets + 1)[1:-1])
        codes[known] = np.searchsorted(edges, prices[known], side="right") + 1
    return codes, [f"q{i + 1}" for i in range(n_buckets)]


def content_vectors_from_attributes(
    items: ItemTable,
    dim: int = 512,
    seed: int = 0,
    attribute_weight: float = 1.0,
    text_weight: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """A content vector per item without the pretrained encoders.

    One-hot item attributes and TF-IDF of the item text, concatenated and reduced to
    ``dim`` dimensions by truncated SVD, then L2-normalised. It is the content-only
    baseline's feature and the fallback item vector when the multimodal vectors are
    missing. Returns ``(vectors (n, dim) float32, mask (n,) bool)``.
    """
    from scipy import sparse
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    n = len(items)
    blocks = []
    for name in ITEM_ATTRIBUTES:
        codes = items.attributes.get(name)
        if codes is None:
            continue
        size = len(items.vocabularies.get(name, [])) + 1
        onehot = sparse.csr_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, size))
        onehot = onehot[:, 1:]  # unknown carries no content
        blocks.append(onehot)
    attr = normalize(sparse.hstack(blocks).tocsr()) * attribute_weight if blocks else None
    mats = [m for m in [attr] if m is not None]
    if items.texts is not None and text_weight > 0:
        tfidf = TfidfVectorizer(min_df=2, max_features=30000, sublinear_tf=True, dtype=np.float32)
        text = tfidf.fit_transform([t or "" for t in items.texts])
        mats.append(normalize(text) * text_weight)
    if not mats:
        raise DataError("content vectors need item attributes or texts")
    full = sparse.hstack(mats).tocsr().astype(np.float32)
    k = max(1, min(dim, full.shape[1] - 1, n - 1))
    svd = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=3, random_state=seed)
    reduced = svd.fit_transform(full).astype(np.float32)
    if k < dim:
        reduced = np.hstack([reduced, np.zeros((n, dim - k), dtype=np.float32)])
    reduced = normalize(reduced).astype(np.float32)
    mask = np.asarray(full.getnnz(axis=1) > 0)
    return reduced, mask


def load_hm_interactions(
    data_dir: str | Path,
    *,
    restrict_to_bought: bool = True,
    with_content_vectors: bool = True,
    vector_dim: int = 512,
    max_rows: int | None = None,
    seed: int = 0,
) -> RecData:
    """Load the H&M sample (``articles.parquet`` + ``transactions.parquet``) as containers.

    ``data_dir`` is the ``hm-jewelry`` folder (or its parent). Every purchase becomes a
    ``purchase`` event with weight 1, timestamped at midnight UTC of its day. The item
    table keeps every jewelry article (the full target catalog, bought or not) and, with
    ``restrict_to_bought``, only the non-jewelry articles that appear in transactions.
    There are no membership tiers in the sample, so every customer has tier 0.
    """
    import pandas as pd

    root = Path(data_dir)
    if (root / "hm-jewelry").is_dir():
        root = root / "hm-jewelry"
    art_path, tx_path = root / "articles.parquet", root / "transactions.parquet"
    for p in (art_path, tx_path):
        if not p.is_file():
            raise FileNotFoundError(f"H&M sample file not found: {p}")
    articles = pd.read_parquet(art_path)
    tx = pd.read_parquet(tx_path, columns=["t_dat", "customer_id", "article_id", "price", "sales_channel_id"])
    if max_rows is not None:
        tx = tx.iloc[:max_rows]
    articles["is_target"] = articles["product_type_name"].str.strip().str.lower().isin(JEWELRY_TYPES)
    if restrict_to_bought:
        keep = articles["is_target"] | articles["article_id"].isin(set(tx["article_id"].unique()))
        articles = articles[keep]
    articles = articles.sort_values("article_id").reset_index(drop=True)
    item_index = pd.Index(articles["article_id"])
    tx = tx[tx["article_id"].isin(item_index)]
    mean_price = tx.groupby("article_id")["price"].mean()
    prices = articles["article_id"].map(mean_price).to_numpy(dtype=np.float64)

    columns = {
        "product_type": "product_type_name",
        "product_group": "product_group_name",
        "colour": "colour_group_name",
        "colour_master": "perceived_colour_master_name",
        "appearance": "graphical_appearance_name",
        "section": "section_name",
        "index_group": "index_group_name",
        "department": "department_name",
    }
    attributes: dict[str, np.ndarray] = {}
    vocabularies: dict[str, list[str]] = {}
    for name, col in columns.items():
        attributes[name], vocabularies[name] = categorical_codes(articles[col].tolist())
    attributes["price_bucket"], vocabularies["price_bucket"] = price_buckets(prices)
    texts = (articles["prod_name"].fillna("") + ". " + articles["detail_desc"].fillna("")).tolist()
    items = ItemTable(
        ids=articles["article_id"].to_numpy(),
        is_target=articles["is_target"].to_numpy(),
        attributes=attributes,
        vocabularies=vocabularies,
        texts=texts,
    )
    user_codes, user_ids = pd.factorize(tx["customer_id"], sort=True)
    users = UserTable(ids=np.asarray(user_ids), tier=np.zeros(len(user_ids), dtype=np.int64))
    days = pd.to_datetime(tx["t_dat"]).to_numpy().astype("datetime64[s]").astype(np.int64)
    n = len(tx)
    interactions = InteractionData(
        user_idx=user_codes,
        item_idx=item_index.get_indexer(tx["article_id"]),
        timestamp=days,
        weight=np.ones(n, dtype=np.float32),
        event_type=np.full(n, EVENT_TYPES.index("purchase"), dtype=np.int8),
        channel=tx["sales_channel_id"].fillna(0).to_numpy(np.int8),
    )
    if with_content_vectors:
        vecs, mask = content_vectors_from_attributes(items, dim=vector_dim, seed=seed)
        items.set_vectors(vecs, mask)
    return RecData(users=users, items=items, interactions=interactions, n_tiers=1)


def summarize(data: RecData) -> dict[str, object]:
    """Counts and date range, for run metadata and reports."""
    inter = data.interactions
    tgt = data.items.is_target[inter.item_idx] if len(inter) else np.zeros(0, bool)
    ts = inter.timestamp
    return {
        "n_users": len(data.users),
        "n_items": len(data.items),
        "n_target_items": int(data.items.is_target.sum()),
        "n_interactions": len(inter),
        "n_target_interactions": int(tgt.sum()),
        "n_target_items_bought": int(len(np.unique(inter.item_idx[tgt]))),
        "vector_dim": data.items.vector_dim,
        "first_timestamp": int(ts.min()) if len(ts) else None,
        "last_timestamp": int(ts.max()) if len(ts) else None,
    }


def attribute_codes_for(values: Mapping[str, Sequence[str]], vocabularies: Mapping[str, list[str]]) -> dict[str, np.ndarray]:
    """Encode raw attribute strings with an existing vocabulary (unknown -> 0), for serving new items."""
    out = {}
    for name, vals in values.items():
        lookup = {v: i + 1 for i, v in enumerate(vocabularies.get(name, []))}
        out[name] = np.array([lookup.get(str(v), 0) for v in vals], dtype=np.int64)
    return out
