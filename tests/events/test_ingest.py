"""events_ingest: created, duplicates across and within batches, per-event errors."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recommender.events.services import events_ingest
from recommender.models import Customer, Event
from tests.factories import CustomerFactory, ItemFactory

pytestmark = pytest.mark.django_db


def _ev(**kw):
    base = {"customer_id": "c1", "item_id": "I1", "type": "view", "timestamp": "2024-05-01T10:00:00Z"}
    base.update(kw)
    return base


@pytest.fixture
def items():
    return [ItemFactory(external_id="I1"), ItemFactory(external_id="I2")]


def test_valid_events_are_stored_and_unknown_customers_created(items, tiers):
    results = events_ingest([
        _ev(event_id="e1", price="12.5", channel="online"),
        _ev(event_id="e2", type="purchase", item_id="I2", timestamp=datetime(2024, 5, 1, 11, tzinfo=UTC)),
        _ev(type="add_to_cart", timestamp="2024-05-02"),  # no event_id: stored, never de-duplicated
    ])
    assert [r.status for r in results] == ["created", "created", "created"]
    assert all(r.id for r in results)
    e1 = Event.objects.get(client_event_id="e1")
    assert (e1.event_type, e1.price, e1.channel, e1.timestamp) == (
        "view", Decimal("12.5"), "online", datetime(2024, 5, 1, 10, tzinfo=UTC)
    )
    assert Event.objects.get(pk=results[2].id).timestamp == datetime(2024, 5, 2, tzinfo=UTC)
    customer = Customer.objects.get(external_id="c1")
    assert customer.tier.code == "none"


def test_duplicates_across_and_within_batches_are_not_stored_twice(items):
    first = events_ingest([_ev(event_id="e1"), _ev(event_id="e2")])
    results = events_ingest([_ev(event_id="e1"), _ev(event_id="e3"), _ev(event_id="e3"), _ev(event_id="e2")])
    assert [r.status for r in results] == ["duplicate", "created", "duplicate", "duplicate"]
    assert results[0].id == first[0].id and results[3].id == first[1].id
    assert results[2].id == results[1].id and "event #1 of this batch" in results[2].message
    assert Event.objects.count() == 3


def test_unknown_item_and_bad_fields_are_errors_beside_stored_valid_events(items):
    results = events_ingest([
        _ev(event_id="ok1"),
        _ev(event_id="bad1", item_id="NOPE"),
        _ev(event_id="bad2", type="teleport"),
        _ev(event_id="bad3", timestamp="yesterday"),
        _ev(event_id="bad4", price="-3"),
        _ev(event_id="bad5", customer_id=""),
        "not an object",
        _ev(event_id="ok2", item_id="I2"),
    ])
    assert [(r.index, r.status, r.field) for r in results] == [
        (0, "created", ""), (1, "error", "item_id"), (2, "error", "type"), (3, "error", "timestamp"),
        (4, "error", "price"), (5, "error", "customer_id"), (6, "error", ""), (7, "created", ""),
    ]
    assert results[1].message == "unknown item id 'NOPE'"
    assert set(Event.objects.values_list("client_event_id", flat=True)) == {"ok1", "ok2"}


def test_an_error_first_does_not_hide_a_later_valid_event_with_the_same_id(items):
    results = events_ingest([_ev(event_id="e1", item_id="NOPE"), _ev(event_id="e1")])
    assert [r.status for r in results] == ["error", "created"]


def test_race_with_a_concurrent_writer_reports_duplicate(items, monkeypatch):
    from recommender.events import services

    customer = CustomerFactory(external_id="c1")
    # Simulate another request storing e1 after our existence check ran.
    monkeypatch.setattr(services, "existing_event_ids", lambda ids: {})
    Event.objects.create(customer=customer, item=items[0], event_type="view",
                         timestamp=datetime(2024, 1, 1, tzinfo=UTC), client_event_id="e1")
    results = events_ingest([_ev(event_id="e1"), _ev(event_id="e9")])
    assert [r.status for r in results] == ["duplicate", "created"]
    assert Event.objects.count() == 2


def test_batch_of_100_uses_a_bounded_number_of_queries(items):
    batch = [_ev(event_id=f"e{i}", customer_id=f"c{i % 7}") for i in range(100)]
    with CaptureQueriesContext(connection) as ctx:
        results = events_ingest(batch)
    assert all(r.status == "created" for r in results)
    assert len(ctx.captured_queries) <= 15
