"""Item services, tiers and the model constraints behind them."""
from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from recommender.catalog.services import (
    DuplicateExternalId,
    ItemInvalid,
    customer_tier_code_for,
    item_create,
    item_exclusive_tier_code_for,
    item_update,
    tiers_ensure,
)
from recommender.models import Customer, Item, MembershipTier
from tests.factories import ItemFactory

pytestmark = pytest.mark.django_db


def test_tiers_ensure_creates_the_four_tiers_once():
    tiers = tiers_ensure()
    assert [(t.code, t.rank) for t in MembershipTier.objects.all()] == [
        ("none", 0), ("silver", 1), ("gold", 2), ("platinum", 3)
    ]
    assert tiers_ensure()["gold"].pk == tiers["gold"].pk
    assert MembershipTier.objects.count() == 4


def test_item_create_derives_jewelry_from_type_case_insensitively():
    ring = item_create(external_id=" R1 ", title="Ring", product_type="RING", price="12.5")
    assert ring.external_id == "R1" and ring.is_jewelry is True and ring.price == Decimal("12.5")
    earrings = item_create(external_id="E1", title="Studs", product_type="earrings")
    assert earrings.is_jewelry is True
    top = item_create(external_id="T1", title="Top", product_type="Vest top")
    assert top.is_jewelry is False
    forced = item_create(external_id="W1", title="Watch", product_type="Watch", is_jewelry=True)
    assert forced.is_jewelry is True


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"external_id": "", "title": "x", "product_type": "Ring"}, "external_id", "must not be empty"),
        ({"external_id": "a/b", "title": "x", "product_type": "Ring"}, "external_id", "slash"),
        ({"external_id": "ok", "title": " ", "product_type": "Ring"}, "title", "must not be empty"),
        ({"external_id": "ok", "title": "x", "product_type": ""}, "product_type", "must not be empty"),
        ({"external_id": "ok", "title": "x", "product_type": "Ring", "price": "-1"}, "price", ">= 0"),
        ({"external_id": "ok", "title": "x", "product_type": "Ring", "price": "abc"}, "price", "not a number"),
        ({"external_id": "ok", "title": "x", "product_type": "Ring", "currency": "euro"}, "currency", "3-letter"),
        ({"external_id": "ok", "title": "x", "product_type": "Ring", "exclusive_tier": "diamond"}, "exclusive_tier", "unknown tier"),
        ({"external_id": "ok", "title": "x", "product_type": "Ring", "colour": "x" * 65}, "colour", "longer than 64"),
        ({"external_id": "ok", "title": "x", "product_type": "Ring", "nonsense": 1}, "nonsense", "not an item field"),
    ],
)
def test_item_create_validation(fields, field, message):
    with pytest.raises(ItemInvalid) as exc:
        item_create(**fields)
    assert exc.value.field == field and message in str(exc.value)
    assert Item.objects.count() == 0


def test_duplicate_external_id_is_a_domain_error():
    item_create(external_id="D1", title="a", product_type="Ring")
    with pytest.raises(DuplicateExternalId, match="an item with id 'D1' already exists"):
        item_create(external_id="D1", title="b", product_type="Ring")
    other = item_create(external_id="D2", title="b", product_type="Ring")
    with pytest.raises(DuplicateExternalId):
        item_update(other, external_id="D1")
    assert Item.objects.get(pk=other.pk).external_id == "D2"


def test_item_update_rederives_jewelry_and_sets_tier():
    tiers = tiers_ensure()
    item = item_create(external_id="U1", title="Top", product_type="Vest top")
    item_update(item, product_type="Necklace", exclusive_tier="gold", style_tags="gold; minimal ;")
    item.refresh_from_db()
    assert item.is_jewelry is True and item.exclusive_tier == tiers["gold"]
    assert item.style_tags == ["gold", "minimal"]
    item_update(item, exclusive_tier="")
    item.refresh_from_db()
    assert item.exclusive_tier is None


def test_database_refuses_negative_price_and_duplicate_ids():
    ItemFactory(external_id="C1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Item.objects.create(external_id="C2", title="x", product_type="Ring", price=Decimal("-0.01"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Item.objects.create(external_id="C1", title="x", product_type="Ring")
    with pytest.raises(IntegrityError), transaction.atomic():
        Item.objects.create(external_id="", title="x", product_type="Ring")
    Customer.objects.create(external_id="k1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(external_id="k1")


def test_sample_tier_rules_are_deterministic_and_near_the_documented_shares():
    codes = Counter(customer_tier_code_for(f"customer-{n}") for n in range(20_000))
    shares = {k: v / 20_000 for k, v in codes.items()}
    assert abs(shares["none"] - 0.60) < 0.02
    assert abs(shares["silver"] - 0.25) < 0.02
    assert abs(shares["gold"] - 0.10) < 0.015
    assert abs(shares["platinum"] - 0.05) < 0.01
    assert customer_tier_code_for("abc") == customer_tier_code_for("abc")
    exclusive = Counter(item_exclusive_tier_code_for(f"{n:010d}", is_jewelry=True) for n in range(20_000))
    assert abs((20_000 - exclusive[None]) / 20_000 - 0.08) < 0.01
    assert item_exclusive_tier_code_for("0000000001", is_jewelry=False) is None


def test_create_tiers_command(capsys):
    from django.core.management import call_command

    call_command("create_tiers", skip_checks=True)
    call_command("create_tiers", skip_checks=True)
    assert MembershipTier.objects.count() == 4
    assert "none (rank 0), silver (rank 1), gold (rank 2), platinum (rank 3)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("written", "stored"),
    [("Earrings", "Earring"), (" earring ", "Earring"), ("EARRINGS", "Earring"), ("Rings", "Ring"),
     ("necklace", "Necklace"), ("Trousers", "Trousers"), ("Vest top", "Vest top")],
)
def test_item_types_are_stored_in_one_spelling(written, stored):
    item = item_create(external_id="T1", title="x", product_type=written)
    assert item.product_type == stored
    assert item.is_jewelry is (stored in {"Earring", "Ring", "Necklace"})
    item_update(item, product_type=written.upper())
    item.refresh_from_db()
    assert item.product_type == (stored if item.is_jewelry else written.upper().strip())


def test_items_without_price_take_the_median_of_their_purchases():
    from recommender.catalog.services import item_prices_fill_from_purchases
    from recommender.models import Event

    customer = Customer.objects.create(external_id="c1")
    unpriced = ItemFactory(external_id="U1", price=None)
    priced = ItemFactory(external_id="P1", price=Decimal("5.00"))
    never_bought = ItemFactory(external_id="N1", price=None)
    viewed = ItemFactory(external_id="V1", price=None)
    for item, price, kind in [(unpriced, "9.99", "purchase"), (unpriced, "19.99", "purchase"),
                              (unpriced, "19.99", "purchase"), (unpriced, None, "purchase"),
                              (priced, "7.00", "purchase"), (viewed, "3.00", "view")]:
        Event.objects.create(customer=customer, item=item, event_type=kind, price=price,
                             timestamp="2020-09-20T12:00:00Z")

    assert item_prices_fill_from_purchases() == 1
    assert dict(Item.objects.values_list("external_id", "price")) == {
        "U1": Decimal("19.99"), "P1": Decimal("5.00"), "N1": None, "V1": None,
    }
    assert item_prices_fill_from_purchases() == 0  # nothing left to fill
