"""The shared customer-context cache: hits skip the database, every committed write is seen at once."""
import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from recommender.events.services import events_ingest
from recommender.models import Event
from recommender.serving import customers as customers_mod
from recommender.serving.customers import customer_context, customer_contexts_invalidate_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def cached(settings, shop):
    settings.JEWELREC_CONTEXT_CACHE_SECONDS = 600
    cache.clear()
    yield shop
    cache.clear()


def _queries(fn):
    with CaptureQueriesContext(connection) as q:
        result = fn()
    return result, len(q)


def test_a_cached_context_costs_no_query_and_equals_the_database_one(cached):
    Event.objects.create(customer=cached["customers"]["gold"], item=cached["items"]["hoop"], event_type="view",
                         timestamp=timezone.now())
    first, n1 = _queries(lambda: customer_context("c-gold"))
    second, n2 = _queries(lambda: customer_context("c-gold"))
    assert (n1, n2) == (1, 0)
    assert second == first and [h.external_id for h in second.history] == ["J001"]
    # unknown customers are cached too (as unknown), and so are customers without events
    assert _queries(lambda: customer_context("nobody"))[1] == 2
    assert _queries(lambda: customer_context("nobody")) == (customer_context("nobody"), 0)


def test_ingested_events_change_the_next_context(cached, django_capture_on_commit_callbacks):
    customer_context("c-gold")
    with django_capture_on_commit_callbacks(execute=True):
        results = events_ingest([{"customer_id": "c-gold", "item_id": "J003", "type": "purchase",
                                  "timestamp": timezone.now().isoformat()}])
    assert results[0].status == "created"
    ctx, n = _queries(lambda: customer_context("c-gold"))
    assert n == 1 and [h.external_id for h in ctx.history] == ["J003"]
    assert ctx.purchased_pks == {cached["items"]["chain"].pk}
    # a customer first seen in this batch stops being "unknown" at once
    assert customer_context("new-shopper").known is False
    with django_capture_on_commit_callbacks(execute=True):
        events_ingest([{"customer_id": "new-shopper", "item_id": "J001", "type": "view",
                        "timestamp": timezone.now().isoformat()}])
    assert customer_context("new-shopper").known is True


def test_tier_changes_and_single_row_writes_invalidate(cached, tiers, django_capture_on_commit_callbacks):
    assert customer_context("c-none").tier_code == "none"
    customer = cached["customers"]["none"]
    with django_capture_on_commit_callbacks(execute=True):
        customer.tier = tiers["gold"]
        customer.save()
    assert customer_context("c-none").tier_code == "gold"
    with django_capture_on_commit_callbacks(execute=True):
        Event.objects.create(customer=customer, item=cached["items"]["ring"], event_type="favorite",
                             timestamp=timezone.now())
    assert [h.external_id for h in customer_context("c-none").history] == ["J004"]


def test_a_context_read_before_a_commit_is_never_served_after_it(cached, monkeypatch,
                                                                   django_capture_on_commit_callbacks):
    """The race a plain delete-on-write cache loses: a request reads the database, the write
    commits and invalidates, then the request stores what it read before the write."""
    real = customers_mod._context_from_db

    def read_then_a_write_commits(external_id, limit):
        ctx = real(external_id, limit)  # the old history
        with django_capture_on_commit_callbacks(execute=True):
            events_ingest([{"customer_id": "c-silver", "item_id": "J005", "type": "add_to_cart",
                            "timestamp": timezone.now().isoformat()}])
        return ctx

    monkeypatch.setattr(customers_mod, "_context_from_db", read_then_a_write_commits)
    assert customer_context("c-silver").history == []  # this request saw the old state...
    monkeypatch.setattr(customers_mod, "_context_from_db", real)
    assert [h.external_id for h in customer_context("c-silver").history] == ["J005"]  # ...nobody after it


def test_bulk_imports_invalidate_every_context(cached, django_capture_on_commit_callbacks):
    customer_context("c-gold")
    # a bulk write that bypasses signals, as the sample import's raw inserts do
    Event.objects.bulk_create([Event(customer=cached["customers"]["gold"], item=cached["items"]["cuff"],
                                     event_type="view", timestamp=timezone.now())])
    assert customer_context("c-gold").history == []  # not told yet: the cached context is served
    with django_capture_on_commit_callbacks(execute=True):
        customer_contexts_invalidate_all()
    assert [h.external_id for h in customer_context("c-gold").history] == ["J005"]


def test_a_broken_cache_falls_back_to_the_database(cached, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "get_many", down)
    ctx, n = _queries(lambda: customer_context("c-plat"))
    assert n == 2 and ctx.known and ctx.tier_code == "platinum"


def test_off_by_default_in_this_configuration(shop, settings):
    assert settings.JEWELREC_CONTEXT_CACHE_SECONDS == 0
    customer_context("c-gold")
    assert _queries(lambda: customer_context("c-gold"))[1] == 2
