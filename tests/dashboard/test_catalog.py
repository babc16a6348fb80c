"""Catalog pages: filtered list with thumbnails, item create/edit, photos, bulk import."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from recommender.catalog.services import item_image_add, tiers_ensure
from recommender.models import Item, ItemImage, ItemVector
from tests.dashboard.conftest import make_item, make_vectors, png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(db):
    tiers = tiers_ensure()
    rings = [make_item(f"01000000{i:02d}", product_type="Ring", colour="Gold" if i % 2 else "Silver", price=f"{i}.00") for i in range(60)]
    make_item("0300000001", product_type="Necklace", title="Pearl necklace", exclusive_tier=tiers["gold"])
    make_item("0200000001", product_type="Dress", product_group="Garment Full body", title="Summer dress")
    for ring in rings[:3]:
        item_image_add(ring, png_bytes(colour=(10 * ring.pk % 255, 100, 100)))
        item_image_add(ring, png_bytes(colour=(100, 10 * ring.pk % 255, 100)))
    make_vectors(rings[:10])
    ItemVector.objects.filter(item=rings[9]).update(status="failed")
    return rings


def _rows(html: str) -> int:
    return html.count('<td class="mono"><a href="/catalog/items/')


def test_list_shows_jewelry_with_thumbnails_and_bounded_queries(staff_client, catalog, django_assert_max_num_queries):
    # 9: the page and its total, plus the merchandiser time zone (cached for a minute after).
    with django_assert_max_num_queries(9):
        response = staff_client.get(reverse("dashboard:catalog"))
    html = response.content.decode()
    assert _rows(html) == 50
    assert "Summer dress" not in html  # jewelry by default
    assert html.count('<img class="thumb"') == 3
    assert "page=2" in html
    page2 = staff_client.get(reverse("dashboard:catalog"), {"page": 2}).content.decode()
    assert _rows(page2) == 11
    assert "Next" not in page2


def test_list_query_count_does_not_grow_with_rows(staff_client, catalog, django_assert_max_num_queries):
    staff_client.get(reverse("dashboard:catalog"), {"scope": "all"})  # warm the filter-option cache
    with django_assert_max_num_queries(6):
        staff_client.get(reverse("dashboard:catalog"), {"scope": "all"})


@pytest.mark.parametrize(
    "params,expected",
    [
        ({"scope": "all", "q": "dress"}, ["0200000001"]),
        ({"q": "0300"}, ["0300000001"]),
        ({"product_type": "Necklace"}, ["0300000001"]),
        ({"tier": "gold"}, ["0300000001"]),
        ({"embedding": "failed"}, ["0100000009"]),
        ({"price_min": "58", "price_max": "59"}, ["0100000058", "0100000059"]),
        ({"colour": "Gold", "price_max": "4"}, ["0100000001", "0100000003", "0300000001"]),
        ({"photo": "with"}, ["0100000000", "0100000001", "0100000002"]),
        ({"photo": "without", "product_type": "Necklace"}, ["0300000001"]),
    ],
)
def test_list_filters(staff_client, catalog, params, expected):
    html = staff_client.get(reverse("dashboard:catalog"), params).content.decode()
    assert _rows(html) == len(expected)
    for external_id in expected:
        assert f">{external_id}</a>" in html


def test_list_says_how_many_items_match(staff_client, catalog):
    html = staff_client.get(reverse("dashboard:catalog")).content.decode()
    assert 'data-catalog-total="61"' in html and "Showing 1–50 of <strong>61</strong> items (jewelry)" in html
    html = staff_client.get(reverse("dashboard:catalog"), {"photo": "without"}).content.decode()
    assert "Showing 1–50 of <strong>58</strong> items (jewelry) matching the filters" in html
    html = staff_client.get(reverse("dashboard:catalog"), {"photo": "with", "scope": "all"}).content.decode()
    assert 'data-catalog-total="3"' in html


def test_list_prices_read_as_money(staff_client, catalog):
    Item.objects.filter(external_id="0100000007").update(price="19.990000", currency="EUR")
    html = staff_client.get(reverse("dashboard:catalog")).content.decode()
    assert '<td class="num">19.99 EUR</td>' in html
    Item.objects.filter(external_id="0300000001").update(price=None)
    html = staff_client.get(reverse("dashboard:catalog"), {"product_type": "Necklace"}).content.decode()
    assert '<span class="muted" title="Nobody bought this product at a known price yet">no price</span>' in html


def test_embedding_missing_filter_counts_items_without_a_vector_row(staff_client, catalog):
    html = staff_client.get(reverse("dashboard:catalog"), {"embedding": "missing", "page": 2}).content.decode()
    # 61 jewelry items, 10 have a vector row (none "missing"): 51 missing -> 1 row on page 2.
    assert _rows(html) == 1


def test_bad_filter_shows_inline_error(staff_client, catalog):
    html = staff_client.get(reverse("dashboard:catalog"), {"price_min": "10", "price_max": "2"}).content.decode()
    assert 'id="id_price_max_error"' in html and "at least the minimum" in html
    assert _rows(html) == 0


def test_create_item(staff_client):
    tiers_ensure()
    data = {"external_id": "0900000001", "title": "Hoop earrings", "product_type": "Earring", "currency": "eur", "price": "12.5",
            "style_tags": "minimal; gold", "exclusive_tier": "silver", "in_stock": "on", "is_active": "on"}
    response = staff_client.post(reverse("dashboard:item_new"), data)
    assert response.status_code == 302
    item = Item.objects.get(external_id="0900000001")
    assert (item.is_jewelry, item.currency, item.style_tags, item.exclusive_tier.code) == (True, "EUR", ["minimal", "gold"], "silver")

    again = staff_client.post(reverse("dashboard:item_new"), data).content.decode()
    assert 'id="id_external_id_error"' in again and "already exists" in again
    assert Item.objects.count() == 1


def test_edit_item_and_inline_errors(staff_client, catalog):
    ring = catalog[0]
    url = reverse("dashboard:item_detail", args=[ring.pk])
    html = staff_client.get(url).content.decode()
    assert html.count('<img src="/media/items/') == 2
    base = {"title": "Renamed ring", "product_type": "Ring", "currency": "USD", "price": "3.20", "is_active": "on"}
    assert staff_client.post(url, base).status_code == 302
    ring.refresh_from_db()
    assert (ring.title, ring.currency, str(ring.price), ring.in_stock) == ("Renamed ring", "USD", "3.200000", False)

    bad = staff_client.post(url, {**base, "currency": "EURO", "title": "Should not stick"})
    html = bad.content.decode()
    assert bad.status_code == 400
    assert 'id="id_currency_error"' in html
    ring.refresh_from_db()
    assert ring.title == "Renamed ring"


def test_photo_upload_reorder_delete(staff_client, catalog):
    ring = catalog[20]
    url = reverse("dashboard:item_photo_upload", args=[ring.pk])
    files = [SimpleUploadedFile(f"p{i}.png", png_bytes(colour=(i * 40, 0, 0)), content_type="image/png") for i in range(3)]
    assert staff_client.post(url, {"photos": files}).status_code == 302
    ids = list(ItemImage.objects.filter(item=ring).order_by("position").values_list("id", flat=True))
    assert len(ids) == 3

    staff_client.post(reverse("dashboard:item_photo_reorder", args=[ring.pk]), {"image": ids[2], "move": "left"})
    assert list(ItemImage.objects.filter(item=ring).order_by("position").values_list("id", flat=True)) == [ids[0], ids[2], ids[1]]
    staff_client.post(reverse("dashboard:item_photo_reorder", args=[ring.pk]), {"order": f"{ids[1]},{ids[0]},{ids[2]}"})
    assert list(ItemImage.objects.filter(item=ring).order_by("position").values_list("id", flat=True)) == [ids[1], ids[0], ids[2]]
    bad = staff_client.post(reverse("dashboard:item_photo_reorder", args=[ring.pk]), {"order": f"{ids[1]}"}, follow=True)
    assert "Could not reorder photos" in bad.content.decode()

    delete_url = reverse("dashboard:item_photo_delete", args=[ring.pk, ids[0]])
    assert "Delete photo" in staff_client.get(delete_url).content.decode()
    staff_client.post(delete_url)
    assert not ItemImage.objects.filter(pk=ids[0]).exists()
    assert ItemImage.objects.filter(item=ring).count() == 2


def test_photo_upload_rejects_non_images_inline(staff_client, catalog):
    ring = catalog[21]
    url = reverse("dashboard:item_photo_upload", args=[ring.pk])
    response = staff_client.post(url, {"photos": [SimpleUploadedFile("evil.png", b"<svg onload=alert(1)>", content_type="image/png")]})
    assert response.status_code == 400
    assert 'id="id_photos_error"' in response.content.decode()
    assert not ItemImage.objects.filter(item=ring).exists()
    empty = staff_client.post(url, {})
    assert "Choose at least one photo." in empty.content.decode()


def test_item_detail_404(staff_client):
    response = staff_client.get(reverse("dashboard:item_detail", args=[999]))
    assert response.status_code == 404
    assert "No item #999." in response.content.decode()  # names what is missing
    unknown_page = staff_client.get("/no-such-page/")
    assert unknown_page.status_code == 404 and "There is no page at <code>/no-such-page/</code>" in \
        unknown_page.content.decode()
