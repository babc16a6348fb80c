"""factory_boy factories for the catalog and events. Build real rows with valid defaults."""
from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta

import factory
from django.core.files.base import ContentFile
from PIL import Image

from recommender.models import Customer, Event, Item, ItemImage, MembershipTier


class MembershipTierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MembershipTier
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"tier{n}")
    name = factory.LazyAttribute(lambda o: o.code.title())
    rank = factory.Sequence(lambda n: 10 + n)


class ItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Item

    external_id = factory.Sequence(lambda n: f"T{n:06d}")
    title = factory.Sequence(lambda n: f"Test earring {n}")
    description = "Hoop earrings in gold-plated metal."
    product_type = "Earring"
    product_group = "Accessories"
    is_jewelry = factory.LazyAttribute(lambda o: o.product_type.lower() in {"earring", "earrings", "necklace", "ring", "bracelet"})
    colour = "Gold"
    price = factory.Sequence(lambda n: 10 + n % 50)
    currency = "EUR"


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    external_id = factory.Sequence(lambda n: f"cust-{n:06d}")


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    customer = factory.SubFactory(CustomerFactory)
    item = factory.SubFactory(ItemFactory)
    event_type = Event.Type.PURCHASE
    timestamp = factory.Sequence(lambda n: datetime(2020, 9, 16, 12, tzinfo=UTC) + timedelta(minutes=n))
    price = "12.50"
    channel = "online"


def png_bytes(colour: tuple[int, int, int] = (200, 160, 40), size: tuple[int, int] = (32, 24), mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, colour if mode == "RGB" else 0).save(buf, format="PNG")
    return buf.getvalue()


class ItemImageFactory(factory.django.DjangoModelFactory):
    """A real, small PNG stored through the storage (the colour varies so hashes differ)."""

    class Meta:
        model = ItemImage
        exclude = ("data",)

    item = factory.SubFactory(ItemFactory)
    data = factory.Sequence(lambda n: png_bytes(colour=(n % 256, (n // 256) % 256, 99)))
    content_hash = factory.LazyAttribute(lambda o: hashlib.sha256(o.data).hexdigest())
    format = "PNG"
    mode = "RGB"
    width = 32
    height = 24
    size_bytes = factory.LazyAttribute(lambda o: len(o.data))
    image = factory.LazyAttribute(lambda o: ContentFile(o.data, name="factory.png"))
    position = factory.Sequence(lambda n: n)


def item_vectors_clustered(items, centres, spread: float, rng) -> None:
    """Store one current 512-d unit vector per item: the centre of its cluster (``n %
    len(centres)``) plus ``spread`` of noise, so nearest neighbours are known in advance."""
    import numpy as np

    from recommender.models import ItemVector

    vectors = []
    for n, item in enumerate(items):
        v = centres[n % len(centres)] + spread * rng.standard_normal(centres.shape[1]).astype(np.float32)
        vectors.append(ItemVector(item=item, status="current", vector=(v / np.linalg.norm(v)).astype("<f4").tobytes(),
                                  dim=centres.shape[1], fusion_version="test", has_text=True))
    ItemVector.objects.bulk_create(vectors)
