"""The hostile-input corpus of issue #16: each probe that found a 500, a lost event or an
imprecise answer, with the exact answer it must get now. Grows with every new finding."""
from __future__ import annotations

import io
import uuid

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from recommender.models import Event
from tests.api.test_endpoints import V1, assert_error, ok

pytestmark = pytest.mark.django_db

NINES = "9" * 400
JSON_ENDPOINTS = [
    ("search", f"{V1}/search", {"query": "ring"}),
    ("assistant", f"{V1}/assistant", {"message": "hello"}),
    ("cross_sell", f"{V1}/recommendations/cross-sell", {"items": ["J001"]}),
    ("events", f"{V1}/events", {"events": []}),
]


def _client(name, api, events_api):
    return events_api if name == "events" else api


# --- finding 1: numbers too big for a float ---------------------------------------------------


@pytest.mark.parametrize("text", [f"silver ring under {NINES}", f"earrings over {NINES}.5",
                                  f"between 1 and {NINES}", "rings under 1000000000001"])
def test_a_number_beyond_the_stated_range_in_search_is_400(shop, api, text):
    response = api.post(f"{V1}/search", {"query": text}, format="json")
    assert_error(response, 400, "number_out_of_range", "query")


def test_a_number_beyond_the_stated_range_in_the_assistant_is_400(shop, api):
    response = api.post(f"{V1}/assistant", {"message": f"any silver ring under {NINES}?"}, format="json")
    assert_error(response, 400, "number_out_of_range", "message")


def test_a_number_at_the_limit_is_a_price_bound(shop, api):
    body = ok(api.post(f"{V1}/search", {"query": "ring under 1000000000000"}, format="json"))
    assert body["parsed"]["price_max"] == 1e12


@pytest.mark.parametrize("body", ['{"query": "ring", "k": NaN}', '{"query": "ring", "k": Infinity}',
                                  '{"query": "ring", "k": 1e400}', '{"query": "ring", "k": -Infinity}'])
def test_non_finite_json_numbers_are_refused(shop, api, body):
    response = api.generic("POST", f"{V1}/search", body, content_type="application/json")
    assert response.status_code == 400, response.content
    # NaN/Infinity are not JSON at all; 1e400 is JSON that no integer field can take.
    assert response.json()["error"]["code"] in {"malformed_json", "invalid"}


@pytest.mark.parametrize("k", [NINES, "1e400", "inf", "nan", "-0", "1.5"])
def test_absurd_numbers_in_a_query_string_are_400_on_their_field(shop, api, k):
    assert_error(api.get(f"{V1}/recommendations/home", {"k": k}), 400,
                 "min_value" if k == "-0" else ("max_value" if k == NINES else "invalid"), "k")


# --- finding 3: an absurd event price beside a valid event --------------------------------------


def test_an_absurd_price_is_its_own_error_and_the_valid_event_is_stored(shop, events_api):
    batch = [{"event_id": "bad", "customer_id": "c-none", "item_id": "J001", "type": "purchase",
              "timestamp": "2024-05-01T10:00:00Z", "price": 1e22},
             {"event_id": "good", "customer_id": "c-none", "item_id": "J002", "type": "view",
              "timestamp": "2024-05-01T10:00:00Z"}]
    body = ok(events_api.post(f"{V1}/events", {"events": batch}, format="json"), 207)
    assert body["results"] == [
        {"index": 0, "event_id": "bad", "status": "error",
         "error": {"code": "price_out_of_range", "field": "price",
                   "message": body["results"][0]["error"]["message"]}, "attribution": None},
        {"index": 1, "event_id": "good", "status": "created", "error": None, "attribution": None},
    ]
    assert list(Event.objects.filter(client_event_id__in=["bad", "good"]).values_list("client_event_id", flat=True)) \
        == ["good"]


