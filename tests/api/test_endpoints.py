"""Every storefront endpoint end to end through HTTP, on the small ``shop``."""
from __future__ import annotations

import io

import pytest
from django.utils import timezone
from PIL import Image

from recommender.models import Customer, Event, Item
from tests.api.shop_vectors import data_path, shop_vectors_install

pytestmark = pytest.mark.django_db

V1 = "/api/v1"
ITEM_KEYS = {"id", "title", "type", "price", "currency", "image_url", "score", "reason", "exclusive_tier"}
OPEN = {"J001", "J002", "J003", "J004", "J005"}
MEMBER = {"J101": "silver", "J102": "gold", "J103": "platinum"}


@pytest.fixture
def vshop(shop):
    """The shop with photos and real text/image/fused vectors (encoders load once per session)."""
    return shop_vectors_install(shop)


def ids(body) -> list[str]:
    return [item["id"] for item in body["items"]]


def ok(response, status=200) -> dict:
    assert response.status_code == status, response.content
    return response.json()


def assert_error(response, status, code, field=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    if field is not None:
        assert body["error"]["field"] == field, body


def assert_recommendation_shape(body, scenario):
    assert body["scenario"] == scenario
    assert body["model_version"]
    assert len(body["request_id"]) == 32
    for item in body["items"]:
        assert set(item) == ITEM_KEYS
        assert item["title"] and item["type"] and item["reason"]
        assert isinstance(item["score"], float)
        assert item["price"] is None or isinstance(item["price"], float)


# --- home -----------------------------------------------------------------------------------


def test_home_for_unknown_customer_is_flagged_non_personalised(shop, api):
    body = ok(api.get(f"{V1}/recommendations/home", {"customer_id": "never-seen", "k": 10}))
    assert_recommendation_shape(body, "home")
    assert body["customer_known"] is False and body["personalised"] is False
    assert set(ids(body)) == OPEN  # no inactive, sold-out, member-only or non-jewelry item
    assert ids(body)[:2] == ["J001", "J003"]  # most bought first
    assert body["items"][0]["price"] == 10.0 and body["items"][0]["currency"] == "EUR"


def test_home_request_ids_differ_and_type_filter_applies(shop, api):
    first = ok(api.get(f"{V1}/recommendations/home"))
    second = ok(api.get(f"{V1}/recommendations/home"))
    assert first["request_id"] != second["request_id"]
    earrings = ok(api.get(f"{V1}/recommendations/home", {"type": "earring", "k": 10}))
    assert set(ids(earrings)) == {"J001", "J002"}  # "Earring" and "Earrings"
    assert_error(api.get(f"{V1}/recommendations/home", {"type": "spaceship"}), 404, "unknown_type", "type")


def test_home_image_url_points_at_the_first_photo(vshop, api):
    body = ok(api.get(f"{V1}/recommendations/home", {"type": "ring", "k": 10}))
    ring = next(i for i in body["items"] if i["id"] == "J004")
    assert ring["image_url"].startswith("/media/") and ring["image_url"].endswith(".png")


def test_member_sees_own_tier_and_below_on_home(shop, api):
    body = ok(api.get(f"{V1}/recommendations/home", {"customer_id": "c-gold", "k": 100}))
    assert body["customer_known"] is True
    assert set(ids(body)) == OPEN | {"J101", "J102"}
    tiers = {i["id"]: i["exclusive_tier"] for i in body["items"]}
    assert tiers["J102"] == "gold" and tiers["J001"] is None


# --- cross-sell -------------------------------------------------------------------------------


def test_cross_sell_never_returns_cart_items(vshop, api):
    cart = ["J001", "J004", "G001"]
    body = ok(api.post(f"{V1}/recommendations/cross-sell", {"items": cart, "customer_id": "c-plat", "k": 100},
                       format="json"))
    assert_recommendation_shape(body, "cross_sell")
    assert body["items"] and not set(ids(body)) & set(cart)
    assert set(ids(body)) == {"J002", "J003", "J005", "J101", "J102", "J103"}
    assert_error(api.post(f"{V1}/recommendations/cross-sell", {"items": []}, format="json"), 400, "min_length", "items")


# --- member-exclusive -------------------------------------------------------------------------


@pytest.mark.parametrize("customer,visible", [
    ("c-silver", {"J101"}), ("c-gold", {"J101", "J102"}), ("c-plat", {"J101", "J102", "J103"}),
])
def test_member_exclusive_is_tier_and_below(shop, api, customer, visible):
    body = ok(api.get(f"{V1}/recommendations/member-exclusive", {"customer_id": customer}))
    assert_recommendation_shape(body, "member_exclusive")
    assert set(ids(body)) == visible


def test_member_exclusive_refuses_non_members_unknowns_and_missing_id(shop, api):
    url = f"{V1}/recommendations/member-exclusive"
    assert_error(api.get(url, {"customer_id": "c-none"}), 403, "not_entitled", "customer_id")
    assert_error(api.get(url, {"customer_id": "ghost"}), 404, "unknown_customer", "customer_id")
    assert_error(api.get(url), 400, "required", "customer_id")


# --- feed -------------------------------------------------------------------------------------


@pytest.mark.parametrize("customer,expected", [("c-plat", OPEN | set(MEMBER)), ("c-none", OPEN)])
def test_feed_pages_never_repeat_and_end_with_null_cursor(shop, api, customer, expected):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"customer_id": customer, "page_size": 3}
        if cursor:
            params["cursor"] = cursor
        body = ok(api.get(f"{V1}/feed", params))
        assert_recommendation_shape(body, "feed")
        assert 0 < len(body["items"]) <= 3
        seen += ids(body)
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert pages < 10
    assert len(seen) == len(set(seen))
    assert set(seen) == expected
    assert pages == -(-len(expected) // 3)


def test_feed_rejects_a_forged_cursor(shop, api):
    assert_error(api.get(f"{V1}/feed", {"cursor": "bm90LWEtY3Vyc29y"}), 400, "invalid_cursor", "cursor")


# --- similar ----------------------------------------------------------------------------------


def test_similar_excludes_the_anchor_and_respects_tiers(vshop, api):
    body = ok(api.get(f"{V1}/items/J004/similar", {"k": 100}))
    assert_recommendation_shape(body, "similar")
    assert "J004" not in ids(body)
    assert set(ids(body)) == OPEN - {"J004"}
    assert body["model_version"] != "attributes"  # fused vectors were used
    same = ok(api.get(f"{V1}/items/J004/similar", {"k": 100, "same_type": "true", "customer_id": "c-plat"}))
    assert set(ids(same)) == {"J102", "J103"}
    assert_error(api.get(f"{V1}/items/NOPE/similar"), 404, "unknown_item", "id")


def test_similar_to_a_member_only_item_is_unknown_below_its_tier(vshop, api):
    # Its title would otherwise appear in every reason ("Looks like the ...").
    response = api.get(f"{V1}/items/J103/similar", {"customer_id": "c-gold"})
    assert_error(response, 404, "unknown_item", "id")
    assert "Platinum" not in response.content.decode()
    body = ok(api.get(f"{V1}/items/J103/similar", {"customer_id": "c-plat", "k": 3}))
    assert body["items"][0]["reason"] == "Looks like the Platinum diamond ring"


# --- search -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_search_english_and_chinese(vshop, api):
    body = ok(api.post(f"{V1}/search", {"query": "silver ring", "k": 5}, format="json"))
    assert_recommendation_shape(body, "search")
    assert ids(body)[0] == "J004"
    assert body["parsed"]["types"] == ["ring"]
    chinese = ok(api.post(f"{V1}/search", {"query": "金色项链", "k": 5}, format="json"))  # gold necklace
    assert ids(chinese)[0] == "J003"
    assert "J101" not in ids(chinese)  # member-only necklace stays hidden from anonymous shoppers
    assert_error(api.post(f"{V1}/search", {"query": "   "}, format="json"), 400, "blank", "query")
    assert_error(api.post(f"{V1}/search", {}, format="json"), 400, "required", "query")


# --- image search -----------------------------------------------------------------------------


@pytest.mark.slow
def test_image_search_with_a_real_photo(vshop, api):
    photo = data_path("jewelry-photos/catalog-gold/ring/2019-09-02-Statement-Rings-Product-Double-Ring-1-1.png")
    with photo.open("rb") as fh:
        body = ok(api.post(f"{V1}/search/image?k=5", {"image": fh}, format="multipart"))
    assert_recommendation_shape(body, "image_search")
    # Only items with photos can match; the gold-member ring is hidden from anonymous shoppers.
    assert set(ids(body)) == {"J004", "J003"}
    assert ids(body)[0] == "J004"
    with photo.open("rb") as fh:
        member = ok(api.post(f"{V1}/search/image?k=5&customer_id=c-gold", {"image": fh}, format="multipart"))
    assert set(ids(member)) == {"J004", "J003", "J102"}


def test_image_search_rejects_broken_and_missing_images(shop, api):
    broken = io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"garbage" * 50)
    broken.name = "broken.png"
    assert_error(api.post(f"{V1}/search/image", {"image": broken}, format="multipart"), 400, "invalid_image", "image")
    empty = io.BytesIO(b"")
    empty.name = "empty.jpg"
    response = api.post(f"{V1}/search/image", {"image": empty}, format="multipart")
    assert_error(response, 400, "invalid_image", "image")
    assert_error(api.post(f"{V1}/search/image", {}, format="multipart"), 400, "required", "image")
    assert_error(api.post(f"{V1}/search/image", {"query": "x"}, format="json"), 415, "unsupported_media_type")


