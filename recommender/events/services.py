"""Behaviour ingestion: validate, de-duplicate and store customer events.

The storefront API and the file importer both go through here. An event's
``event_id`` (stored as ``client_event_id``, unique) makes posting idempotent: a
retried batch stores nothing twice and reports those events as ``duplicate``.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from django.db import DataError, IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from recommender.catalog.services import tiers_ensure
from recommender.impressions.attribution import AttributionRequest, events_attribute
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
# Prices are stored with 6 decimals in 12 digits (``Event.price``): anything at or above this
# cannot be stored, and nothing a shop sells costs that much in any currency it would send.
PRICE_LIMIT = Decimal("1e6")
# Clocks drift and a naive local time read as UTC can be up to 14 h ahead; a day covers both.
# Anything later is a client bug, and would sort above every real event in the history.
TIMESTAMP_FUTURE_SLACK = timedelta(days=1)
TIMESTAMP_MIN_YEAR = 1970


class EventInvalid(ValueError):
    """One bad field of one event. ``code`` is the stable machine-readable reason the API returns."""

    def __init__(self, field: str, message: str, code: str = "invalid") -> None:
        self.field = field
        self.message = message
        self.code = code
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
    code: str = ""  # set for errors: why this event was rejected
    # for stored events with a recommendation_id or a window match: attributed, pending or skipped (and why)
    attribution: dict[str, Any] | None = None

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
    recommendation_id: str | None = None


# --- field parsing (shared with the file importer) --------------------------------------------


def parse_identifier(value: Any, field: str, *, max_length: int, required: bool = True,
                     blank_is_absent: bool = True) -> str | None:
    """A string or integer id, stripped. Absent (``None``) is allowed when not required.

    ``blank_is_absent=False`` refuses a blank optional id instead of dropping it: an API
    ``event_id`` of spaces would otherwise store the event without an id, silently losing
    idempotency. (An empty cell of an imported file is simply absent.)
    """
    if value is None:
        if required:
            raise EventInvalid(field, "is required", "required")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise EventInvalid(field, "must be a string", "invalid_type")
    text = str(value).strip()
    if not text:
        if required:
            raise EventInvalid(field, "is required", "required")
        if not blank_is_absent:
            raise EventInvalid(field, "must not be blank; leave it out to send an event without an id", "blank")
        return None
    if len(text) > max_length:
        raise EventInvalid(field, f"is longer than {max_length} characters", "too_long")
    if _CONTROL.search(text):
        raise EventInvalid(field, "contains control characters", "control_characters")
    return text


def parse_channel(value: Any) -> str:
    """"online", "store", or "" when the storefront does not say."""
    text = "" if value is None else str(value).strip().lower()
    if text and text not in CHANNEL_CODES:
        raise EventInvalid("channel", f"must be one of {', '.join(sorted(CHANNEL_CODES))}; got '{str(value)[:40]}'",
                           "invalid_choice")
    return text


def parse_event_type(value: Any) -> str:
    if value is not None and not isinstance(value, str):
        raise EventInvalid("type", "must be a string", "invalid_type")
    text = "" if value is None else value.strip().lower()
    if not text:
        raise EventInvalid("type", "is required", "required")
    text = EVENT_TYPE_ALIASES.get(text, text)
    if text not in EVENT_TYPES:
        raise EventInvalid("type", f"unknown event type '{value}'; use one of {', '.join(sorted(EVENT_TYPES))}",
                           "unknown_event_type")
    return text


def parse_timestamp(value: Any, *, now: datetime | None = None) -> datetime:
    """A datetime, or an ISO 8601 string (a date alone means midnight UTC); naive times are UTC.

    Accepted from 1970 up to a day after ``now`` (:data:`TIMESTAMP_FUTURE_SLACK`).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        raise EventInvalid("timestamp", "is required", "required")
    if isinstance(value, datetime):
        ts = value
    elif isinstance(value, date):
        ts = datetime.combine(value, time(0, 0))
    elif not isinstance(value, str):
        raise EventInvalid("timestamp", "must be an ISO 8601 string (e.g. 2024-05-01T14:30:00Z)", "invalid_type")
    else:
        text = value.strip()
        try:
            ts = parse_datetime(text.replace(" ", "T", 1) if len(text) > 10 else text)
            if ts is None:
                d = parse_date(text)
                ts = datetime.combine(d, time(0, 0)) if d else None
        except (ValueError, OverflowError):
            ts = None
        if ts is None:
            raise EventInvalid("timestamp", f"'{text[:64]}' is not an ISO 8601 date or time (e.g. 2024-05-01T14:30:00Z)",
                               "invalid_timestamp")
    if timezone.is_naive(ts):
        ts = ts.replace(tzinfo=UTC)
    if ts.year < TIMESTAMP_MIN_YEAR:
        raise EventInvalid("timestamp", f"'{value}' is before {TIMESTAMP_MIN_YEAR}", "timestamp_out_of_range")
    latest = (now or timezone.now()) + TIMESTAMP_FUTURE_SLACK
    if ts > latest:
        raise EventInvalid("timestamp", f"'{value}' is more than a day in the future", "timestamp_in_future")
    return ts


