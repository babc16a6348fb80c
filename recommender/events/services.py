"""Behaviour ingestion: validate, de-duplicate and store customer events.

The storefront API and the file importer both go through here. An event's
``event_id`` (stored as ``client_event_id``, unique) makes posting idempotent: a
retried batch stores nothing twice and reports those events as ``duplicate``.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from recommender.catalog.services import tiers_ensure
from recommender.ml.data import CHANNEL_CODES
from recommender.models import Customer, Event, Item
from recommender.serving.customers import customer_context_invalidate

EVENT_TYPES = {t.value for t in Event.Type}
# Common spellings a storefront might send, mapped to the stored type.
EVENT_TYPE_ALIASES = {"favourite": "favorite", "fav": "favorite", "cart": "add_to_cart", "add-to-cart": "add_to_cart",
                      "addtocart": "add_to_cart", "buy": "purchase", "order": "purchase"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# SQLite allows 999 parameters per query; stay well below for ``__in`` lookups.
IN_CHUNK = 900


class EventInvalid(ValueError):
    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass
class EventResult:
    """The outcome of one input event, in input order (``index`` is its 0-based position)."""

    index: int
    status: Literal["created", "duplicate", "error"]
    event_id: str | None = None
    message: str = ""
    field: str = ""
    id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CleanEvent:
    customer_id: str
    item_id: str
    event_type: str
    timestamp: datetime
    price: Decimal | None
    channel: str
    event_id: str | None


# --- field parsing (shared with the file importer) --------------------------------------------


def parse_identifier(value: Any, field: str, *, max_length: int, required: bool = True) -> str | None:
    text = "" if value is None else str(value).strip()
    if not text:
        if required:
            raise EventInvalid(field, "is required")
        return None
    if len(text) > max_length:
        raise EventInvalid(field, f"is longer than {max_length} characters")
    if _CONTROL.search(text):
        raise EventInvalid(field, "contains control characters")
    return text


def parse_channel(value: Any) -> str:
    """"online", "store", or "" when the storefront does not say."""
    text = "" if value is None else str(value).strip().lower()
    if text and text not in CHANNEL_CODES:
        raise EventInvalid("channel", f"must be one of {', '.join(sorted(CHANNEL_CODES))}; got '{str(value)[:40]}'")
    return text


def parse_event_type(value: Any) -> str:
    text = "" if value is None else str(value).strip().lower()
    if not text:
        raise EventInvalid("type", "is required")
    text = EVENT_TYPE_ALIASES.get(text, text)
    if text not in EVENT_TYPES:
        raise EventInvalid("type", f"unknown event type '{value}'; use one of {', '.join(sorted(EVENT_TYPES))}")
    return text


def parse_timestamp(value: Any) -> datetime:
    """A datetime, or an ISO 8601 string (a date alone means midnight UTC); naive times are UTC."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise EventInvalid("timestamp", "is required")
    if isinstance(value, datetime):
        ts = value
    elif isinstance(value, date):
        ts = datetime.combine(value, time(0, 0))
    else:
        text = str(value).strip()
        try:
            ts = parse_datetime(text.replace(" ", "T", 1) if len(text) > 10 else text)
            if ts is None:
                d = parse_date(text)
                ts = datetime.combine(d, time(0, 0)) if d else None
        except ValueError:
            ts = None
        if ts is None:
            raise EventInvalid("timestamp", f"'{text}' is not an ISO 8601 date or time (e.g. 2024-05-01T14:30:00Z)")
    if timezone.is_naive(ts):
        ts = ts.replace(tzinfo=UTC)
    if ts.year < 1970 or ts.year > 2100:
        raise EventInvalid("timestamp", f"'{value}' is outside 1970..2100")
    return ts


def parse_event_price(value: Any) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and value != value:
        return None
    try:
        price = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise EventInvalid("price", f"'{value}' is not a number") from None
    if not price.is_finite():
        raise EventInvalid("price", f"'{value}' is not a finite number")
    if price < 0:
        raise EventInvalid("price", f"must be >= 0, got {value}")
    price = price.quantize(Decimal("0.000001"))
    if price >= Decimal("1e6"):
        raise EventInvalid("price", f"{value} is too large")
    return price


def event_clean(raw: dict[str, Any]) -> CleanEvent:
    """Validate one event dict; raises :class:`EventInvalid` naming the first bad field."""
    if not isinstance(raw, dict):
        raise EventInvalid("", "each event must be an object")
    event_type = raw.get("type", raw.get("event_type"))
    return CleanEvent(
        event_id=parse_identifier(raw.get("event_id"), "event_id", max_length=128, required=False),
        customer_id=parse_identifier(raw.get("customer_id"), "customer_id", max_length=128),
        item_id=parse_identifier(raw.get("item_id"), "item_id", max_length=64),
        event_type=parse_event_type(event_type),
        timestamp=parse_timestamp(raw.get("timestamp")),
        price=parse_event_price(raw.get("price")),
        channel=parse_channel(raw.get("channel")),
    )


# --- lookups --------------------------------------------------------------------------------


