"""Customer selectors and the events file import."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recommender.catalog.importers import import_events_file
from recommender.events.selectors import customer_get, customer_history
from recommender.models import Customer, Event
from tests.factories import CustomerFactory, EventFactory, ItemFactory

pytestmark = pytest.mark.django_db


def test_customer_history_is_newest_first_with_items_in_one_query():
    customer = CustomerFactory()
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    events = [EventFactory(customer=customer, timestamp=t0 + timedelta(days=d)) for d in range(5)]
    EventFactory()  # someone else's
    with CaptureQueriesContext(connection) as ctx:
        history = customer_history(customer, limit=3)
        titles = [e.item.title for e in history]
    assert [e.pk for e in history] == [events[4].pk, events[3].pk, events[2].pk]
    assert len(titles) == 3 and len(ctx.captured_queries) == 1
    assert customer_get(customer.external_id) == customer
    assert customer_get("nobody") is None


def test_events_file_import_is_all_or_nothing_and_idempotent(tmp_path, tiers):
    ItemFactory(external_id="I1")
    ItemFactory(external_id="I2")
    good = tmp_path / "events.csv"
    good.write_text(
        "customer_id,item_id,type,timestamp,price,event_id,channel\n"
        "c1,I1,view,2024-05-01T10:00:00Z,,v1,online\n"
        "c1,I2,purchase,2024-05-01 10:05:00,19.9,,store\n"
        "c2,I1,favourite,2024-05-02,,,\n"
    )
    report = import_events_file(good)
    assert report.ok, report.summary()
    assert report.kinds["events"]["created"] == 3 and report.kinds["customers"]["created"] == 2
    assert Event.objects.count() == 3 and Event.objects.filter(event_type="favorite").count() == 1
    again = import_events_file(good)
    assert again.kinds["events"] == {"created": 0, "updated": 0, "unchanged": 3, "skipped": 0}
    assert Event.objects.count() == 3

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "customer_id,item_id,type,timestamp,event_id\n"
        "c3,I1,view,2024-05-01,n1\n"
        "c3,GONE,view,2024-05-01,n2\n"
        "c3,I1,view,not-a-date,n3\n"
        "c3,I1,view,2024-05-01,n1\n"
    )
    report = import_events_file(bad)
    assert [(e.row, e.field) for e in report.errors] == [(3, "item_id"), (4, "timestamp"), (5, "event_id")]
    assert "unknown item id 'GONE'" in report.summary()
    assert Event.objects.count() == 3 and not Customer.objects.filter(external_id="c3").exists()
