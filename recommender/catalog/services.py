"""Write-side catalog services: items, their photos and membership tiers.

Views, commands, importers and tasks call these; none of them writes catalog rows directly.
"""
from __future__ import annotations

import contextvars
import hashlib
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from recommender.embeddings.services import item_embedding_start
from recommender.ml.data import JEWELRY_TYPE_SPELLINGS, JEWELRY_TYPES
from recommender.models import Customer, Event, Item, ItemImage, MembershipTier

from .images import ImageRejected, ValidatedImage, image_validate

__all__ = [
    "DEFAULT_TIERS",
    "DuplicateExternalId",
    "ImageRejected",
    "ItemInvalid",
    "JEWELRY_TYPES",
    "customer_tier_code_for",
    "is_jewelry_type",
    "product_type_normalise",
    "item_create",
    "item_exclusive_tier_code_for",
    "item_image_add",
    "item_image_delete",
    "item_images_reorder",
    "item_photos_upload",
    "item_prices_fill_from_purchases",
    "item_update",
    "photo_files_rollback_guard",
    "tiers_ensure",
]


# (code, name, rank). Rank orders access: an exclusive item is visible from its tier's rank up.
DEFAULT_TIERS: tuple[tuple[str, str, int], ...] = (
    ("none", "No membership", 0),
    ("silver", "Silver", 1),
    ("gold", "Gold", 2),
    ("platinum", "Platinum", 3),
)

ITEM_FIELDS = frozenset(
    f.name for f in Item._meta.get_fields() if f.concrete and f.name not in {"id", "created_at", "updated_at"}
)
# What the item's vector is made of (besides its photos): a change to one of them queues a new vector.
EMBEDDING_INPUT_FIELDS = frozenset({
    "title", "description", "product_type", "colour", "colour_master", "material", "appearance", "department",
    "section", "index_group", "price", "exclusive_tier", "exclusive_tier_id",
})
# Ids are used in stored photo paths and URLs, so path separators and control characters are refused.
_BAD_ID_CHARS = re.compile(r"[\x00-\x1f\x7f/\\]")


class ItemInvalid(ValueError):
    """An item field failed validation. ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class DuplicateExternalId(ItemInvalid):
    def __init__(self, external_id: str) -> None:
        self.external_id = external_id
        super().__init__("external_id", f"an item with id '{external_id}' already exists")


def is_jewelry_type(product_type: str) -> bool:
    return (product_type or "").strip().lower() in JEWELRY_TYPES


def product_type_normalise(product_type: str) -> str:
    """The canonical spelling of a product type ("Earrings", " earring" -> "Earring").

    Only the jewelry types have a canonical form; other types are kept as written (trimmed),
    because a plural is not always a variant there ("Trousers", "Shorts").
    """
    text = (product_type or "").strip()
    return JEWELRY_TYPE_SPELLINGS.get(text.lower(), text)


# --- membership tiers -------------------------------------------------------------------


def tiers_ensure() -> dict[str, MembershipTier]:
    """Create the default tiers that are missing; existing rows (and renamed ones) are kept."""
    existing = {t.code: t for t in MembershipTier.objects.all()}
    missing = [
        MembershipTier(code=code, name=name, rank=rank) for code, name, rank in DEFAULT_TIERS if code not in existing
    ]
    if missing:
        MembershipTier.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {t.code: t for t in MembershipTier.objects.all()}
    return existing


def _bucket(key: str, salt: str) -> int:
    """A stable number in 0..9999 for ``key``; the salt keeps the customer and item splits independent."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000


def customer_tier_code_for(customer_id: str) -> str:
    """Sample-data tier rule: 60% none, 25% silver, 10% gold, 5% platinum by sha256 bucket."""
    b = _bucket(customer_id, "tier")
    if b < 6_000:
        return "none"
    if b < 8_500:
        return "silver"
    if b < 9_500:
        return "gold"
    return "platinum"


