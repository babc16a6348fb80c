"""Live metrics are rolled up incrementally: exact counts, nothing counted twice, pruning keeps them."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from recommender.impressions.rollup import impression_metrics_refresh, impressions_prune
from recommender.impressions.selectors import live_metrics
from recommender.models import Attribution, Customer, Event, Impression, ImpressionDailyMetric, Item

pytestmark = pytest.mark.django_db


def _impressions(n, *, version="v1", scenario="home", at=None, prefix="r"):
    at = at or timezone.now()
    Impression.objects.bulk_create([
        Impression(request_id=f"{prefix}{version}{i:020d}"[:32], scenario=scenario, model_version=version,
                   customer_key=f"c{i}", items=["J001", "J002"], shown_at=at) for i in range(n)])
    return list(Impression.objects.filter(model_version=version, scenario=scenario, shown_at=at).order_by("id"))


def _credit(imp, kind, *, first, price=None, position=1):
    customer, _ = Customer.objects.get_or_create(external_id=imp.customer_key)
    event = Event.objects.create(customer=customer, item=Item.objects.get(external_id="J001"), event_type=kind,
                                 timestamp=timezone.now(), price=price)
    Attribution.objects.create(event=event, impression=imp, event_type=kind, position=position,
                               revenue=price or 0, method="explicit", first_of_type=first)


def test_counts_are_exact_and_added_once(shop):
    v1 = _impressions(10)
    _impressions(4, version="v2")
    _credit(v1[0], "view", first=True)
    _credit(v1[0], "view", first=False)  # a second item of the same answer viewed
    _credit(v1[1], "view", first=True)
    _credit(v1[1], "add_to_cart", first=True)
    _credit(v1[1], "purchase", first=True, price=Decimal("19.99"))
    _credit(v1[1], "purchase", first=False, price=Decimal("5.01"))
    assert impression_metrics_refresh() == {"impressions": 14, "attributions": 6}
    assert impression_metrics_refresh() == {"impressions": 0, "attributions": 0}
    rows = {r.model_version: r for r in live_metrics(refresh=False)}
    one = rows["v1"]
    assert (one.impressions, one.clicked, one.carted, one.converted) == (10, 2, 1, 1)
    assert (one.views, one.carts, one.purchases, one.revenue) == (3, 1, 2, Decimal("25.00"))
    assert one.ctr == 0.2 and one.conversion == 0.1 and one.revenue_per_impression == 2.5
    assert rows["v2"].impressions == 4 and rows["v2"].ctr == 0.0
    # more traffic later adds to the same day's row
    more = _impressions(5, prefix="s")
    _credit(more[0], "purchase", first=True, price=Decimal(1))
    assert impression_metrics_refresh() == {"impressions": 5, "attributions": 1}
    row = ImpressionDailyMetric.objects.get(model_version="v1")
    assert (row.impressions, row.converted, row.revenue) == (15, 2, Decimal("26.00"))


def test_pruning_keeps_the_figures(shop):
    old = _impressions(3, at=timezone.now() - timedelta(days=100))
    _credit(old[0], "purchase", first=True, price=Decimal(10))
    _impressions(2, version="v1", prefix="n")
    assert impressions_prune(days=90) == 3  # counted before they go
    assert Impression.objects.count() == 2 and Attribution.objects.count() == 0
    day = (timezone.now() - timedelta(days=100)).date()
    row = ImpressionDailyMetric.objects.get(day=day)
    assert (row.impressions, row.converted, row.revenue) == (3, 1, Decimal(10))
    assert impression_metrics_refresh() == {"impressions": 0, "attributions": 0}


def test_rows_of_the_last_seconds_wait_for_the_next_refresh(shop):
    old = _impressions(3, at=timezone.now() - timedelta(minutes=5))
    _impressions(2, version="v1", prefix="n")  # just written: ids that may still have gaps below them
    assert impression_metrics_refresh(settle_seconds=10) == {"impressions": 3, "attributions": 0}
    _credit(old[0], "purchase", first=True, price=Decimal(3))
    assert impression_metrics_refresh(settle_seconds=10) == {"impressions": 0, "attributions": 0}
    assert impression_metrics_refresh(settle_seconds=0) == {"impressions": 2, "attributions": 1}
    assert ImpressionDailyMetric.objects.aggregate(n=Sum("impressions"))["n"] == 5
