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
    assert [(r.index, r.status, r.field, r.code) for r in results] == [
        (0, "created", "", ""), (1, "error", "item_id", "unknown_item"), (2, "error", "type", "unknown_event_type"),
        (3, "error", "timestamp", "invalid_timestamp"), (4, "error", "price", "price_out_of_range"),
        (5, "error", "customer_id", "required"), (6, "error", "", "not_an_object"), (7, "created", "", ""),
    ]
    assert results[1].message == "unknown item id 'NOPE'"
    assert set(Event.objects.values_list("client_event_id", flat=True)) == {"ok1", "ok2"}


def test_an_error_first_does_not_hide_a_later_valid_event_with_the_same_id(items):
    results = events_ingest([_ev(event_id="e1", item_id="NOPE"), _ev(event_id="e1")])
    assert [r.status for r in results] == ["error", "created"]


def test_race_with_a_concurrent_writer_reports_duplicate(items, monkeypatch):
    from recommender.events import services

    customer = CustomerFactory(external_id="c1")
    # Simulate another request storing e1 and e2 after our existence check ran; e2 says
    # something else than our e2.
    monkeypatch.setattr(services, "stored_events_by_client_id",
                        lambda ids, real=services.stored_events_by_client_id: {} if len(ids) > 1 else real(ids))
    Event.objects.create(customer=customer, item=items[0], event_type="view",
                         timestamp=datetime(2024, 5, 1, 10, tzinfo=UTC), client_event_id="e1")
    Event.objects.create(customer=customer, item=items[1], event_type="view",
                         timestamp=datetime(2024, 5, 1, 10, tzinfo=UTC), client_event_id="e2")
    results = events_ingest([_ev(event_id="e1"), _ev(event_id="e9"), _ev(event_id="e2")])
    assert [(r.status, r.code) for r in results] == [("duplicate", ""), ("created", ""), ("error", "event_id_conflict")]
    assert Event.objects.count() == 3
    assert Event.objects.get(client_event_id="e2").item_id == items[1].pk  # the stored one is kept


def test_batch_of_100_uses_a_bounded_number_of_queries(items):
    batch = [_ev(event_id=f"e{i}", customer_id=f"c{i % 7}") for i in range(100)]
    with CaptureQueriesContext(connection) as ctx:
        results = events_ingest(batch)
    assert all(r.status == "created" for r in results)
    assert len(ctx.captured_queries) <= 15


def test_an_absurd_price_is_rejected_and_the_valid_event_beside_it_is_stored(items):
    results = events_ingest([_ev(event_id="big", price=1e22), _ev(event_id="ok", price="19.99"),
                             _ev(event_id="huge", price="9" * 400), _ev(event_id="inf", price="Infinity"),
                             _ev(event_id="neg", price=-0.01), _ev(event_id="text", price="cheap"),
                             _ev(event_id="list", price=[1])])
    assert [(r.event_id, r.status, r.field, r.code) for r in results] == [
        ("big", "error", "price", "price_out_of_range"), ("ok", "created", "", ""),
        ("huge", "error", "price", "price_out_of_range"), ("inf", "error", "price", "invalid_price"),
        ("neg", "error", "price", "price_out_of_range"), ("text", "error", "price", "invalid_price"),
        ("list", "error", "price", "invalid_price"),
    ]
    assert list(Event.objects.values_list("client_event_id", "price")) == [("ok", Decimal("19.99"))]


def test_prices_at_the_edges_of_the_stored_range(items):
    results = events_ingest([_ev(event_id="zero", price=0), _ev(event_id="top", price="999999.999999"),
                             _ev(event_id="limit", price=1_000_000)])
    assert [(r.status, r.code) for r in results] == [("created", ""), ("created", ""), ("error", "price_out_of_range")]
    assert Event.objects.get(client_event_id="top").price == Decimal("999999.999999")


def test_timestamps_more_than_a_day_ahead_or_before_1970_are_rejected(items):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    results = events_ingest([
        _ev(event_id="soon", timestamp=(now + timedelta(hours=20)).isoformat()),  # a skewed clock: fine
        _ev(event_id="later", timestamp=(now + timedelta(days=2)).isoformat()),
        _ev(event_id="2100", timestamp="2100-01-01T00:00:00Z"),
        _ev(event_id="old", timestamp="1969-12-31T23:59:59Z"),
        _ev(event_id="absurd", timestamp="99999-01-01"),
        _ev(event_id="number", timestamp=1714557600),
    ])
    assert [(r.event_id, r.status, r.code) for r in results] == [
        ("soon", "created", ""), ("later", "error", "timestamp_in_future"), ("2100", "error", "timestamp_in_future"),
        ("old", "error", "timestamp_out_of_range"), ("absurd", "error", "invalid_timestamp"),
        ("number", "error", "invalid_type"),
    ]


def test_a_resent_event_id_with_other_content_is_a_conflict_and_changes_nothing(items):
    events_ingest([_ev(event_id="e1", price="10")])
    results = events_ingest([_ev(event_id="e1", price="10"), _ev(event_id="e1", price="11"),
                             _ev(event_id="e2"), _ev(event_id="e2", type="purchase")])
    assert [(r.status, r.field, r.code) for r in results] == [
        ("duplicate", "", ""), ("error", "event_id", "event_id_conflict"), ("created", "", ""),
        ("error", "event_id", "event_id_conflict")]
    assert "event #2 of this batch" in results[3].message
    assert list(Event.objects.order_by("id").values_list("client_event_id", "price", "event_type")) == [
        ("e1", Decimal("10"), "view"), ("e2", None, "view")]


def test_a_blank_event_id_is_refused_not_stored_without_one(items):
    results = events_ingest([_ev(event_id="   "), _ev(event_id=""), _ev(event_id=" e1 "), _ev(event_id="e1")])
    assert [(r.status, r.code) for r in results] == [("error", "blank"), ("error", "blank"), ("created", ""),
                                                     ("duplicate", "")]
    assert list(Event.objects.values_list("client_event_id", flat=True)) == ["e1"]


def test_ids_of_the_wrong_json_type_are_refused(items):
    results = events_ingest([_ev(event_id={"a": 1}), _ev(customer_id=["c1"]), _ev(item_id=True), _ev(type=3),
                             _ev(event_id=7)])
    assert [(r.status, r.field, r.code) for r in results] == [
        ("error", "event_id", "invalid_type"), ("error", "customer_id", "invalid_type"),
        ("error", "item_id", "invalid_type"), ("error", "type", "invalid_type"), ("created", "", "")]
    assert Event.objects.get().client_event_id == "7"


def test_a_row_the_database_refuses_costs_only_itself(items, monkeypatch):
    """Whatever the bulk insert trips on, each event is then tried in its own savepoint."""
    from django.db import DataError

    original = Event.save

    def save(self, *args, **kwargs):
        if self.client_event_id == "poison":
            raise DataError("value out of range")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Event, "save", save)
    monkeypatch.setattr(Event.objects, "bulk_create", lambda *a, **k: (_ for _ in ()).throw(DataError("batch")))
    results = events_ingest([_ev(event_id="a"), _ev(event_id="poison"), _ev(event_id="b")])
    assert [(r.status, r.code) for r in results] == [("created", ""), ("error", "not_stored"), ("created", "")]
    assert set(Event.objects.values_list("client_event_id", flat=True)) == {"a", "b"}
