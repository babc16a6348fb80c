"""Attribution: crediting a view, add-to-cart or purchase to the impression that showed its item.

Explicitly, by the ``recommendation_id`` (the answer's ``request_id``) the storefront sends
with the event; or, without one, the latest impression that showed the same customer the
same item within ``JEWELREC_ATTRIBUTION_WINDOW_HOURS`` before the event. An event is credited
once at most (``Attribution.event`` is unique), and only events just stored are attributed,
so a re-sent event is never counted twice.

Impressions are written a second or so after the answer (``log``). An explicit id that is not
stored yet but was issued within ``JEWELREC_ATTRIBUTION_PENDING_SECONDS`` is kept as pending
and matched by :func:`attributions_pending_resolve` (every housekeeping round of the
metrics refresh); an id older than that, or not one of ours, is unknown.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from recommender.models import Attribution, AttributionPending, Event, Impression
from recommender.serving.results import request_id_time

from .log import impressions_buffered, impressions_flush

logger = logging.getLogger(__name__)
ATTRIBUTED_TYPES = (Event.Type.VIEW, Event.Type.ADD_TO_CART, Event.Type.PURCHASE)
CHUNK = 500


@dataclass
class AttributionRequest:
    """A stored event to attribute (external ids, as the storefront sent them)."""

    event_pk: int
    customer_key: str
    item_key: str
    event_type: str
    timestamp: datetime
    price: Decimal | None
    recommendation_id: str | None = None


@dataclass
class AttributionOutcome:
    status: str  # "attributed", "pending" or "skipped"
    recommendation_id: str | None = None
    method: str = ""  # "explicit" or "window" when attributed
    position: int | None = None
    code: str = ""  # why it was skipped
    message: str = ""
    impression_pk: int | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "recommendation_id": self.recommendation_id, "method": self.method or None,
                "position": self.position, "code": self.code or None, "message": self.message}


def _window() -> timedelta:
    return timedelta(hours=float(getattr(settings, "JEWELREC_ATTRIBUTION_WINDOW_HOURS", 24)))


def _pending_grace() -> timedelta:
    return timedelta(seconds=float(getattr(settings, "JEWELREC_ATTRIBUTION_PENDING_SECONDS", 120)))


def _skipped(rid: str | None, code: str, message: str) -> AttributionOutcome:
    return AttributionOutcome("skipped", rid, code=code, message=message)


def _match(req: AttributionRequest, imp: dict) -> AttributionOutcome:
    """An explicit id found: credit it when the impression showed this customer this item."""
    rid = req.recommendation_id
    if imp["customer_key"] and imp["customer_key"] != req.customer_key:
        return _skipped(rid, "foreign_recommendation_id",
                        "this recommendation was shown to another customer; the event is stored, not attributed")
    try:
        position = imp["items"].index(req.item_key) + 1
    except ValueError:
        return _skipped(rid, "item_not_shown",
                        f"item '{req.item_key[:64]}' was not in this recommendation; the event is stored, not attributed")
    return AttributionOutcome("attributed", rid, method=Attribution.Method.EXPLICIT, position=position,
                              impression_pk=imp["id"])


def _impressions_by_request_id(ids: set[str]) -> dict[str, dict]:
    found: dict[str, dict] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        for row in Impression.objects.filter(request_id__in=ordered[start:start + CHUNK]).values(
                "id", "request_id", "customer_key", "items"):
            found[row["request_id"]] = row
    return found


def _window_matches(reqs: list[AttributionRequest]) -> dict[int, AttributionOutcome]:
    """The latest impression showing the customer the item within the window before each event."""
    if not reqs:
        return {}
    window = _window()
    by_customer: dict[str, list[AttributionRequest]] = defaultdict(list)
    for req in reqs:
        by_customer[req.customer_key].append(req)
    earliest = min(r.timestamp for r in reqs) - window
    latest = max(r.timestamp for r in reqs)
    outcomes: dict[int, AttributionOutcome] = {}
    customers = sorted(by_customer)
    for start in range(0, len(customers), CHUNK):
        rows = (Impression.objects.filter(customer_key__in=customers[start:start + CHUNK],
                                          shown_at__gte=earliest, shown_at__lte=latest)
                .order_by("-shown_at", "-id").values("id", "request_id", "customer_key", "items", "shown_at"))
        for row in rows:
            for req in by_customer[row["customer_key"]]:
                if req.event_pk in outcomes or not (req.timestamp - window <= row["shown_at"] <= req.timestamp):
                    continue
                if req.item_key in row["items"]:
                    outcomes[req.event_pk] = AttributionOutcome(
                        "attributed", row["request_id"], method=Attribution.Method.WINDOW,
                        position=row["items"].index(req.item_key) + 1, impression_pk=row["id"])
    return outcomes


def events_attribute(reqs: list[AttributionRequest], *, now: datetime | None = None) -> dict[int, AttributionOutcome]:
    """Attribute just-stored events; ``{event_pk: outcome}`` for those with something to say
    (an id was sent, or a window match was found). Runs in the caller's transaction."""
    now = now or timezone.now()
    if impressions_buffered():
        impressions_flush()  # this process's own recent answers are then matched at once
    outcomes: dict[int, AttributionOutcome] = {}
    explicit = [r for r in reqs if r.recommendation_id]
    for req in explicit:
        if req.event_type not in ATTRIBUTED_TYPES:
            outcomes[req.event_pk] = _skipped(req.recommendation_id, "not_attributed_type",
                                              f"{req.event_type} events are not attributed (views, add-to-carts and "
                                              "purchases are)")
    found = _impressions_by_request_id({r.recommendation_id for r in explicit if r.event_pk not in outcomes})
    pending: list[AttributionPending] = []
    for req in explicit:
        if req.event_pk in outcomes:
            continue
        imp = found.get(req.recommendation_id)
        if imp is not None:
            outcomes[req.event_pk] = _match(req, imp)
            continue
        issued = request_id_time(req.recommendation_id)
        if issued is not None and now - _pending_grace() <= issued <= now + timedelta(minutes=5):
            pending.append(AttributionPending(event_id=req.event_pk, recommendation_id=req.recommendation_id,
                                              expires_at=issued + _pending_grace()))
            outcomes[req.event_pk] = AttributionOutcome(
                "pending", req.recommendation_id,
                message="this recommendation is not stored yet; it is matched within "
                        f"{int(_pending_grace().total_seconds())} s")
        else:
            outcomes[req.event_pk] = _skipped(req.recommendation_id, "unknown_recommendation_id",
                                              "no recommendation has this id; the event is stored, not attributed")
    implicit = [r for r in reqs if not r.recommendation_id and r.event_type in ATTRIBUTED_TYPES]
    outcomes.update(_window_matches(implicit))
    AttributionPending.objects.bulk_create(pending, ignore_conflicts=True)
    _store(reqs, outcomes)
    return outcomes


