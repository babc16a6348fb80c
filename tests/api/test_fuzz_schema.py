"""Schema-driven fuzzing: every operation in /api/schema/ against the WSGI app.

Schemathesis generates valid and invalid requests from the OpenAPI schema; whatever it
sends, the API must answer without a 5xx, with a documented status code (errors included:
the uniform error body) and a body matching its schema. Bounded and derandomized for CI.
"""
from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import positive_data_acceptance

from recommender.api import serializers as s
from recommender.serving import scenarios
from recommender.serving.api_keys import api_key_create
from recommender.serving.errors import DomainError
from tests.api.shop_vectors import shop_vectors_install

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
# A URL or header over the API's limits is refused with 414/431 (documented on every operation);
# schemathesis' default list of refusals does not name them.
schema.config.checks.negative_data_rejection.expected_statuses = [
    *schema.config.checks.negative_data_rejection.expected_statuses, "414", "431"]



@pytest.fixture
def _keep_test_connection():
    """The real WSGI handler closes the DB connection after each request, which would end the
    test's transaction; Django's own test client disconnects the same signal handlers."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def keys(shop, db, _keep_test_connection):
    shop_vectors_install(shop)
    cache.clear()  # a fresh throttle window: fuzzing is not rate-limited traffic
    return {scope: api_key_create(name=f"fuzz-{scope}", scopes=[scope]).secret for scope in ("read", "events")}


def test_the_schema_lists_every_operation():
    paths = set(schema.raw_schema["paths"])
    assert {"/api/v1/recommendations/home", "/api/v1/recommendations/cross-sell", "/api/v1/feed",
            "/api/v1/items/{item_id}/similar", "/api/v1/search", "/api/v1/search/image", "/api/v1/assistant",
            "/api/v1/events", "/api/v1/recommendations/member-exclusive", "/api/v1/ping"} <= paths


# Operations that run a real encoder per request (query or photo) get fewer examples.
ENCODER_PATHS = ["/api/v1/search", "/api/v1/search/image", "/api/v1/assistant"]
FAST = schema.exclude(path=ENCODER_PATHS)
ENCODER = schema.include(path=ENCODER_PATHS)
SETTINGS = dict(derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))


load_all_checks()
# Every check schemathesis has (``st run --checks all``): no 5xx, documented statuses, content
# types and headers, bodies matching their schema, valid requests accepted and invalid ones
# rejected, authentication not ignored, unsupported methods refused.
ALL_CHECKS = CHECKS.get_all()


def _check(case, keys):
    scope = "events" if case.operation.path == "/api/v1/events" else "read"
    # A case that leaves out the Authorization header on purpose (the schema requires it) is sent
    # without it, and must be refused.
    headers = {} if case.meta.is_negative_at(ParameterLocation.HEADER) else {"Authorization": f"Token {keys[scope]}"}
    if (case.operation.path == "/api/v1/feed" and not case.meta.is_negative_at(ParameterLocation.QUERY)
            and "cursor" in (case.query or {})):
        # A cursor is an opaque token only this server can sign: no schema can generate a valid
        # one, so a positive case gets a real one, issued for its own customer and type.
        first = s.FeedQuerySerializer(data={k: v for k, v in case.query.items() if k != "cursor"})
        cursor = None
        if first.is_valid():
            data = first.validated_data
            req = scenarios.Request(customer_id=data.get("customer_id"), product_type=data.get("type"))
            try:
                cursor = scenarios.feed_page(req, data["page_size"], None).extras["next_cursor"]
            except DomainError:
                pass  # an unknown type: the case's answer is a 404 either way
        if cursor:
            case.query["cursor"] = cursor
        else:
            case.query.pop("cursor")  # that feed has one page only
    checks = ALL_CHECKS
    if case.operation.path == "/api/v1/search/image":
        # "binary" is all a schema can say of a photo, and random bytes are no photo (400
        # invalid_image). Replacing them with a real photo is not reliable either: schemathesis
        # re-judges a replaced body. Acceptance of real photos is tested in test_endpoints.py
        # (test_image_search_with_a_real_photo); every other check still runs here.
        checks = [check for check in ALL_CHECKS if check is not positive_data_acceptance]
    case.call_and_validate(headers=headers, checks=checks)


@pytest.mark.slow
@pytest.mark.django_db
@FAST.parametrize()
@settings(max_examples=25, **SETTINGS)
def test_api_never_errors_and_matches_its_schema(case, keys):
    _check(case, keys)


@pytest.mark.slow
@pytest.mark.django_db
@ENCODER.parametrize()
@settings(max_examples=12, **SETTINGS)
def test_encoder_operations_never_error_and_match_their_schema(case, keys):
    _check(case, keys)
