"""How catalog items become the ML core's item features, for training and serving alike.

Training builds its vocabularies through ``item_attribute_values`` and serving maps items
added after training through the same function, so a new item's attributes land on the
codes the trained model knows.
"""
from __future__ import annotations

import numpy as np

from recommender.models import ItemVector

# Item model field behind each ML attribute (price_bucket is derived from price).
ATTRIBUTE_FIELDS = {
    "product_type": "product_type",
    "product_group": "product_group",
    "colour": "colour",
    "colour_master": "colour_master",
    "appearance": "appearance",
    "section": "section",
    "index_group": "index_group",
    "department": "department",
}
ITEM_VALUE_FIELDS = ("id", "external_id", "is_jewelry", "title", "description", "price", *ATTRIBUTE_FIELDS.values())


def item_attribute_values(rows: list[dict]) -> dict[str, list[str]]:
    """Raw attribute strings per ML attribute for item value-dicts (``ITEM_VALUE_FIELDS``)."""
    return {name: [r.get(field) or "" for r in rows] for name, field in ATTRIBUTE_FIELDS.items()}


def item_vectors_for(item_pks: list[int], dim: int = 512) -> tuple[np.ndarray, np.ndarray, str]:
    """Fused vectors for these items (zeros + False mask where an item has none)."""
    pos = {pk: i for i, pk in enumerate(item_pks)}
    vectors = np.zeros((len(item_pks), dim), dtype=np.float32)
    mask = np.zeros(len(item_pks), dtype=bool)
    versions: dict[str, int] = {}
    qs = ItemVector.objects.filter(vector__isnull=False, dim=dim).values_list("item_id", "vector", "fusion_version")
    for item_id, blob, version in qs.iterator(chunk_size=2000):
        i = pos.get(item_id)
        if i is None:
            continue
        vectors[i] = np.frombuffer(bytes(blob), dtype="<f4", count=dim)
        mask[i] = True
        versions[version] = versions.get(version, 0) + 1
    return vectors, mask, (max(versions, key=versions.get) if versions else "")
