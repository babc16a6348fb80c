"""Read-side queries over the catalog."""
from __future__ import annotations

from django.db.models import Count, Q

from recommender.models import Customer, Event, Item, ItemImage


def catalog_summary() -> dict[str, int]:
    items = Item.objects.aggregate(
        total=Count("id"),
        jewelry=Count("id", filter=Q(is_jewelry=True)),
        active_jewelry=Count("id", filter=Q(is_jewelry=True, is_active=True)),
    )
    return {
        **items,
        "photos": ItemImage.objects.count(),
        "customers": Customer.objects.count(),
        "events": Event.objects.count(),
    }


def item_get(external_id: str) -> Item | None:
    return Item.objects.filter(external_id=external_id).first()
