import pytest

from recommender.catalog.services import tiers_ensure
from recommender.models import Customer, Event, Item
from recommender.serving.catalog import serving_catalog_invalidate


@pytest.fixture
def tiers(db):
    return tiers_ensure()


@pytest.fixture
def shop(db, tiers):
    """A small jewelry shop: open items, member-only items, an inactive and an out-of-stock one."""
    def item(eid, title, ptype, colour="Gold", tier=None, **kw):
        return Item.objects.create(external_id=eid, title=title, product_type=ptype, is_jewelry=True, colour=colour,
                                   exclusive_tier=tiers[tier] if tier else None, price=kw.pop("price", 10), **kw)

    items = {
        "hoop": item("J001", "Gold hoops", "Earring"),
        "stud": item("J002", "Silver studs", "Earrings", colour="Silver"),
        "chain": item("J003", "Gold chain necklace", "Necklace"),
        "ring": item("J004", "Silver ring", "Ring", colour="Silver"),
        "cuff": item("J005", "Gold cuff", "Bracelet"),
        "silver_vip": item("J101", "Member pearl necklace", "Necklace", tier="silver"),
        "gold_vip": item("J102", "Gold-member ring", "Ring", tier="gold"),
        "plat_vip": item("J103", "Platinum diamond ring", "Ring", tier="platinum"),
        "inactive": item("J900", "Retired earring", "Earring", is_active=False),
        "oos": item("J901", "Sold-out bracelet", "Bracelet", in_stock=False),
        "jeans": Item.objects.create(external_id="G001", title="Denim jeans", product_type="Trousers",
                                     product_group="Garment Lower body"),
    }
    customers = {
        "none": Customer.objects.create(external_id="c-none", tier=tiers["none"]),
        "silver": Customer.objects.create(external_id="c-silver", tier=tiers["silver"]),
        "gold": Customer.objects.create(external_id="c-gold", tier=tiers["gold"]),
        "platinum": Customer.objects.create(external_id="c-plat", tier=tiers["platinum"]),
    }
    from django.utils import timezone

    now = timezone.now()
    # Popularity: hoops > chain > ring.
    for n, key in enumerate(["hoop", "hoop", "hoop", "chain", "chain", "ring"]):
        buyer = Customer.objects.create(external_id=f"buyer-{n}")
        Event.objects.create(customer=buyer, item=items[key], event_type="purchase", timestamp=now)
        Event.objects.create(customer=buyer, item=items["jeans"], event_type="purchase", timestamp=now)
    serving_catalog_invalidate()
    yield {"items": items, "customers": customers}
    serving_catalog_invalidate()
