"""Tiny synthetic catalogs for ML tests: the point is exact, checkable outcomes."""
from __future__ import annotations

import numpy as np

from recommender.ml.data import InteractionData, ItemTable, RecData, UserTable

DAY = 86400


def toy_data(n_users: int = 40, seed: int = 0, with_vectors: bool = True) -> RecData:
    """10 source items (0-9) and 6 target items (10-15).

    Customers who buy source item 0 or 1 ("dresses") buy target item 10; those who buy
    source items 5 or 6 ("menswear") buy target item 13. Target item 12 is bought by
    many (popular); items 14-15 are never bought (cold).
    """
    rng = np.random.default_rng(seed)
    n_src, n_tgt = 10, 6
    n_items = n_src + n_tgt
    users, items, times = [], [], []
    for u in range(n_users):
        group = u % 2
        src = [0, 1] if group == 0 else [5, 6]
        for s in src:
            users.append(u); items.append(s); times.append(1 + rng.integers(0, 3))
        users.append(u); items.append(2 + rng.integers(0, 3)); times.append(2)
        users.append(u); items.append(10 if group == 0 else 13); times.append(5)
        if u % 3 == 0:
            users.append(u); items.append(12); times.append(6)
    n = len(users)
    attrs = {
        "product_type": np.array([1] * n_src + [2, 2, 3, 3, 2, 3]),
        "section": np.array([1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 1, 1, 1, 2, 1, 2]),
        "colour": (np.arange(n_items) % 3) + 1,
    }
    vocab = {"product_type": ["garment", "earring", "necklace"], "section": ["women", "men"], "colour": ["a", "b", "c"]}
    vectors = None
    if with_vectors:
        vectors = np.zeros((n_items, 4), np.float32)
        vectors[:, 0] = attrs["section"] == 1
        vectors[:, 1] = attrs["section"] == 2
        vectors[:, 2] = attrs["product_type"] == 2
        vectors[:, 3] = 0.1
    items_t = ItemTable(
        ids=[f"i{k:02d}" for k in range(n_items)], is_target=np.arange(n_items) >= n_src,
        attributes=attrs, vocabularies=vocab, vectors=vectors,
    )
    users_t = UserTable(ids=[f"u{k:03d}" for k in range(n_users)], tier=np.zeros(n_users, np.int64))
    inter = InteractionData(np.array(users), np.array(items), np.array(times) * DAY, np.ones(n, np.float32), np.full(n, 3, np.int8))
    return RecData(users_t, items_t, inter)
