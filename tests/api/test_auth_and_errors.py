"""Keys, scopes and the uniform error body."""
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from recommender.models import ApiKey
from recommender.serving.api_keys import api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db
HOME = "/api/v1/recommendations/home"


def client_with(secret):
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return c


def assert_error(response, status, code, field=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    if code is not None:
        assert body["error"]["code"] == code
    assert body["error"]["message"]
    if field is not None:
        assert body["error"]["field"] == field


def test_only_the_hash_is_stored():
    created = api_key_create(name="x", scopes=["read"])
    row = ApiKey.objects.get()
    assert created.secret not in (row.key_hash, row.prefix)
    assert len(row.key_hash) == 64


def test_missing_malformed_wrong_revoked_and_expired_keys(shop):
    assert_error(APIClient().get(HOME), 401, "not_authenticated")
    assert_error(client_with("garbage").get(HOME), 401, "invalid_token")
    created = api_key_create(name="x", scopes=["read"])
    assert_error(client_with(created.secret[:-2] + "zz").get(HOME), 401, "invalid_token")
    assert client_with(created.secret).get(HOME).status_code == 200
    api_key_revoke(created.key)
    assert_error(client_with(created.secret).get(HOME), 401, "revoked_token")
    expired = api_key_create(name="y", scopes=["read"], expires_at=timezone.now() + timedelta(seconds=1))
    ApiKey.objects.filter(pk=expired.key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(client_with(expired.secret).get(HOME), 401, "expired_token")


def test_a_key_row_is_reused_and_revocation_elsewhere_applies_within_the_cache_time(shop, settings):
    import time

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.JEWELREC_API_KEY_CACHE_SECONDS = 0.3
    created = api_key_create(name="shop", scopes=["read"])
    client = client_with(created.secret)
    assert client.get("/api/v1/ping").status_code == 200  # reads the row (and sets last_used_at)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/ping").status_code == 200
    assert len(queries) == 0  # no database round trip per request
    assert_error(client_with(created.secret[:-2] + "zz").get(HOME), 401, "invalid_token")  # still hashed
    # another process revokes it (no signal reaches this one): accepted until the row ages out
    ApiKey.objects.filter(pk=created.key.pk).update(revoked_at=timezone.now())
    time.sleep(0.35)
    assert_error(client.get("/api/v1/ping"), 401, "revoked_token")


def test_scopes_are_enforced(shop, api, events_api):
    assert_error(events_api.get(HOME), 403, "missing_scope")
    response = api.post("/api/v1/events", {"events": []}, format="json")
    assert_error(response, 403, "missing_scope")


@pytest.mark.parametrize("k,code", [("0", "min_value"), ("101", "max_value"), ("abc", "invalid"),
                                    ("-3", "min_value"), ("", "invalid")])
def test_k_out_of_range_names_the_field(shop, api, k, code):
    assert_error(api.get(HOME, {"k": k}), 400, code, field="k")


def test_malformed_json_wrong_content_type_and_oversize(shop, api, settings):
    response = api.generic("POST", "/api/v1/search", "{not json", content_type="application/json")
    assert_error(response, 400, "malformed_json")
    response = api.generic("POST", "/api/v1/search", "query=x", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "unsupported_media_type")
    settings.JEWELREC_API_MAX_BODY_BYTES = 100
    response = api.post("/api/v1/search", {"query": "x" * 200}, format="json")
    assert_error(response, 413, "too_large")
    response = api.post("/api/v1/search", ["a", "list"], format="json")
    assert_error(response, 400, "invalid_body")


def test_unknown_ids_are_404_with_field(shop, api):
    assert_error(api.get("/api/v1/items/NOPE/similar"), 404, "unknown_item", field="id")
    response = api.post("/api/v1/recommendations/cross-sell", {"items": ["NOPE"]}, format="json")
    assert_error(response, 404, "unknown_item", field="items")


def test_member_exclusive_for_non_member_is_403(shop, api):
    response = api.get("/api/v1/recommendations/member-exclusive", {"customer_id": "c-none"})
    assert_error(response, 403, "not_entitled", field="customer_id")


def test_schema_and_docs_are_public_and_served_without_a_cdn(client):
    import yaml

    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    document = yaml.safe_load(schema.content)
    assert document["openapi"].startswith("3.")
    home = document["paths"]["/api/v1/recommendations/home"]["get"]
    assert set(home["responses"]) == {"200", "400", "401", "403", "404", "413", "414", "429", "431", "503"}
    assert {p["name"] for p in home["parameters"]} == {"customer_id", "k", "type", "channel"}
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()
    assert b"swagger-ui-bundle.js" in docs.content


def test_djangos_own_body_limit_answers_like_the_views_check():
    from django.core.exceptions import RequestDataTooBig

    from recommender.api.errors import api_exception_handler

    response = api_exception_handler(RequestDataTooBig("too big"), {})
    assert response.status_code == 413
    assert response.data == {"error": {"code": "too_large", "message": "The request body is too large.", "field": None}}