def test_per_event_errors_say_precisely_what_is_wrong(shop, events_api):
    def ev(n, **kw):
        return {"event_id": f"p{n}", "customer_id": "c-none", "item_id": "J001", "type": "view",
                "timestamp": "2024-05-01T10:00:00Z", **kw}

    batch = [ev(1), ev(1, type="purchase"), ev(2, event_id="   "), ev(3, timestamp="2100-01-01T00:00:00Z"),
             ev(4, item_id="NOPE"), ev(5, type="wink"), ev(6, price="cheap"), ev(7, customer_id=None), "x"]
    body = ok(events_api.post(f"{V1}/events", {"events": batch}, format="json"), 207)
    assert [(r["status"], r["error"] and (r["error"]["code"], r["error"]["field"])) for r in body["results"]] == [
        ("created", None), ("error", ("event_id_conflict", "event_id")), ("error", ("blank", "event_id")),
        ("error", ("timestamp_in_future", "timestamp")), ("error", ("unknown_item", "item_id")),
        ("error", ("unknown_event_type", "type")), ("error", ("invalid_price", "price")),
        ("error", ("required", "customer_id")), ("error", ("not_an_object", None)),
    ]
    assert (body["created"], body["duplicates"], body["errors"]) == (1, 0, 8)


# --- finding 4: JSON nested thousands of levels -------------------------------------------------


@pytest.mark.parametrize("name,url,_", JSON_ENDPOINTS)
def test_deeply_nested_json_is_400_json_not_a_recursion_error(shop, api, events_api, name, url, _):
    body = '{"x": ' + "[" * 5000 + "]" * 5000 + "}"
    response = _client(name, api, events_api).generic("POST", url, body, content_type="application/json")
    assert_error(response, 400, "too_deep")


@pytest.mark.parametrize("name,url,valid", JSON_ENDPOINTS)
def test_brackets_inside_strings_do_not_count_as_depth(shop, api, events_api, name, url, valid):
    import json

    text = json.dumps({**valid, "note": "[{" * 3000})
    response = _client(name, api, events_api).generic("POST", url, text, content_type="application/json")
    assert response.status_code != 400 or response.json()["error"]["code"] != "too_deep"


def test_the_parser_enforces_the_body_limit_itself(settings):
    """Views check Content-Length first; the parser reads at most the limit + 1 byte whatever
    the headers said."""
    from recommender.api.parsers import LimitedJSONParser
    from recommender.serving.errors import PayloadTooLargeError

    settings.JEWELREC_API_MAX_BODY_BYTES = 64
    with pytest.raises(PayloadTooLargeError):
        LimitedJSONParser().parse(io.BytesIO(b'{"query": "' + b"x" * 200 + b'"}'))
    assert LimitedJSONParser().parse(io.BytesIO(b'{"query": "x"}')) == {"query": "x"}


@pytest.mark.parametrize("text,depth", [("1", 0), ("[]", 1), ('{"a": [1, {"b": []}]}', 4),
                                        (r'{"a": "[[[[", "b": "\\"}', 1), (r'["\"[[[", {}]', 2)])
def test_json_depth_ignores_brackets_in_strings(text, depth):
    from recommender.api.parsers import json_depth

    assert json_depth(text) == depth


def test_a_body_that_is_not_utf8_is_malformed_json(shop, api):
    response = api.generic("POST", f"{V1}/search", b'{"query": "\xff\xfe"}', content_type="application/json")
    assert_error(response, 400, "malformed_json")


# --- finding 9: imprecise answers -----------------------------------------------------------


def test_a_multipart_body_without_a_boundary_is_malformed_multipart(shop, api):
    response = api.generic("POST", f"{V1}/search/image", b"--x\r\n", content_type="multipart/form-data")
    assert_error(response, 400, "malformed_multipart")


@pytest.mark.parametrize("fmt", ["BMP", "TIFF"])
def test_photos_outside_jpeg_png_webp_gif_are_415(shop, api, fmt):
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(buf, format=fmt)
    buf.seek(0)
    buf.name = f"photo.{fmt.lower()}"
    response = api.post(f"{V1}/search/image", {"image": buf}, format="multipart")
    assert_error(response, 415, "unsupported_image_format", "image")


def test_a_non_jewelry_item_is_not_an_anchor_for_similar_or_the_assistant(shop, api):
    assert_error(api.get(f"{V1}/items/G001/similar"), 404, "not_jewelry", "id")
    response = api.post(f"{V1}/assistant", {"message": "what is this made of?", "item_id": "G001"}, format="json")
    assert_error(response, 404, "not_jewelry", "item_id")


