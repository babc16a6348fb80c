"""Impressions are recorded per answer; events sent back are credited once, to the right answer."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from recommender.impressions.attribution import attributions_pending_resolve
from recommender.impressions.log import impressions_buffered, impressions_flush
from recommender.models import Attribution, AttributionPending, Event, Impression
from recommender.serving.results import request_id_new, request_id_time

pytestmark = pytest.mark.django_db


def _home(client, customer="c-gold", k=3):
    response = client.get("/api/v1/recommendations/home", {"customer_id": customer, "k": k})
    assert response.status_code == 200
    return response.json()


def _post(client, *events):
    return client.post("/api/v1/events", {"events": list(events)}, format="json")


NOW = timezone.now()


def _event(n, item, kind="purchase", customer="c-gold", rid=None, price=None, at=None):
    event = {"event_id": f"e{n}", "customer_id": customer, "item_id": item, "type": kind,
             "timestamp": (at or NOW).isoformat()}
    if rid is not None:
        event["recommendation_id"] = rid
    if price is not None:
        event["price"] = price
    return event


def test_every_answer_is_recorded_with_what_it_showed(shop, storefront):
    body = _home(storefront)
    storefront.post("/api/v1/search", {"query": "gold", "k": 2}, format="json")
    assert impressions_buffered() == 2 and Impression.objects.count() == 0  # off the request path
    assert impressions_flush() == 2
    home = Impression.objects.get(request_id=body["request_id"])
    assert home.scenario == "home" and home.customer_key == "c-gold"
    assert home.items == [item["id"] for item in body["items"]] and len(home.items) == 3
    assert home.model_version == body["model_version"] and home.experiment_id is None and home.arm == ""
    search = Impression.objects.exclude(pk=home.pk).get()
    assert search.scenario == "search" and search.customer_key == ""


def test_request_ids_carry_their_time():
    rid = request_id_new()
    assert len(rid) == 32 and int(rid, 16) >= 0
    assert abs((request_id_time(rid) - timezone.now()).total_seconds()) < 5
    assert request_id_time("not-an-id") is None and request_id_time("z" * 32) is None


def test_explicit_ids_credit_views_carts_and_purchases_once(shop, storefront):
    body = _home(storefront)
    rid, shown = body["request_id"], [item["id"] for item in body["items"]]
    response = _post(storefront,
                     _event(1, shown[1], "view", rid=rid),
                     _event(2, shown[1], "add_to_cart", rid=rid),
                     _event(3, shown[1], "purchase", rid=rid, price="19.99"),
                     _event(4, shown[2], "purchase", rid=rid, price=5))
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["attribution"]["status"] for r in results] == ["attributed"] * 4
    assert [r["attribution"]["position"] for r in results] == [2, 2, 2, 3]
    assert {r["attribution"]["method"] for r in results} == {"explicit"}
    rows = Attribution.objects.order_by("event__client_event_id")
    assert [(a.event_type, a.position, a.revenue, a.first_of_type) for a in rows] == [
        ("view", 2, Decimal(0), True), ("add_to_cart", 2, Decimal(0), True),
        ("purchase", 2, Decimal("19.99"), True), ("purchase", 3, Decimal(5), False)]
    # the storefront retries the batch: duplicates, nothing credited twice
    again = _post(storefront, _event(3, shown[1], "purchase", rid=rid, price="19.99"))
    assert again.json()["results"][0]["status"] == "duplicate" and again.json()["results"][0]["attribution"] is None
    assert Attribution.objects.count() == 4


def test_bad_recommendation_ids_store_the_event_and_say_why(shop, storefront):
    gold = _home(storefront, "c-gold")
    other = _home(storefront, "c-plat")
    shown = gold["items"][0]["id"]
    not_shown = next(i for i in ("J001", "J002", "J003", "J004", "J005") if i not in [x["id"] for x in gold["items"]])
    old_unknown = f"{0x0100000000:012x}" + "0" * 20  # a well-formed id from 1970
    response = _post(storefront,
                     _event(1, shown, "view", rid=other["request_id"]),  # shown to another customer
                     _event(2, not_shown, "view", rid=gold["request_id"]),  # not in that answer
                     _event(3, shown, "view", rid=old_unknown),
                     _event(4, shown, "view", rid="something-else"),
                     _event(5, shown, "favorite", rid=gold["request_id"]))
    assert response.status_code == 200 and response.json()["created"] == 5
    codes = [r["attribution"]["code"] for r in response.json()["results"]]
    assert codes == ["foreign_recommendation_id", "item_not_shown", "unknown_recommendation_id",
                     "unknown_recommendation_id", "not_attributed_type"]
    assert {r["attribution"]["status"] for r in response.json()["results"]} == {"skipped"}
    assert Event.objects.filter(client_event_id__in=["e1", "e2", "e3", "e4", "e5"]).count() == 5
    assert Attribution.objects.count() == 0


def test_an_id_not_written_yet_is_matched_when_it_is(shop, storefront):
    rid = request_id_new()  # issued a moment ago by another process whose batch is not written yet
    response = _post(storefront, _event(1, "J003", "purchase", rid=rid, price=12))
    outcome = response.json()["results"][0]["attribution"]
    assert outcome["status"] == "pending" and outcome["recommendation_id"] == rid
    assert attributions_pending_resolve() == {"attributed": 0, "skipped": 0, "expired": 0}
    Impression.objects.create(request_id=rid, scenario="home", model_version="v", customer_key="c-gold",
                              items=["J001", "J003"], shown_at=timezone.now())
    assert attributions_pending_resolve() == {"attributed": 1, "skipped": 0, "expired": 0}
    credit = Attribution.objects.get()
    assert (credit.position, credit.revenue, credit.method) == (2, Decimal(12), "explicit")
    assert AttributionPending.objects.count() == 0
    assert attributions_pending_resolve() == {"attributed": 0, "skipped": 0, "expired": 0}  # nothing twice


def test_a_pending_id_that_never_appears_expires(shop, storefront):
    rid = request_id_new()
    _post(storefront, _event(1, "J003", "view", rid=rid))
    assert attributions_pending_resolve(now=timezone.now() + timedelta(minutes=3)) == {
        "attributed": 0, "skipped": 0, "expired": 1}
    assert AttributionPending.objects.count() == 0 and Attribution.objects.count() == 0


def test_without_an_id_the_window_credits_the_latest_answer_that_showed_the_item(shop, storefront, settings):
    settings.JEWELREC_ATTRIBUTION_WINDOW_HOURS = 2
    first = _home(storefront)
    second = _home(storefront)
    item = second["items"][0]["id"]
    now = timezone.now()
    response = _post(storefront,
                     _event(1, item, "purchase", price=7, at=now + timedelta(minutes=5)),
                     _event(2, item, "view", at=now + timedelta(hours=3)),  # past the window
                     _event(3, item, "view", customer="c-plat", at=now + timedelta(minutes=1)))  # never shown to them
    results = response.json()["results"]
    assert results[0]["attribution"]["method"] == "window"
    assert results[0]["attribution"]["recommendation_id"] == second["request_id"] != first["request_id"]
    assert results[1]["attribution"] is None and results[2]["attribution"] is None
    assert Attribution.objects.get().impression.request_id == second["request_id"]
