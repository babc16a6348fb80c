"""Build the ML core's plain-array containers from the database.

Training, evaluation and serving all see items through ``item_attribute_values`` so the
attribute vocabulary of a trained model maps new items the same way at request time.
"""
from __future__ import annotations

from datetime import datetime

import numpy as np

from recommender.catalog.features import ITEM_VALUE_FIELDS, item_attribute_values, item_vectors_for
from recommender.ml.data import (  # noqa: F401 - DatasetTooSmall is re-exported for callers
    CHANNEL_CODES,
    EVENT_TYPES,
    DatasetTooSmall,
    EVENT_WEIGHTS,
    InteractionData,
    ItemTable,
    RecData,
    UserTable,
    categorical_codes,
    price_buckets,
)
from recommender.models import Customer, Event, Item


def recdata_from_db(*, until: datetime | None = None, min_target_interactions: int = 20) -> tuple[RecData, dict]:
    """Every event up to ``until`` with the items they touch plus the whole jewelry catalog.

    Returns the container and a JSON-able snapshot description for the run row.
    """
    events = Event.objects.all()
    if until is not None:
        events = events.filter(timestamp__lte=until)
    ev = list(events.order_by("id").values_list("customer_id", "item_id", "timestamp", "event_type", "channel")
              .iterator(chunk_size=20000))
    item_pks_in_events = {e[1] for e in ev}
    # One scan filtered in Python: an IN list of ~30k ids would exceed SQLite's variable limit.
    item_rows = [
        r for r in Item.objects.filter(is_jewelry=False).values(*ITEM_VALUE_FIELDS).iterator(chunk_size=5000)
        if r["id"] in item_pks_in_events
    ]
    item_rows += list(Item.objects.filter(is_jewelry=True).values(*ITEM_VALUE_FIELDS))
    item_rows.sort(key=lambda r: r["external_id"])
    pks = [r["id"] for r in item_rows]
    pos = {pk: i for i, pk in enumerate(pks)}

    attributes, vocabularies = {}, {}
    for name, values in item_attribute_values(item_rows).items():
        attributes[name], vocabularies[name] = categorical_codes(values)
    prices = np.array([float(r["price"]) if r["price"] is not None else np.nan for r in item_rows])
    attributes["price_bucket"], vocabularies["price_bucket"] = price_buckets(prices)
    vectors, mask, vector_version = item_vectors_for(pks)
    items = ItemTable(
        ids=np.array([r["external_id"] for r in item_rows]),
        is_target=np.array([r["is_jewelry"] for r in item_rows], dtype=bool),
        attributes=attributes,
        vocabularies=vocabularies,
        texts=[f"{r['title']}. {r['description']}" for r in item_rows],
    )
    if mask.any():
        items.set_vectors(vectors, mask)

    customer_pks = sorted({e[0] for e in ev})
    cpos = {pk: i for i, pk in enumerate(customer_pks)}
    tiers = dict(Customer.objects.values_list("id", "tier__rank").iterator(chunk_size=10000))
    users = UserTable(
        ids=np.array([str(pk) for pk in customer_pks]),
        tier=np.array([tiers.get(pk) or 0 for pk in customer_pks], dtype=np.int64),
    )
    n = len(ev)
    interactions = InteractionData(
        user_idx=np.fromiter((cpos[e[0]] for e in ev), dtype=np.int64, count=n),
        item_idx=np.fromiter((pos[e[1]] for e in ev), dtype=np.int64, count=n),
        timestamp=np.fromiter((int(e[2].timestamp()) for e in ev), dtype=np.int64, count=n),
        weight=np.fromiter((EVENT_WEIGHTS.get(e[3], 0.25) for e in ev), dtype=np.float32, count=n),
        event_type=np.fromiter((EVENT_TYPES.index(e[3]) for e in ev), dtype=np.int8, count=n),
        channel=np.fromiter((CHANNEL_CODES.get(e[4] or "", 0) for e in ev), dtype=np.int8, count=n),
    )
    data = RecData(users=users, items=items, interactions=interactions, n_tiers=4)
    n_target = int(items.is_target[interactions.item_idx].sum()) if n else 0
    if n_target < min_target_interactions:
        raise DatasetTooSmall(
            f"Only {n_target} jewelry interactions up to {until or 'now'}; at least {min_target_interactions} are needed to train."
        )
    snapshot = {
        "until": (until.isoformat() if until else None),
        "events": n,
        "jewelry_events": n_target,
        "customers": len(customer_pks),
        "items": len(pks),
        "jewelry_items": int(items.is_target.sum()),
        "items_with_vectors": int(mask.sum()),
        "vector_version": vector_version,
        "first_event": ev[0][2].isoformat() if ev else None,
        "last_event": max(e[2] for e in ev).isoformat() if ev else None,
    }
    return data, snapshot
