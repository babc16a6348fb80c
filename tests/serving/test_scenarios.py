"""Scenario engine: eligibility, exclusivity, rules, reasons and the feed cursor."""
from datetime import timedelta

import pytest
from django.utils import timezone

from recommender.models import Event, MerchandisingRule, RecommenderSettings
from recommender.serving import scenarios
from recommender.serving.catalog import serving_catalog_invalidate
from recommender.serving.errors import DomainError, NotEntitledError, NotFoundError

pytestmark = pytest.mark.django_db


def ids(result):
    return [item.id for item in result.items]


def test_home_for_unknown_customer_is_popular_and_flagged(shop):
    result = scenarios.recommend_home(scenarios.Request(customer_id="nobody", k=3))
    assert result.customer_known is False
    assert result.personalised is False
    assert ids(result)[:2] == ["J001", "J003"]  # most bought first
    assert result.items[0].reason == "Popular with customers who bought trousers" or result.items[0].reason == "Popular this week"


def test_never_inactive_out_of_stock_or_exclusive_for_non_members(shop):
    result = scenarios.recommend_home(scenarios.Request(customer_id="c-none", k=100))
    shown = set(ids(result))
    assert shown == {"J001", "J002", "J003", "J004", "J005"}


@pytest.mark.parametrize("tier,visible", [
    ("silver", {"J101"}),
    ("gold", {"J101", "J102"}),
    ("platinum", {"J101", "J102", "J103"}),
])
def test_member_exclusive_shows_own_tier_and_below(shop, tier, visible):
    customer = shop["customers"][tier].external_id
    result = scenarios.recommend_member_exclusive(scenarios.Request(customer_id=customer, k=10))
    assert set(ids(result)) == visible
    assert result.extras["tier"] == tier


def test_member_exclusive_reason_names_the_items_own_tier(shop):
    """A Platinum member also sees Silver and Gold items: those are not 'reserved for Platinum'."""
    customer = shop["customers"]["platinum"].external_id
    result = scenarios.recommend_member_exclusive(scenarios.Request(customer_id=customer, k=10))
    expected = {"J101": "Reserved for Silver members and above", "J102": "Reserved for Gold members and above",
                "J103": "Reserved for Platinum members"}
    tiered = [item for item in result.items if item.reason.startswith("Reserved for")]
    assert tiered  # the fixture's platinum customer has no history that would explain these items
    for item in tiered:
        assert item.reason == expected[item.id]


def test_member_exclusive_refuses_non_members_and_unknowns(shop):
    with pytest.raises(NotEntitledError):
        scenarios.recommend_member_exclusive(scenarios.Request(customer_id="c-none"))
    with pytest.raises(NotFoundError):
        scenarios.recommend_member_exclusive(scenarios.Request(customer_id="ghost"))


def test_type_filter_and_unknown_type(shop):
    result = scenarios.recommend_home(scenarios.Request(k=10, product_type="earring"))
    assert set(ids(result)) == {"J001", "J002"}  # Earring and Earrings are one type
    with pytest.raises(DomainError):
        scenarios.recommend_home(scenarios.Request(k=10, product_type="spaceship"))


@pytest.mark.parametrize("k", [0, 101, -1])
def test_k_out_of_range(shop, k):
    with pytest.raises(DomainError) as exc:
        scenarios.recommend_home(scenarios.Request(k=k))
    assert exc.value.field == "k"


def test_purchased_items_excluded_by_default_and_configurable(shop):
    customer = shop["customers"]["none"]
    Event.objects.create(customer=customer, item=shop["items"]["hoop"], event_type="purchase", timestamp=timezone.now())
    assert "J001" not in ids(scenarios.recommend_home(scenarios.Request(customer_id="c-none", k=100)))
    settings = RecommenderSettings.load()
    settings.exclude_purchased = False
    settings.save()
    assert "J001" in ids(scenarios.recommend_home(scenarios.Request(customer_id="c-none", k=100)))


def test_rules_pin_boost_bury_exclude(shop):
    base = ids(scenarios.recommend_home(scenarios.Request(k=5)))
    assert base[0] == "J001"
    MerchandisingRule.objects.create(name="pin cuff", action="pin", target="item", value="J005", position=1)
    MerchandisingRule.objects.create(name="no rings", action="exclude", target="type", value="ring")
    MerchandisingRule.objects.create(name="bury hoops", action="bury", target="item", value="J001", weight=100)
    result = scenarios.recommend_home(scenarios.Request(k=5))
    assert ids(result)[0] == "J005"
    assert result.items[0].reason == "Featured by our merchandisers"
    assert "J004" not in ids(result)
    assert ids(result)[-1] == "J001"


def test_scheduled_rule_only_applies_in_its_window(shop):
    now = timezone.now()
    MerchandisingRule.objects.create(name="future", action="exclude", target="item", value="J001",
                                     starts_at=now + timedelta(days=1))
    assert "J001" in ids(scenarios.recommend_home(scenarios.Request(k=5)))
    MerchandisingRule.objects.create(name="now", action="exclude", target="item", value="J001",
                                     starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=1))
    assert "J001" not in ids(scenarios.recommend_home(scenarios.Request(k=5)))


def test_pin_never_overrides_exclusivity(shop):
    MerchandisingRule.objects.create(name="pin vip", action="pin", target="item", value="J103", position=1)
    assert "J103" not in ids(scenarios.recommend_home(scenarios.Request(customer_id="c-none", k=5)))
    assert ids(scenarios.recommend_home(scenarios.Request(customer_id="c-plat", k=5)))[0] == "J103"


def test_cross_sell_never_returns_cart_items_and_checks_ids(shop):
    result = scenarios.recommend_cross_sell(scenarios.Request(k=10), ["J001", "G001"])
    assert "J001" not in ids(result) and "G001" not in ids(result)
    assert result.items
    with pytest.raises(NotFoundError):
        scenarios.recommend_cross_sell(scenarios.Request(k=10), ["NOPE"])


def test_feed_pages_never_repeat_and_end(shop):
    seen, cursor, pages = [], None, 0
    while True:
        result = scenarios.feed_page(scenarios.Request(customer_id="c-plat"), 2, cursor)
        seen += ids(result)
        pages += 1
        cursor = result.extras["next_cursor"]
        if cursor is None:
            break
        assert pages < 20
    assert len(seen) == len(set(seen))
    assert set(seen) == {"J001", "J002", "J003", "J004", "J005", "J101", "J102", "J103"}


def test_feed_rejects_a_forged_cursor(shop):
    with pytest.raises(DomainError) as exc:
        scenarios.feed_page(scenarios.Request(), 5, "not-a-cursor!!")
    assert exc.value.field == "cursor"


def test_new_event_changes_the_next_answer(shop):
    """No retraining: history is read at request time."""
    customer = shop["customers"]["none"]
    before = scenarios.recommend_home(scenarios.Request(customer_id="c-none", k=3))
    assert before.personalised is False
    Event.objects.create(customer=customer, item=shop["items"]["jeans"], event_type="view", timestamp=timezone.now())
    serving_catalog_invalidate()
    after = scenarios.recommend_home(scenarios.Request(customer_id="c-none", k=3))
    assert after.personalised is True
    assert any("trousers" in item.reason for item in after.items)