def _chunks(values: list, size: int = IN_CHUNK):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def item_pks_by_external_id(external_ids: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(external_ids)):
        found.update(Item.objects.filter(external_id__in=chunk).values_list("external_id", "id"))
    return found


def existing_event_ids(client_ids: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(client_ids)):
        found.update(Event.objects.filter(client_event_id__in=chunk).values_list("client_event_id", "id"))
    return found


def customers_ensure(external_ids: set[str]) -> tuple[dict[str, int], int]:
    """Customer pks by external id, creating the missing ones without membership (tier ``none``).

    Returns ``(pks, created_count)``. Race-safe: a concurrent creator wins and we re-read.
    """
    pks: dict[str, int] = {}
    for chunk in _chunks(sorted(external_ids)):
        pks.update(Customer.objects.filter(external_id__in=chunk).values_list("external_id", "id"))
    missing = sorted(external_ids - pks.keys())
    if missing:
        none_tier = tiers_ensure()["none"]
        Customer.objects.bulk_create(
            [Customer(external_id=c, tier=none_tier) for c in missing], batch_size=2000, ignore_conflicts=True
        )
        for chunk in _chunks(missing):
            pks.update(Customer.objects.filter(external_id__in=chunk).values_list("external_id", "id"))
    return pks, len(missing)


# --- ingestion ------------------------------------------------------------------------------


def events_ingest(batch: list[dict[str, Any]]) -> list[EventResult]:
    """Store a batch of events; one result per input event, in input order.

    - invalid fields or an unknown item -> ``error`` with ``field`` and ``message``;
      the valid events of the batch are still stored.
    - an ``event_id`` already stored, or repeated earlier in the same batch -> ``duplicate``
      (nothing stored twice; ``id`` is the stored event's id where known).
    - unknown customers are created without membership.
    """
    results: list[EventResult | None] = [None] * len(batch)
    cleaned: dict[int, CleanEvent] = {}
    for index, raw in enumerate(batch):
        try:
            cleaned[index] = event_clean(raw)
        except EventInvalid as exc:
            event_id = raw.get("event_id") if isinstance(raw, dict) else None
            results[index] = EventResult(
                index, "error", str(event_id) if event_id is not None else None, exc.message, exc.field
            )

    items = item_pks_by_external_id({e.item_id for e in cleaned.values()})
    for index, event in list(cleaned.items()):
        if event.item_id not in items:
            results[index] = EventResult(index, "error", event.event_id, f"unknown item id '{event.item_id}'", "item_id")
            del cleaned[index]

    first_in_batch: dict[str, int] = {}
    for index, event in list(cleaned.items()):
        if event.event_id is None:
            continue
        if event.event_id in first_in_batch:
            results[index] = EventResult(
                index, "duplicate", event.event_id, f"same event_id as event #{first_in_batch[event.event_id]} of this batch"
            )
            del cleaned[index]
        else:
            first_in_batch[event.event_id] = index

    with transaction.atomic():
        stored = existing_event_ids(set(first_in_batch))
        for index, event in list(cleaned.items()):
            if event.event_id in stored:
                results[index] = EventResult(
                    index, "duplicate", event.event_id, "already stored", id=stored[event.event_id]
                )
                del cleaned[index]
        customers, _ = customers_ensure({e.customer_id for e in cleaned.values()})
        # their served context changes once this commits (new customers included)
        customer_context_invalidate(customers)
        rows = {
            index: Event(
                customer_id=customers[e.customer_id],
                item_id=items[e.item_id],
                event_type=e.event_type,
                timestamp=e.timestamp,
                price=e.price,
                channel=e.channel,
                client_event_id=e.event_id,
            )
            for index, e in cleaned.items()
        }
        _insert_events(rows, results)
        # Batch duplicates point at the stored original.
        for result in results:
            if result and result.status == "duplicate" and result.id is None and result.event_id:
                first = results[first_in_batch[result.event_id]]
                if first and first.id:
                    result.id = first.id
    return [r for r in results if r is not None]


def _insert_events(rows: dict[int, Event], results: list[EventResult | None]) -> None:
    if not rows:
        return
    try:
        with transaction.atomic():
            Event.objects.bulk_create(list(rows.values()), batch_size=1000)
        for index, event in rows.items():
            results[index] = EventResult(index, "created", event.client_event_id, id=event.pk)
        return
    except IntegrityError:
        pass  # a concurrent request stored some of the same event ids: sort it out row by row
    for index, event in rows.items():
        event.pk = None
        try:
            with transaction.atomic():
                event.save(force_insert=True)
            results[index] = EventResult(index, "created", event.client_event_id, id=event.pk)
        except IntegrityError as exc:
            existing = (
                Event.objects.filter(client_event_id=event.client_event_id).values_list("id", flat=True).first()
                if event.client_event_id
                else None
            )
            if existing:
                results[index] = EventResult(index, "duplicate", event.client_event_id, "already stored", id=existing)
            else:
                results[index] = EventResult(index, "error", event.client_event_id, f"could not store: {exc}")