def item_exclusive_tier_code_for(external_id: str, *, is_jewelry: bool) -> str | None:
    """Sample-data exclusivity rule: 8% of jewelry is member-only (4% silver, 2.5% gold, 1.5% platinum)."""
    if not is_jewelry:
        return None
    b = _bucket(external_id, "exclusive")
    if b < 400:
        return "silver"
    if b < 650:
        return "gold"
    if b < 800:
        return "platinum"
    return None


# --- items ---------------------------------------------------------------------------------


def validate_external_id(value: Any, *, field: str = "external_id", max_length: int = 64) -> str:
    text = "" if value is None else str(value).strip()
    if not text:
        raise ItemInvalid(field, "must not be empty")
    if len(text) > max_length:
        raise ItemInvalid(field, f"is longer than {max_length} characters")
    if _BAD_ID_CHARS.search(text) or text in {".", ".."}:
        raise ItemInvalid(field, f"'{text}' contains a slash, backslash or control character")
    return text


def parse_price(value: Any, *, field: str = "price") -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float):
        if value != value:  # NaN: an empty cell from pandas
            return None
        value = repr(value)
    try:
        price = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ItemInvalid(field, f"'{value}' is not a number") from None
    if not price.is_finite():
        raise ItemInvalid(field, f"'{value}' is not a finite number")
    if price < 0:
        raise ItemInvalid(field, f"must be >= 0, got {value}")
    # Item.price has 6 decimal places and 14 digits.
    price = price.quantize(Decimal("0.000001"))
    if price >= Decimal("1e8"):
        raise ItemInvalid(field, f"{value} is too large")
    return price