def parse_event_price(value: Any) -> Decimal | None:
    """``None`` when absent; otherwise a finite number in ``0 <= price < 1,000,000``, 6 decimals."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and value != value:
        return None  # a file importer's empty cell (JSON bodies cannot carry NaN: the parser refuses it)
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise EventInvalid("price", "must be a number", "invalid_price")
    try:
        price = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise EventInvalid("price", f"'{str(value)[:64]}' is not a number", "invalid_price") from None
    if not price.is_finite():
        raise EventInvalid("price", f"'{value}' is not a finite number", "invalid_price")
    # Range before quantize: quantizing 1e22 to 6 decimals overflows Decimal's precision.
    if price < 0 or price >= PRICE_LIMIT:
        raise EventInvalid("price", f"must be at least 0 and below {PRICE_LIMIT:,.0f}, got {str(value)[:64]}",
                           "price_out_of_range")
    return price.quantize(Decimal("0.000001"))


def event_clean(raw: dict[str, Any], *, blank_event_id_is_absent: bool = True) -> CleanEvent:
    """Validate one event dict; raises :class:`EventInvalid` naming the first bad field."""
    if not isinstance(raw, dict):
        raise EventInvalid("", "each event must be an object", "not_an_object")
    event_type = raw.get("type", raw.get("event_type"))
    return CleanEvent(
        event_id=parse_identifier(raw.get("event_id"), "event_id", max_length=128, required=False,
                                  blank_is_absent=blank_event_id_is_absent),
        customer_id=parse_identifier(raw.get("customer_id"), "customer_id", max_length=128),
        item_id=parse_identifier(raw.get("item_id"), "item_id", max_length=64),
        event_type=parse_event_type(event_type),
        timestamp=parse_timestamp(raw.get("timestamp")),
        price=parse_event_price(raw.get("price")),
        channel=parse_channel(raw.get("channel")),
        recommendation_id=parse_identifier(raw.get("recommendation_id"), "recommendation_id", max_length=64,
                                           required=False),
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


def stored_events_by_client_id(client_ids: set[str]) -> dict[str, tuple[int, tuple]]:
    """``{event_id: (pk, fingerprint)}`` of the stored events with these client ids."""
    found: dict[str, tuple[int, tuple]] = {}
    for chunk in _chunks(sorted(client_ids)):
        rows = Event.objects.filter(client_event_id__in=chunk).values_list(
            "client_event_id", "id", "customer__external_id", "item__external_id", "event_type", "timestamp",
            "price", "channel")
        for client_id, pk, *payload in rows:
            found[client_id] = (pk, _fingerprint_of(*payload))
    return found


def _fingerprint_of(customer_id, item_id, event_type, timestamp, price, channel) -> tuple:
    return (customer_id, item_id, event_type, timestamp, None if price is None else Decimal(price), channel or "")


def event_fingerprint(event: CleanEvent) -> tuple:
    """What an event says, without its id: a re-sent ``event_id`` must say the same to be a duplicate."""
    return _fingerprint_of(event.customer_id, event.item_id, event.event_type, event.timestamp, event.price,
                           event.channel)


def _conflict(index: int, event_id: str, where: str) -> EventResult:
    return EventResult(index, "error", event_id,
                       f"event_id '{event_id}' was already used by {where} with different content", "event_id",
                       code="event_id_conflict")


def events_ingest(batch: list[dict[str, Any]]) -> list[EventResult]:
    """Store a batch of events; one result per input event, in input order.

    Each event is judged on its own; nothing in one event can keep another from being stored.

    - invalid fields or an unknown item -> ``error`` with ``code``, ``field`` and ``message``.
    - an ``event_id`` already stored, or used earlier in the same batch, with the same content ->
      ``duplicate`` (nothing stored twice; ``id`` is the stored event's id where known); with
      different content -> ``error`` ``event_id_conflict`` (the stored event is kept unchanged).
    - a blank ``event_id`` is an error (``blank``): leave it out to send an event without one.
    - unknown customers are created without membership.
    """
    results: list[EventResult | None] = [None] * len(batch)
    cleaned: dict[int, CleanEvent] = {}
    for index, raw in enumerate(batch):
        try:
            cleaned[index] = event_clean(raw, blank_event_id_is_absent=False)
        except EventInvalid as exc:
            event_id = raw.get("event_id") if isinstance(raw, dict) else None
            event_id = event_id if isinstance(event_id, str) else None
            results[index] = EventResult(index, "error", event_id, exc.message, exc.field, code=exc.code)

    items = item_pks_by_external_id({e.item_id for e in cleaned.values()})
    for index, event in list(cleaned.items()):
        if event.item_id not in items:
            results[index] = EventResult(index, "error", event.event_id, f"unknown item id '{event.item_id}'",
                                         "item_id", code="unknown_item")
            del cleaned[index]

    first_in_batch: dict[str, int] = {}
    for index, event in list(cleaned.items()):
        if event.event_id is None:
            continue
        if event.event_id in first_in_batch:
            first = first_in_batch[event.event_id]
            if event_fingerprint(cleaned[first]) != event_fingerprint(event):
                results[index] = _conflict(index, event.event_id, f"event #{first} of this batch")
            else:
                results[index] = EventResult(
                    index, "duplicate", event.event_id, f"same event_id as event #{first} of this batch")
            del cleaned[index]
        else:
            first_in_batch[event.event_id] = index

    with transaction.atomic():
        stored = stored_events_by_client_id(set(first_in_batch))
        for index, event in list(cleaned.items()):
            if event.event_id in stored:
                pk, fingerprint = stored[event.event_id]
                results[index] = (
                    EventResult(index, "duplicate", event.event_id, "already stored", id=pk)
                    if fingerprint == event_fingerprint(event) else _conflict(index, event.event_id, "a stored event")
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
        _insert_events(rows, cleaned, results)
        _attribute(rows, cleaned, results)
        # Batch duplicates point at the stored original; a conflict with an event of this batch
        # that ended up not stored is no conflict with anything stored, but it stays reported.
        for result in results:
            if result and result.status == "duplicate" and result.id is None and result.event_id:
                first = results[first_in_batch[result.event_id]]
                if first and first.id:
                    result.id = first.id
    return [r for r in results if r is not None]


def _attribute(rows: dict[int, Event], cleaned: dict[int, CleanEvent], results: list[EventResult | None]) -> None:
    """Credit the events stored now (never a duplicate: it was credited when first stored)."""
    created = [i for i, r in rows.items() if results[i] is not None and results[i].status == "created"]
    requests = [AttributionRequest(rows[i].pk, cleaned[i].customer_id, cleaned[i].item_id, cleaned[i].event_type,
                                   cleaned[i].timestamp, cleaned[i].price, cleaned[i].recommendation_id)
                for i in created]
    outcomes = events_attribute(requests)
    for i in created:
        outcome = outcomes.get(rows[i].pk)
        if outcome is not None:
            results[i].attribution = outcome.as_dict()


def _insert_events(rows: dict[int, Event], cleaned: dict[int, CleanEvent], results: list[EventResult | None]) -> None:
    """One bulk insert; if the database refuses it, each event on its own (in its own savepoint),
    so one refused event costs only itself."""
    if not rows:
        return
    try:
        with transaction.atomic():
            Event.objects.bulk_create(list(rows.values()), batch_size=1000)
        for index, event in rows.items():
            results[index] = EventResult(index, "created", event.client_event_id, id=event.pk)
        return
    except (IntegrityError, DataError):
        pass  # a concurrent request stored some of the same ids, or a row the database refuses
    for index, event in rows.items():
        event.pk = None
        try:
            with transaction.atomic():
                event.save(force_insert=True)
            results[index] = EventResult(index, "created", event.client_event_id, id=event.pk)
        except (IntegrityError, DataError) as exc:
            stored = (stored_events_by_client_id({event.client_event_id}).get(event.client_event_id)
                      if event.client_event_id else None)
            if stored is None:
                results[index] = EventResult(index, "error", event.client_event_id, f"could not store: {exc}",
                                             code="not_stored")
            elif stored[1] == event_fingerprint(cleaned[index]):
                results[index] = EventResult(index, "duplicate", event.client_event_id, "already stored", id=stored[0])
            else:
                results[index] = _conflict(index, event.client_event_id, "a stored event")