@pytest.mark.parametrize("item_id", ["J001%00", "%0AJ001", "J001%0A", "J001%20", "x" * 129])
def test_an_item_id_no_catalog_can_hold_is_unknown_item(shop, api, item_id):
    """Also on PostgreSQL, which cannot compare a string holding NUL."""
    assert_error(api.get(f"{V1}/items/{item_id}/similar"), 404, "unknown_item", "id")


def test_a_non_jewelry_cart_item_is_welcome_in_cross_sell(shop, api):
    """Cross-sell is for a cart or an order, clothes included: that is the transfer learning."""
    body = ok(api.post(f"{V1}/recommendations/cross-sell", {"items": ["G001"], "k": 3}, format="json"))
    assert body["items"] and "G001" not in [i["id"] for i in body["items"]]


# --- properties: never a 5xx, never a lost valid event -------------------------------------------


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(cursor=st.one_of(st.text(min_size=1, max_size=200), st.from_regex(r"\.?[A-Za-z0-9_-]{1,80}:[A-Za-z0-9]{1,8}:[A-Za-z0-9_-]{1,60}", fullmatch=True),
                        st.text(alphabet="abc._-", min_size=6001, max_size=6010)))  # unreserved: the URL stays under 7,168
def test_any_feed_cursor_not_issued_here_is_a_precise_400(shop, api, cursor):
    response = api.get(f"{V1}/feed", {"customer_id": "c-plat", "page_size": 2, "cursor": cursor})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["field"] == "cursor"
    assert error["code"] in {"invalid_cursor", "max_length", "null_characters_not_allowed", "blank"}, error

_scalar = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**30, max_value=10**30),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30))
_hostile = st.one_of(_scalar, st.lists(_scalar, max_size=3), st.dictionaries(st.text(max_size=5), _scalar, max_size=3),
                     st.sampled_from(["", "   ", "\x00", "9" * 400, "1e22", "-1", "2100-01-01", "1969-01-01",
                                      "2024-13-45", "J001", "view", "purchase"]))
_FIELDS = ["event_id", "customer_id", "item_id", "type", "timestamp", "price", "channel"]
_bad_event = st.one_of(
    st.builds(lambda field, value: {field: value}, st.sampled_from(_FIELDS), _hostile),
    st.dictionaries(st.sampled_from(_FIELDS), _hostile, max_size=7),
    _hostile,
)


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_any_batch_never_errors_and_never_loses_a_valid_event(shop, events_api, data):
    """Valid events and hostile ones, mixed in any order: every valid event is stored, every
    hostile one is reported on its own, and the answer is never a 5xx."""
    run = uuid.uuid4().hex[:12]  # rows persist across examples: fresh ids each time
    n_good = data.draw(st.integers(0, 3))
    good = [{"event_id": f"{run}-{i}", "customer_id": f"prop-{i}", "item_id": "J001", "type": "view",
             "timestamp": timezone.now().isoformat(), "price": "9.5"} for i in range(n_good)]
    bad = [{**base, **override} for base, override in zip(
        [{"event_id": f"{run}-bad-{i}", "customer_id": "c-none", "item_id": "J002", "type": "view",
          "timestamp": "2024-05-01T10:00:00Z"} for i in range(3)],
        data.draw(st.lists(_bad_event.filter(lambda e: isinstance(e, dict)), min_size=0, max_size=3)))]
    raw_bad = data.draw(st.lists(_hostile, max_size=2))
    batch = data.draw(st.permutations(good + bad + raw_bad)) if good + bad + raw_bad else good
    if not batch:
        return
    response = events_api.post(f"{V1}/events", {"events": batch}, format="json")
    assert response.status_code in (200, 207, 400), response.content
    body = response.json()
    assert len(body["results"]) == len(batch)
    for result in body["results"]:
        assert result["status"] in ("created", "duplicate", "error")
        assert (result["error"] is None) == (result["status"] != "error")
        if result["error"]:
            assert result["error"]["code"] != "invalid" and result["error"]["message"]
    stored = set(Event.objects.filter(client_event_id__startswith=f"{run}-").values_list("client_event_id", flat=True))
    assert {e["event_id"] for e in good} <= stored
    for result, event in zip(body["results"], batch):
        if event in good:
            assert result["status"] == "created"