def _store(reqs: list[AttributionRequest], outcomes: dict[int, AttributionOutcome]) -> int:
    by_pk = {r.event_pk: r for r in reqs}
    credited = [(by_pk[pk], o) for pk, o in outcomes.items() if o.status == "attributed"]
    if not credited:
        return 0
    impressions = {o.impression_pk for _, o in credited}
    taken = set(Attribution.objects.filter(impression_id__in=impressions, first_of_type=True)
                .values_list("impression_id", "event_type"))
    rows = []
    for req, outcome in sorted(credited, key=lambda pair: (pair[0].timestamp, pair[0].event_pk)):
        key = (outcome.impression_pk, req.event_type)
        first = key not in taken
        taken.add(key)
        revenue = (req.price or Decimal(0)) if req.event_type == Event.Type.PURCHASE else Decimal(0)
        rows.append(Attribution(event_id=req.event_pk, impression_id=outcome.impression_pk, event_type=req.event_type,
                                position=outcome.position, revenue=revenue, method=outcome.method,
                                first_of_type=first))
    try:
        with transaction.atomic():
            Attribution.objects.bulk_create(rows)
    except IntegrityError:
        # A concurrent batch credited the same impression first (or this event): row by row,
        # a lost "first" becomes an ordinary credit and an event already credited stays once.
        for row in rows:
            for first in ([True, False] if row.first_of_type else [False]):
                row.pk, row.first_of_type = None, first
                try:
                    with transaction.atomic():
                        row.save(force_insert=True)
                    break
                except IntegrityError:
                    continue
    return len(rows)


def attributions_pending_resolve(*, now: datetime | None = None) -> dict[str, int]:
    """Match pending explicit ids whose impressions are stored now; give up the expired ones."""
    now = now or timezone.now()
    counts = {"attributed": 0, "skipped": 0, "expired": 0}
    with transaction.atomic():
        pending = list(AttributionPending.objects.select_for_update(skip_locked=True, of=("self",))
                       .select_related("event__customer", "event__item")[:5000])
        if not pending:
            return counts
        found = _impressions_by_request_id({p.recommendation_id for p in pending})
        outcomes: dict[int, AttributionOutcome] = {}
        reqs: list[AttributionRequest] = []
        done: list[int] = []
        for p in pending:
            ev = p.event
            req = AttributionRequest(ev.pk, ev.customer.external_id, ev.item.external_id, ev.event_type,
                                     ev.timestamp, ev.price, p.recommendation_id)
            imp = found.get(p.recommendation_id)
            if imp is not None:
                outcomes[ev.pk] = _match(req, imp)
                reqs.append(req)
                counts["attributed" if outcomes[ev.pk].status == "attributed" else "skipped"] += 1
                done.append(p.pk)
            elif p.expires_at <= now:
                counts["expired"] += 1
                done.append(p.pk)
        _store(reqs, outcomes)
        AttributionPending.objects.filter(pk__in=done).delete()
    if counts["expired"]:
        logger.warning("%d events named recommendation ids that were never stored", counts["expired"])
    return counts
