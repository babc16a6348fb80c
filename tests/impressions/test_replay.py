"""The replay plays real purchases through the API; every purchase of a shown item is credited once."""
from __future__ import annotations

from collections import defaultdict
from datetime import date

import pandas as pd
import pytest
from django.core.management import call_command
from django.db.models import Count

from recommender.catalog.importing.hm_sample import event_id_for, sample_price
from recommender.impressions.replay import (
    InProcessStorefront,
    replay_plan,
    replay_run,
    replay_storefront_key,
    replay_withdraw,
)
from recommender.impressions.rollup import impression_metrics_refresh
from recommender.models import Attribution, Customer, Event, Impression, ImpressionDailyMetric, Item

pytestmark = pytest.mark.django_db

DAYS = [date(2020, 9, 20), date(2020, 9, 21), date(2020, 9, 22)]
ROWS = [  # day index, customer, article, normalised price, channel
    (0, "c1", "J001", 0.0169, 2), (0, "c2", "G001", 0.0338, 1),
    (1, "c1", "J003", 0.0084, 2), (1, "c1", "G001", 0.0338, 2), (1, "c2", "J001", 0.0169, 1),
    (1, "c3", "J002", 0.0101, 2), (1, "c3", "J004", 0.0135, 2), (1, "c3", "J004", 0.0135, 2),
    (2, "c2", "J005", 0.0200, 1), (2, "c4", "G001", 0.0338, 2), (2, "c5", "J003", 0.0084, 2),
    (2, "c1", "J002", 0.0101, 2),
]


@pytest.fixture
def sample(shop, settings, tmp_path):
    """A transactions file over the shop's items, imported as import_sample stores it."""
    frame = pd.DataFrame({
        "t_dat": [DAYS[d] for d, *_ in ROWS], "customer_id": [r[1] for r in ROWS], "article_id": [r[2] for r in ROWS],
        "price": pd.Series([r[3] for r in ROWS], dtype="float32"),
        "sales_channel_id": pd.Series([r[4] for r in ROWS], dtype="int8")})
    (tmp_path / "hm-jewelry").mkdir()
    frame.to_parquet(tmp_path / "hm-jewelry" / "transactions.parquet")
    settings.JEWELREC_DATA_DIR = tmp_path
    items = dict(Item.objects.values_list("external_id", "id"))
    for index, (d, customer, article, price, channel) in enumerate(ROWS):
        c, _ = Customer.objects.get_or_create(external_id=customer)
        price64 = float(frame["price"].astype("float64")[index])
        Event.objects.create(customer=c, item_id=items[article], event_type="purchase",
                             timestamp=f"{DAYS[d]}T12:00:00Z", price=sample_price(price64),
                             channel={1: "store", 2: "online"}[channel],
                             client_event_id=event_id_for(index, customer, article, DAYS[d], price64))
    return frame


def test_the_plan_is_the_window_by_customer_day(sample):
    sessions = replay_plan(days=2)
    assert [(s.day, s.customer_id, len(s.purchases)) for s in sessions] == [
        ("2020-09-21", "c1", 2), ("2020-09-21", "c2", 1), ("2020-09-21", "c3", 3),
        ("2020-09-22", "c1", 1), ("2020-09-22", "c2", 1), ("2020-09-22", "c4", 1), ("2020-09-22", "c5", 1)]
    assert {s.customer_id for s in replay_plan(days=2, customers=2)} == {"c1", "c2"}  # jewelry buyers first


def test_replay_credits_every_purchase_of_a_shown_item_exactly_once(sample):
    sessions = replay_plan(days=2)
    window_ids = {p.event_id for s in sessions for p in s.purchases}
    assert replay_withdraw(sessions) == 10
    key, revoke = replay_storefront_key()
    report = replay_run(sessions, InProcessStorefront(key), k=3)
    revoke()
    assert report.errors == [] and report.sessions == 7 and report.requests == 14
    assert report.created == 10 and report.duplicates == 0
    # every window purchase is back, once, as imported
    assert Event.objects.filter(client_event_id__in=window_ids).count() == 10
    credits = Attribution.objects.filter(event__client_event_id__in=window_ids)
    # the answers in the order they were given: each customer-day's is the next of that customer's
    answers = defaultdict(list)
    for impression in Impression.objects.order_by("id"):
        answers[impression.customer_key].append(impression.items)
    shown = 0
    for session in sessions:
        items = answers[session.customer_id].pop(0)
        shown += sum(p.item_id in items for p in session.purchases)
    assert shown > 0 and report.purchases_of_shown_items == shown == report.attributed == credits.count()
    assert not credits.values("event").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert all(c.revenue == c.event.price and c.method == "explicit" for c in credits)
    impression_metrics_refresh()
    row = ImpressionDailyMetric.objects.get()
    assert (row.impressions, row.purchases) == (7, shown)

    # a second replay: credited purchases stay (never credited twice), the others are played again
    credited_before = set(credits.values_list("event_id", flat=True))
    call_command("replay", "--days", "2", "--k", "3", stdout=open("/dev/null", "w"))
    assert Event.objects.filter(client_event_id__in=window_ids).count() == 10
    assert not Attribution.objects.values("event").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert set(Attribution.objects.filter(event_id__in=credited_before).values_list("event_id", flat=True)) \
        == credited_before
    assert Impression.objects.count() == 14

