"""Search and assistant bad input: a clear 400 or the documented fallback, never a 500."""
from __future__ import annotations

import pytest

from tests.api.test_endpoints import V1, assert_error, ids, ok

pytestmark = pytest.mark.django_db


def post(api, body):
    return api.post(f"{V1}/search", body, format="json")


@pytest.mark.parametrize("body, code, field", [
    ({"query": ""}, "blank", "query"),
    ({"query": " \t\n "}, "blank", "query"),
    ({}, "required", "query"),
    ({"query": "gold ring " * 1000}, "max_length", "query"),  # 10,000 characters
    ({"query": "ring", "price_max": "cheap"}, "invalid", "price_max"),
    ({"query": "ring", "price_min": "NaN"}, "invalid", "price_min"),
    ({"query": "ring", "price_min": "10"}, "invalid", "price_min"),  # a JSON number, not a string
    ({"query": "ring", "price_max": "1e400"}, "invalid", "price_max"),
    ({"query": "ring", "price_max": 1e12}, "max_value", "price_max"),
    ({"query": "ring", "price_min": -5}, "min_value", "price_min"),
])
def test_bad_search_input_is_a_clear_400(shop, api, body, code, field):
    assert_error(post(api, body), 400, code, field)


@pytest.mark.parametrize("query", ["the of and", "🙂💃🎉", "？？？", "的 吗 呢", "\u200b\u200b"])
def test_a_query_with_nothing_to_search_answers_popular_items_flagged(shop, api, query):
    body = ok(post(api, {"query": query, "k": 3}))
    assert body["parsed"]["fallback"] == "popular"
    assert ids(body) == ["J001", "J003", "J004"]  # the shop's most bought, open items


def test_bounds_in_the_text(shop, api):
    body = ok(post(api, {"query": "rings under 999999999999", "k": 5}))  # 10^12 - 1: read, excludes nothing
    assert body["parsed"]["price_max"] == 999999999999.0 and set(ids(body)) == {"J004"}
    assert_error(post(api, {"query": "rings under 99999999999999999999999999"}), 400, "number_out_of_range", "query")
    assert ok(post(api, {"query": "rings under 0", "k": 5}))["items"] == []  # met by nothing: an empty answer
    body = ok(post(api, {"query": "💍 not silver", "k": 5}))
    assert body["parsed"]["types"] == ["ring"] and body["parsed"]["excluded_colours"] == ["silver"]
    assert ids(body) == []  # the only open ring is silver


def test_explicit_price_bounds_filter(shop, api):
    body = ok(post(api, {"query": "gold", "price_min": 10, "price_max": 10, "k": 10}))
    assert body["parsed"]["price_min"] == 10 and body["parsed"]["price_max"] == 10
    assert set(ids(body)) == {"J001", "J003", "J005"}
    swapped = ok(post(api, {"query": "gold", "price_min": 20, "price_max": 5, "k": 10}))  # the range between them
    assert (swapped["parsed"]["price_min"], swapped["parsed"]["price_max"]) == (5, 20)
    assert set(ids(swapped)) == {"J001", "J003", "J005"}


def test_assistant_bad_input(shop, api):
    url = f"{V1}/assistant"
    assert_error(api.post(url, {"message": "x" * 1001}, format="json"), 400, "max_length", "message")
    body = ok(api.post(url, {"message": "🙂"}, format="json"))
    assert body["intent"] == "product_search" and body["answer"].startswith("Tell me what you are looking for")
