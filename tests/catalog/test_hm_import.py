"""The H&M sample import on a real slice: mapping, tiers, photos and idempotency."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from recommender.catalog.importing.hm_sample import (
    event_id_for,
    import_hm_sample,
    sample_item_prices,
    sample_price,
    material_from_text,
    style_tags_for,
)
from recommender.models import Customer, Event, Item, ItemImage, MembershipTier

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

LIMIT_ARTICLES = 2000
LIMIT_TRANSACTIONS = 3000
JEWELRY = {"earring", "earrings", "necklace", "ring", "bracelet"}


def _counts():
    return (Item.objects.count(), Customer.objects.count(), Event.objects.count(), ItemImage.objects.count())


def test_slice_import_maps_the_sample_and_a_rerun_changes_nothing(hm_dir, _media_root):
    articles = pd.read_parquet(hm_dir / "articles.parquet").iloc[:LIMIT_ARTICLES]
    transactions = pd.read_parquet(hm_dir / "transactions.parquet")
    touching = transactions[transactions["article_id"].isin(set(articles["article_id"]))].iloc[:LIMIT_TRANSACTIONS]
    jewelry = articles[articles["product_type_name"].str.lower().isin(JEWELRY)]
    assert len(jewelry) == 21  # the first 2,000 articles include jewelry
    photos = [p for p in (hm_dir / "images").glob("*.jpg") if p.stem in set(articles["article_id"])]

    report = import_hm_sample(hm_dir.parent, limit_articles=LIMIT_ARTICLES, limit_transactions=LIMIT_TRANSACTIONS)

    assert report.ok
    assert report.kinds["items"]["created"] == LIMIT_ARTICLES
    assert report.kinds["events"]["created"] == len(touching) == LIMIT_TRANSACTIONS
    assert report.kinds["customers"]["created"] == touching["customer_id"].nunique()
    assert report.kinds["photos"]["created"] == len(photos) > 0
    assert _counts() == (LIMIT_ARTICLES, touching["customer_id"].nunique(), LIMIT_TRANSACTIONS, len(photos))
    assert Item.objects.filter(is_jewelry=True).count() == 21
    assert set(Item.objects.values_list("currency", flat=True)) == {"EUR"}

    # Field mapping on one real article.
    first = articles.iloc[0]
    item = Item.objects.get(external_id=first["article_id"])
    assert (item.title, item.product_type, item.product_group, item.colour, item.department) == (
        first["prod_name"], first["product_type_name"], first["product_group_name"],
        first["colour_group_name"], first["department_name"],
    )
    assert item.description == first["detail_desc"]
    # Nobody bought this article that week, but three people bought the same product
    # (0108775) in another colour at 0.008458: 0.008458 x 590 = 4.99.
    assert len(transactions[transactions["article_id"] == first["article_id"]]) == 0
    sibling = transactions[transactions["article_id"] == "0108775044"]["price"]
    assert [round(float(p), 6) for p in sibling] == [0.008458] * 3
    assert item.price == Decimal("4.99")
    assert Item.objects.get(external_id="0108775044").price == Decimal("4.99")

    # Purchases: noon UTC on t_dat, channel from sales_channel_id, deterministic id.
    row = touching.iloc[0]
    event = Event.objects.select_related("customer", "item").get(
        client_event_id=event_id_for(touching.index[0], row["customer_id"], row["article_id"], row["t_dat"],
                                     float(row["price"]))
    )
    assert event.timestamp == datetime.combine(row["t_dat"], datetime.min.time(), tzinfo=UTC).replace(hour=12)
    assert event.channel == {1: "store", 2: "online"}[int(row["sales_channel_id"])]
    assert event.event_type == "purchase" and event.item.external_id == row["article_id"]
    assert event.price == sample_price(float(row["price"]))
    assert event.customer.tier is not None
    assert MembershipTier.objects.count() == 4

    # Photos went through validation and storage.
    photo = ItemImage.objects.first()
    assert (photo.width, photo.height, photo.format) == (360, 540, "JPEG")
    assert (_media_root / photo.image.name).exists()

    before = _counts()
    files_before = sorted(p.name for p in _media_root.rglob("*.jpg"))
    again = import_hm_sample(hm_dir.parent, limit_articles=LIMIT_ARTICLES, limit_transactions=LIMIT_TRANSACTIONS)
    assert again.created == 0 and again.updated == 0
    assert again.unchanged == report.created
    assert "total: 0 created, 0 updated" in again.summary()
    assert _counts() == before
    assert sorted(p.name for p in _media_root.rglob("*.jpg")) == files_before


def test_changed_article_is_updated_not_duplicated(hm_dir):
    import_hm_sample(hm_dir, limit_articles=50, limit_transactions=0)
    item = Item.objects.order_by("external_id").first()
    Item.objects.filter(pk=item.pk).update(title="edited")
    report = import_hm_sample(hm_dir, limit_articles=50, limit_transactions=0)
    assert report.kinds["items"] == {"created": 0, "updated": 1, "unchanged": 49, "skipped": 0}
    item.refresh_from_db()
    assert item.title != "edited"


def test_sample_price_scale_gives_retail_prices():
    # Real values of the week: x590 lands on the retailer's .99 endings.
    assert sample_price(0.016932) == Decimal("9.99")
    assert sample_price(0.033881) == Decimal("19.99")
    assert sample_price(0.50678) == Decimal("299.00")
    assert sample_price(0.008458) == Decimal("4.99")
    assert sample_price(0.01, Decimal("100")) == Decimal("1.00")


def test_sample_item_prices_median_then_same_product_then_none():
    prices = sample_item_prices(
        ["0100000001", "0100000002", "0200000001", "0300000001"],
        ["0100000001", "0100000001", "0100000001", "0200000001", "0200000001", "0900000001"],
        [0.016932, 0.016932, 0.033881, 0.008458, 0.016932, 0.5],
        Decimal("590"),
    )
    assert prices == {
        "0100000001": Decimal("9.99"),  # median of 9.99, 9.99, 19.99
        "0100000002": Decimal("9.99"),  # never bought: the same product (0100000) in another colour
        "0200000001": Decimal("7.49"),  # even count: mean of the middle two (4.99, 9.99), to the cent
    }  # 0300000001: nobody bought that product -> no price


def test_changing_the_scale_reprices_items_and_events_on_reimport(hm_dir, settings):
    import_hm_sample(hm_dir, limit_articles=400, limit_transactions=300)
    event = Event.objects.select_related("item").order_by("id").first()
    item = event.item
    old_item, old_event = item.price, event.price
    settings.JEWELREC_SAMPLE_PRICE_SCALE = 2 * 590
    settings.JEWELREC_SAMPLE_CURRENCY = "SEK"
    report = import_hm_sample(hm_dir, limit_articles=400, limit_transactions=300)
    assert report.kinds["events"]["updated"] == 300 and report.kinds["events"]["created"] == 0
    item.refresh_from_db()
    event.refresh_from_db()
    assert (item.currency, event.price) == ("SEK", 2 * old_event)
    assert abs(item.price - 2 * old_item) <= Decimal("0.01")  # a median of two may round differently
    assert import_hm_sample(hm_dir, limit_articles=400, limit_transactions=300).updated == 0


def test_material_and_tags_derivation():
    assert material_from_text("Earrings in sterling silver with metal hooks.") == "sterling silver"
    assert material_from_text("Gold-plated metal hoops.") == "gold-plated"
    assert material_from_text("Necklace in metal.") == "metal"
    assert material_from_text("Knitted jumper.") == ""
    assert style_tags_for("Glittering/Metallic", "Womens Small accessories") == ["glittering", "metallic", "womens"]
    assert style_tags_for("Solid", "Men Accessories") == ["mens"]


def test_import_sample_command_reports_and_fails_clearly_on_a_missing_path(tmp_path, hm_dir, capsys):
    with pytest.raises(CommandError, match="H&M sample file not found: .*articles.parquet"):
        call_command("import_sample", "--data-dir", str(tmp_path / "nowhere"), "--no-progress", skip_checks=True)
    call_command("import_sample", "--data-dir", str(hm_dir), "--limit-articles", "30", "--limit-transactions", "10",
                 "--no-progress", skip_checks=True)
    out = capsys.readouterr().out
    assert "items: 30 created" in out and "total:" in out


def test_the_storefront_api_and_the_dashboard_show_the_same_prices(hm_dir, django_user_model):
    """The stored price is the one number: the API returns it, the catalog page prints it to the cent."""
    from django.test import Client
    from rest_framework.test import APIClient

    from recommender.serving.api_keys import api_key_create
    from recommender.serving.catalog import serving_catalog_invalidate

    import_hm_sample(hm_dir, limit_articles=3000, limit_transactions=4000)
    serving_catalog_invalidate()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_key_create(name='shop', scopes=['read']).secret}")
    body = api.get("/api/v1/recommendations/home", {"k": 10}).json()
    assert len(body["items"]) == 10
    staff = Client()
    staff.force_login(django_user_model.objects.create_user(username="m", password="x", is_staff=True))
    priced = 0
    for shown in body["items"]:
        item = Item.objects.get(external_id=shown["id"])
        page = staff.get("/catalog/", {"q": item.external_id}).content.decode()
        assert shown["currency"] == "EUR"
        if item.price is None:  # nobody bought the product that week
            assert shown["price"] is None and ">no price</span>" in page
            continue
        priced += 1
        assert shown["price"] == float(item.price)
        assert item.price == item.price.quantize(Decimal("0.01"))  # to the cent, like 4.99
        assert f'<td class="num">{item.price:.2f} EUR</td>' in page
    assert priced >= 3
    serving_catalog_invalidate()