def test_image_search_truncated_jpeg_is_invalid_image(shop, api):
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "gold").save(buf, "JPEG")
    cut = io.BytesIO(buf.getvalue()[:40])
    cut.name = "cut.jpg"
    assert_error(api.post(f"{V1}/search/image", {"image": cut}, format="multipart"), 400, "invalid_image", "image")


def test_image_search_photo_over_the_upload_limit_is_413(shop, api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    buf = io.BytesIO()
    Image.effect_noise((64, 64), 60).convert("RGB").save(buf, "PNG")  # noise: does not compress below the limit
    assert len(buf.getvalue()) > 1000
    buf.seek(0)
    buf.name = "big.png"
    assert_error(api.post(f"{V1}/search/image", {"image": buf}, format="multipart"), 413, "too_large", "image")


# --- assistant --------------------------------------------------------------------------------


@pytest.mark.slow
def test_assistant_product_question_item_question_and_chinese(vshop, api):
    body = ok(api.post(f"{V1}/assistant", {"message": "do you have silver rings?"}, format="json"))
    assert_recommendation_shape(body, "assistant")
    assert body["intent"] == "product_search"
    assert ids(body)[0] == "J004"
    assert body["answer"].startswith("Yes, we have silver") and "Silver ring" in body["answer"]

    Item.objects.filter(external_id="J004").update(material="Sterling silver")
    item = ok(api.post(f"{V1}/assistant", {"message": "what is this made of?", "item_id": "J004"}, format="json"))
    assert item["intent"] == "item_material"
    assert item["answer"] == "The Silver ring is made of Sterling silver."
    assert "J004" not in ids(item)

    chinese = ok(api.post(f"{V1}/assistant", {"message": "有银色的戒指吗？"}, format="json"))  # any silver rings?
    assert chinese["answer"].startswith("有的") and "Silver ring" in chinese["answer"]
    assert ids(chinese)[0] == "J004"


def test_assistant_hides_member_items_and_checks_ids(shop, api):
    url = f"{V1}/assistant"
    # A platinum-only item is unknown to a non-member: no name leaks.
    response = api.post(url, {"message": "what is this made of?", "item_id": "J103", "customer_id": "c-none"},
                        format="json")
    assert_error(response, 404, "unknown_item", "item_id")
    assert "Platinum" not in response.content.decode()
    assert_error(api.post(url, {"message": ""}, format="json"), 400, "blank", "message")


# --- events -----------------------------------------------------------------------------------


def _event(n, **kw):
    base = {"event_id": f"e-{n}", "customer_id": "c-none", "item_id": "J002", "type": "view",
            "timestamp": "2024-05-01T10:00:00Z"}
    base.update(kw)
    return base


def test_events_batch_is_stored_and_retry_is_duplicate(shop, events_api):
    batch = [_event(1), _event(2, type="add_to_cart", item_id="J003"), _event(3, type="purchase", price="12.5")]
    body = ok(events_api.post(f"{V1}/events", {"events": batch}, format="json"))
    assert body["created"] == 3 and body["duplicates"] == 0 and body["errors"] == 0
    assert [r["status"] for r in body["results"]] == ["created"] * 3
    stored = Event.objects.filter(client_event_id__in=["e-1", "e-2", "e-3"])
    assert stored.count() == 3
    assert stored.get(client_event_id="e-3").price == 12.5
    again = ok(events_api.post(f"{V1}/events", {"events": batch + [_event(1)]}, format="json"))
    assert again["created"] == 0 and again["duplicates"] == 4
    assert Event.objects.filter(client_event_id__startswith="e-").count() == 3


def test_events_unknown_item_is_a_per_event_error_and_the_rest_is_stored(shop, events_api):
    batch = [_event(1), _event(2, item_id="NOPE"), _event(3, timestamp="yesterday"), _event(4, type="wink")]
    response = events_api.post(f"{V1}/events", {"events": batch}, format="json")
    body = ok(response, 207)
    assert body["created"] == 1 and body["errors"] == 3
    errors = {r["index"]: r["error"] for r in body["results"] if r["status"] == "error"}
    assert errors[1]["code"] == "unknown_item" and errors[1]["field"] == "item_id"
    assert errors[2]["field"] == "timestamp" and errors[3]["field"] == "type"
    assert list(Event.objects.filter(client_event_id__startswith="e-").values_list("client_event_id", flat=True)) == ["e-1"]


def test_events_all_bad_is_207_and_stores_nothing_and_a_non_batch_is_400(shop, events_api):
    before = Event.objects.count()
    body = ok(events_api.post(f"{V1}/events", {"events": [_event(1, item_id="NOPE")]}, format="json"), 207)
    assert body["errors"] == 1
    assert Event.objects.count() == before
    assert_error(events_api.post(f"{V1}/events", {"events": "nope"}, format="json"), 400, "not_a_list", "events")
    assert_error(events_api.post(f"{V1}/events", {"events": []}, format="json"), 400, "min_length", "events")


def test_events_create_unknown_customers_without_membership(shop, events_api):
    ok(events_api.post(f"{V1}/events", {"events": [_event(1, customer_id="brand-new")]}, format="json"))
    customer = Customer.objects.get(external_id="brand-new")
    assert customer.tier.code == "none"


def test_posted_event_changes_the_next_home_answer_without_retraining(vshop, api, events_api):
    home = f"{V1}/recommendations/home"
    before = ok(api.get(home, {"customer_id": "c-none", "k": 5}))
    assert before["personalised"] is False and ids(before)[0] == "J001"
    events = [_event(1, item_id="J001", type="purchase", timestamp=timezone.now().isoformat()),
              _event(2, item_id="J004", type="view", timestamp=timezone.now().isoformat())]
    ok(events_api.post(f"{V1}/events", {"events": events}, format="json"))
    after = ok(api.get(home, {"customer_id": "c-none", "k": 5}))
    assert after["personalised"] is True
    assert "J001" not in ids(after)  # bought: not recommended again
    assert "J004" in ids(after)
    reasons = {i["id"]: i["reason"] for i in after["items"]}
    assert any(r.startswith("Similar to the Silver ring you viewed") for r in reasons.values()), reasons


def test_ping(shop, api):
    assert ok(api.get(f"{V1}/ping")) == {"ok": True}
