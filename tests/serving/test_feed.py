"""The feed: every eligible item once, then the end; a cursor only this server can write."""
from __future__ import annotations

import pytest
from django.core import signing
from django.utils import timezone
from hypothesis import HealthCheck, given, settings, strategies as st

from recommender.models import Customer, Event, Item
from recommender.serving import scenarios
from recommender.serving.catalog import serving_catalog_invalidate
from recommender.serving.errors import DomainError

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_catalog():
    serving_catalog_invalidate()  # rows are rolled back between tests without signals
    yield
    serving_catalog_invalidate()

TYPES = ["Ring", "Earring", "Necklace", "Bracelet"]
COLOURS = ["Gold", "Silver", "Rose"]


def _big_shop(tiers, n: int) -> set[str]:
    """``n`` open jewelry items plus some the walk must never see (member-only, inactive)."""
    Item.objects.bulk_create(
        [Item(external_id=f"F{i:05d}", title=f"Feed item {i}", product_type=TYPES[i % 4], is_jewelry=True,
              colour=COLOURS[i % 3], price=10 + i % 40) for i in range(n)]
        + [Item(external_id=f"X{i:03d}", title=f"Hidden {i}", product_type="Ring", is_jewelry=True,
                exclusive_tier=tiers["gold"], price=50) for i in range(5)]
        + [Item(external_id=f"Z{i:03d}", title=f"Retired {i}", product_type="Ring", is_jewelry=True,
                is_active=False, price=50) for i in range(5)])
    serving_catalog_invalidate()
    return {f"F{i:05d}" for i in range(n)}


def _walk(req: scenarios.Request, page_size: int, max_pages: int, between_pages=None) -> tuple[list[str], int]:
    served, cursor, pages = [], None, 0
    while True:
        result = scenarios.feed_page(req, page_size, cursor)
        assert result.extras["page"] == pages
        served += [item.id for item in result.items]
        pages += 1
        cursor = result.extras["next_cursor"]
        if cursor is None:
            return served, pages
        assert pages < max_pages, "the feed did not end"
        if between_pages:
            between_pages(pages)


@pytest.fixture
def feed_shop(tiers):
    return _big_shop(tiers, FEED_WALK_ITEMS)


FEED_WALK_ITEMS = scenarios.FEED_RANKED_ITEMS + 230  # past the ranked head into the tail


