"""Fixtures for the merchandiser pages: logged-in clients and small realistic rows."""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from django.core.cache import cache
from django.test import Client

from recommender.models import Customer, Event, Item, ItemVector, Job

T0 = datetime(2020, 9, 16, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def _clear_dashboard_cache():
    # Dashboard aggregates are cached; each test must see only its own rows.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(username="merch", password="pw-merch-123", is_staff=True)


@pytest.fixture
def plain_user(django_user_model):
    return django_user_model.objects.create_user(username="shopper", password="pw-shop-123", is_staff=False)


@pytest.fixture
def staff_client(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def csrf_client(staff_user) -> Client:
    """A logged-in client that enforces CSRF like a browser."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    return client


def make_item(external_id: str, *, product_type: str = "Ring", is_jewelry: bool | None = None, **extra) -> Item:
    jewelry = product_type in {"Ring", "Earring", "Earrings", "Necklace", "Bracelet"} if is_jewelry is None else is_jewelry
    fields = {"title": f"Item {external_id}", "product_group": "Accessories", "colour": "Gold", "price": "0.0250"}
    fields.update(extra)
    return Item.objects.create(external_id=external_id, product_type=product_type, is_jewelry=jewelry, **fields)


def make_events(items: list[Item], *, per_item: list[int], event_type: str = "purchase", day_offset: int = 0) -> None:
    customer, _ = Customer.objects.get_or_create(external_id="c-1")
    rows = []
    for item, n in zip(items, per_item):
        for k in range(n):
            rows.append(
                Event(
                    customer=customer,
                    item=item,
                    event_type=event_type,
                    timestamp=T0 + timedelta(days=day_offset + (k % 3), minutes=k),
                )
            )
    Event.objects.bulk_create(rows)


def make_vectors(items: list[Item], dim: int = 16, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    ItemVector.objects.bulk_create(
        [
            ItemVector(item=item, status="current", dim=dim, vector=rng.standard_normal(dim).astype("<f4").tobytes())
            for item in items
        ]
    )


def png_bytes(colour=(200, 160, 40), size=(24, 32)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def job(db) -> Job:
    return Job.objects.create(kind=Job.Kind.TRAIN, message="Queued")
