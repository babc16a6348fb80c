"""Real encoder outputs for the small ``shop``, computed once per test session.

Loading the encoders and encoding the shop costs tens of seconds on 2 cores, and every
test's rows are rolled back. So the first use runs the real ``embed_items`` (text + photo
encoders, fusion) and keeps the stored rows in memory; later uses re-insert the same rows
for that test's fresh shop, matched by external id and photo hash.
"""
from __future__ import annotations

from pathlib import Path

from django.conf import settings

from recommender.catalog.services import item_image_add
from recommender.embeddings.services import embed_items
from recommender.models import EncoderOutput, Item, ItemImage, ItemVector
from recommender.serving.catalog import serving_catalog_invalidate

# Item (shop key) -> a real product photo of the same type from the sample data.
PHOTOS = {
    "ring": "jewelry-photos/catalog-gold/ring/Cigar-Band.png",
    "chain": "hm-jewelry/images/0235596002.jpg",
    "gold_vip": "jewelry-photos/catalog-gold/ring/Croissant-14k-Pinky-Ring-Side.png",
}

_snapshot: dict[str, list[dict]] = {}


def data_path(relative: str) -> Path:
    return Path(settings.JEWELREC_DATA_DIR) / relative


def _rows(model, item_ext: dict[int, str]) -> list[dict]:
    out = []
    for row in model.objects.filter(item_id__in=item_ext).values():
        row = dict(row)
        row.pop("id")
        row["_item"] = item_ext[row.pop("item_id")]
        out.append(row)
    return out


def shop_vectors_install(shop: dict) -> dict:
    """Give the shop's items photos, search-encoder text vectors and fused vectors."""
    items: dict[str, Item] = shop["items"]
    for key, relative in PHOTOS.items():
        item_image_add(items[key], data_path(relative).read_bytes(), name=Path(relative).name)
    pks = {item.pk: item.external_id for item in items.values()}
    if not _snapshot:
        embed_items(sorted(pks))
        _snapshot["outputs"] = _rows(EncoderOutput, dict(pks))
        _snapshot["vectors"] = _rows(ItemVector, dict(pks))
    else:
        by_ext = {ext: pk for pk, ext in pks.items()}
        for model, key in ((EncoderOutput, "outputs"), (ItemVector, "vectors")):
            objs = []
            for row in _snapshot[key]:
                row = dict(row)
                objs.append(model(item_id=by_ext[row.pop("_item")], **row))
            model.objects.bulk_create(objs)
    assert ItemImage.objects.filter(item__external_id__in=[items[k].external_id for k in PHOTOS]).count() == len(PHOTOS)
    serving_catalog_invalidate()
    return shop