def test_walking_the_feed_serves_every_eligible_item_once_then_ends(feed_shop):
    """The regression of issue #16: repeats began after ~1,000 items and the feed never ended."""
    served, pages = _walk(scenarios.Request(customer_id="walker"), 100, max_pages=50)
    assert len(served) == len(set(served)), "an item was served twice"
    assert set(served) == feed_shop
    assert pages == -(-len(feed_shop) // 100)


def test_new_events_and_new_items_while_scrolling_never_cause_a_repeat(tiers, monkeypatch):
    monkeypatch.setattr(scenarios, "FEED_RANKED_ITEMS", 12)  # both phases with a small catalog
    expected = _big_shop(tiers, 40)
    customer = Customer.objects.create(external_id="scroller", tier=tiers["none"])

    def shop_between_pages(page):
        # the ranking moves under the shopper: events on items not yet served, and a new item
        item = Item.objects.get(external_id=f"F{39 - page:05d}")
        Event.objects.create(customer=customer, item=item, event_type="view", timestamp=timezone.now())
        if page == 4:
            Item.objects.create(external_id="NEW01", title="Brand new", product_type="Ring", is_jewelry=True,
                                colour="Gold", price=5)
            serving_catalog_invalidate()

    served, _ = _walk(scenarios.Request(customer_id="scroller"), 5, max_pages=30, between_pages=shop_between_pages)
    assert len(served) == len(set(served))
    # an item added in the tail phase is served when its place in the order is still ahead
    assert expected <= set(served) <= expected | {"NEW01"}


def test_a_type_filtered_feed_walks_only_that_type_to_its_end(tiers, monkeypatch):
    monkeypatch.setattr(scenarios, "FEED_RANKED_ITEMS", 7)
    everything = _big_shop(tiers, 48)
    rings = {eid for eid in everything if int(eid[1:]) % 4 == 0}
    served, pages = _walk(scenarios.Request(customer_id="c", product_type="ring"), 4, max_pages=10)
    assert sorted(served) == sorted(rings)
    assert pages == 3


def test_an_empty_feed_is_one_page_with_no_cursor(tiers):
    result = scenarios.feed_page(scenarios.Request(), 10, None)
    assert (result.items, result.extras["next_cursor"]) == ([], None)


# --- the cursor ------------------------------------------------------------------------------


def _page_one_cursor(shop_items, req: scenarios.Request) -> str:
    return scenarios.feed_page(req, 2, None).extras["next_cursor"]


def _assert_invalid(req, cursor):
    with pytest.raises(DomainError) as exc:
        scenarios.feed_page(req, 2, cursor)
    assert (exc.value.code, exc.value.field) == ("invalid_cursor", "cursor")


def test_a_cursor_is_signed_and_works_only_for_its_customer_and_type(shop):
    req = scenarios.Request(customer_id="c-plat")
    cursor = _page_one_cursor(shop, req)
    assert scenarios.feed_page(req, 2, cursor).items  # the real one works
    _assert_invalid(scenarios.Request(customer_id="c-none"), cursor)
    _assert_invalid(scenarios.Request(customer_id="c-plat", product_type="ring"), cursor)
    _assert_invalid(req, cursor[:-1] + ("A" if cursor[-1] != "A" else "B"))  # one character changed
    payload, _, signature = cursor.rpartition(":")
    _assert_invalid(req, payload + "x:" + signature)


def test_an_expired_cursor_is_refused(shop, settings):
    req = scenarios.Request(customer_id="c-plat")
    cursor = _page_one_cursor(shop, req)
    settings.JEWELREC_FEED_CURSOR_MAX_AGE = -1
    _assert_invalid(req, cursor)


# The hand-made cursors of the probe, now signed with the server's own key: the state inside
# is still checked, so even a leaked signing path cannot reach a 500.
HOSTILE_STATES = [
    {"s": -1, "p": 1, "r": [], "t": None},
    {"s": 1, "p": -5, "r": [], "t": None},
    {"s": 1, "p": 1, "r": [1e400], "t": None},
    {"s": 1, "p": 1, "r": [-3], "t": None},
    {"s": 1, "p": 1, "r": [10**30], "t": None},
    {"s": 1, "p": 1, "r": "1,2", "t": None},
    {"s": 1, "p": 1, "r": [], "t": -1},
    {"s": 1, "p": 1, "r": [], "t": 2**64},
    {"s": 1.5, "p": 1, "r": [], "t": None},
    {"s": True, "p": 1, "r": [], "t": None},
    {"s": 1, "p": 1, "r": [1] * (scenarios.FEED_RANKED_ITEMS + scenarios.MAX_K + 1), "t": None},
    {"s": 1, "p": 1, "r": []},
    {"seen": [1], "page": 1, "seed": 1},
    [1, 2, 3],
    "text",
    None,
]


@pytest.mark.parametrize("state", HOSTILE_STATES)
def test_a_signed_but_impossible_state_is_invalid_cursor(shop, state):
    req = scenarios.Request(customer_id="c-plat")
    _assert_invalid(req, signing.dumps(state, salt=scenarios._cursor_salt(req), compress=True))


def test_a_deeply_nested_signed_state_is_invalid_cursor(shop):
    req = scenarios.Request()
    nested = "[" * 5000 + "]" * 5000
    token = signing.TimestampSigner(salt=scenarios._cursor_salt(req)).sign(
        signing.b64_encode(nested.encode()).decode())
    _assert_invalid(req, token)


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cursor=st.one_of(st.text(min_size=1, max_size=300), st.from_regex(r"[A-Za-z0-9_\-:.]{1,200}", fullmatch=True),
                        st.builds(lambda a, b, c: f"{a}:{b}:{c}", st.text(max_size=40), st.text(max_size=10),
                                  st.text(max_size=30))))
def test_any_cursor_not_issued_here_is_invalid_cursor_never_an_exception(shop, cursor):
    _assert_invalid(scenarios.Request(customer_id="c-plat"), cursor)