def _clean_item_fields(fields: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    unknown = set(fields) - ITEM_FIELDS
    if unknown:
        raise ItemInvalid(sorted(unknown)[0], "is not an item field")
    cleaned = dict(fields)
    if "external_id" in cleaned or creating:
        cleaned["external_id"] = validate_external_id(cleaned.get("external_id"))
    for required in ("title", "product_type"):
        if required in cleaned or creating:
            value = (cleaned.get(required) or "").strip()
            if not value:
                raise ItemInvalid(required, "must not be empty")
            cleaned[required] = value
    if "product_type" in cleaned:
        cleaned["product_type"] = product_type_normalise(cleaned["product_type"])
    if "price" in cleaned:
        cleaned["price"] = parse_price(cleaned["price"])
    if "currency" in cleaned:
        currency = (cleaned["currency"] or "").strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise ItemInvalid("currency", f"'{cleaned['currency']}' is not a 3-letter currency code")
        cleaned["currency"] = currency
    if "style_tags" in cleaned:
        tags = cleaned["style_tags"] or []
        if isinstance(tags, str):
            tags = tags.split(";")
        cleaned["style_tags"] = [str(t).strip() for t in tags if str(t).strip()]
    if isinstance(cleaned.get("exclusive_tier"), str):
        code = cleaned["exclusive_tier"].strip()
        if code:
            tier = MembershipTier.objects.filter(code=code).first()
            if tier is None:
                raise ItemInvalid("exclusive_tier", f"unknown tier '{code}'")
            cleaned["exclusive_tier"] = tier
        else:
            cleaned["exclusive_tier"] = None
    for name, value in list(cleaned.items()):
        f = Item._meta.get_field(name)
        max_length = getattr(f, "max_length", None)
        if max_length and isinstance(value, str) and len(value) > max_length:
            raise ItemInvalid(name, f"is longer than {max_length} characters")
    return cleaned


def item_create(*, user=None, **fields: Any) -> Item:
    """Create an item and queue its first vector on the embedding queue.

    ``is_jewelry`` follows ``product_type`` unless given explicitly.
    """
    cleaned = _clean_item_fields(fields, creating=True)
    cleaned.setdefault("is_jewelry", is_jewelry_type(cleaned["product_type"]))
    if Item.objects.filter(external_id=cleaned["external_id"]).exists():
        raise DuplicateExternalId(cleaned["external_id"])
    try:
        with transaction.atomic():
            item = Item.objects.create(**cleaned)
            item_embedding_start(item, user=user)
            return item
    except IntegrityError as exc:
        if Item.objects.filter(external_id=cleaned["external_id"]).exists():
            raise DuplicateExternalId(cleaned["external_id"]) from exc
        raise


def item_update(item: Item, *, user=None, **fields: Any) -> Item:
    """Update the given fields only; a change to what the encoders read queues a new vector.

    A new ``product_type`` re-derives ``is_jewelry`` unless it is given.
    """
    cleaned = _clean_item_fields(fields, creating=False)
    if "product_type" in cleaned and "is_jewelry" not in cleaned:
        cleaned["is_jewelry"] = is_jewelry_type(cleaned["product_type"])
    new_id = cleaned.get("external_id")
    if new_id and new_id != item.external_id and Item.objects.filter(external_id=new_id).exists():
        raise DuplicateExternalId(new_id)
    embedded_changed = any(
        getattr(item, name) != value for name, value in cleaned.items() if name in EMBEDDING_INPUT_FIELDS
    )
    for name, value in cleaned.items():
        setattr(item, name, value)
    try:
        with transaction.atomic():
            item.save(update_fields=[*cleaned.keys(), "updated_at"] if cleaned else None)
            if embedded_changed:
                item_embedding_start(item, user=user)
    except IntegrityError as exc:
        if new_id and Item.objects.filter(external_id=new_id).exclude(pk=item.pk).exists():
            raise DuplicateExternalId(new_id) from exc
        raise
    return item


def item_prices_fill_from_purchases(item_pks: Iterable[int] | None = None) -> int:
    """Give items without a price the median price of their purchases; returns how many changed.

    Items that already have a price keep it (the catalog is the authority once it has
    one); items never bought at a price stay without one.
    """
    targets = Item.objects.filter(price__isnull=True)
    if item_pks is not None:
        targets = targets.filter(pk__in=list(item_pks))
    purchases = Event.objects.filter(event_type=Event.Type.PURCHASE, price__isnull=False, item_id__in=targets.values("id"))
    by_item: dict[int, list[Decimal]] = {}
    for item_id, price in purchases.values_list("item_id", "price").iterator(chunk_size=10_000):
        by_item.setdefault(item_id, []).append(price)
    now = timezone.now()
    updates = []
    for item_id, prices in by_item.items():
        prices.sort()
        mid = len(prices) // 2
        median = prices[mid] if len(prices) % 2 else (prices[mid - 1] + prices[mid]) / 2
        updates.append(Item(pk=item_id, price=median.quantize(Decimal("0.01")), updated_at=now))
    Item.objects.bulk_update(updates, ["price", "updated_at"], batch_size=500)
    return len(updates)


# --- photos ---------------------------------------------------------------------------------

# Names of photo files stored inside the current ``photo_files_rollback_guard`` block.
_stored_files: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("jewelrec_stored_files", default=None)


@contextmanager
def photo_files_rollback_guard() -> Iterator[list[str]]:
    """Delete photo files stored inside this block if the block raises.

    A database rollback cannot un-write files; wrap ``transaction.atomic()`` in this so an
    all-or-nothing import also leaves the media storage as it found it.
    """
    stored: list[str] = []
    token = _stored_files.set(stored)
    try:
        yield stored
    except BaseException:
        storage = ItemImage._meta.get_field("image").storage
        for name in stored:
            try:
                storage.delete(name)
            except OSError:
                pass
        raise
    finally:
        _stored_files.reset(token)


def item_image_add(
    item: Item,
    fileobj_or_bytes=None,
    *,
    position: int | None = None,
    name: str = "photo",
    validated: ValidatedImage | None = None,
) -> ItemImage:
    """Validate and store a photo of ``item``; the same bytes twice return the existing row.

    ``name`` is only used in error messages; the stored file name is derived from the item
    id and the content hash. Raises :class:`ImageRejected` for anything that is not a photo.
    """
    image = validated or image_validate(fileobj_or_bytes, name=name)
    existing = ItemImage.objects.filter(item=item, content_hash=image.content_hash).first()
    if existing is not None:
        return existing
    if position is None:
        last = ItemImage.objects.filter(item=item).aggregate(m=Max("position"))["m"]
        position = 0 if last is None else last + 1
    row = ItemImage(
        item=item,
        content_hash=image.content_hash,
        width=image.width,
        height=image.height,
        mode=image.mode[:16],
        format=image.format,
        size_bytes=image.size_bytes,
        position=position,
    )
    field = ItemImage._meta.get_field("image")
    target = field.generate_filename(row, "upload")
    if field.storage.exists(target):
        # An orphan left by a crash between the file write and the commit: no row points at it
        # (the (item, hash) check above), so overwrite it instead of storing a renamed copy.
        field.storage.delete(target)
    row.image.save("upload", ContentFile(image.data), save=False)
    # ImageField re-reads dimensions on assignment (and may get None back from its own
    # parser); the validated values are authoritative.
    row.width, row.height = image.width, image.height
    stored = _stored_files.get()
    if stored is not None:
        stored.append(row.image.name)
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        field.storage.delete(row.image.name)
        if stored is not None and row.image.name in stored:
            stored.remove(row.image.name)
        # Someone stored the same photo concurrently: theirs wins. Anything else is a real error.
        winner = ItemImage.objects.filter(item=item, content_hash=image.content_hash).first()
        if winner is None:
            raise
        return winner
    except BaseException:
        field.storage.delete(row.image.name)
        raise
    return row


def item_image_delete(image: ItemImage, *, user=None) -> None:
    """Delete the row, then the file once the transaction commits (a rollback keeps both).

    The item's vector averaged this photo in, so a new one is queued.
    """
    name = image.image.name
    storage = image.image.storage
    item = image.item
    with transaction.atomic():
        image.delete()
        item_embedding_start(item, user=user)
    if name:
        transaction.on_commit(lambda: storage.delete(name))


@dataclass
class PhotoUpload:
    added: list[ItemImage]
    rejected: list[str]  # "<file name>: <why>"
    job: Any = None  # the embedding Job queued for the new photos, if any


def item_photos_upload(item: Item, uploads: Iterable, *, user=None) -> PhotoUpload:
    """Store uploaded photos of an item and queue its new vector on the embedding queue.

    Each photo is validated on its own: a rejected file does not stop the others. The vector
    job is queued once for all photos added, after the photos have committed.
    """
    added: list[ItemImage] = []
    rejected: list[str] = []
    with transaction.atomic():
        for upload in uploads:
            name = getattr(upload, "name", "photo")
            try:
                added.append(item_image_add(item, upload, name=name))
            except ImageRejected as exc:
                rejected.append(f"{name}: {exc}")
        job = item_embedding_start(item, user=user) if added else None
    return PhotoUpload(added, rejected, job)


def item_images_reorder(item: Item, image_ids: Iterable[int]) -> list[ItemImage]:
    """Set positions 0..n-1 in the given order; ids must be exactly the item's photos."""
    ids = [int(i) for i in image_ids]
    with transaction.atomic():
        images = {img.pk: img for img in ItemImage.objects.select_for_update().filter(item=item)}
        if len(ids) != len(set(ids)) or set(ids) != set(images):
            raise ValueError(
                f"reorder needs each photo of item {item.external_id} exactly once: "
                f"got {sorted(ids)}, item has {sorted(images)}"
            )
        ordered = [images[i] for i in ids]
        for position, img in enumerate(ordered):
            img.position = position
        ItemImage.objects.bulk_update(ordered, ["position"])
    return ordered


def customer_get_or_create(external_id: str) -> Customer:
    """A customer by the retailer's id; new customers start without membership (tier ``none``)."""
    customer = Customer.objects.filter(external_id=external_id).first()
    if customer:
        return customer
    tier = tiers_ensure()["none"]
    customer, _ = Customer.objects.get_or_create(external_id=external_id, defaults={"tier": tier})
    return customer
