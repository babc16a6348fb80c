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
from schemathesis.checks import not_a_server_error, status_code_conformance
from schemathesis.specs.openapi.checks import response_schema_conformance

from recommender.serving.api_keys import api_key_create
from tests.api.shop_vectors import shop_vectors_install

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())



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


def _check(case, keys):
    scope = "events" if case.operation.path == "/api/v1/events" else "read"
    case.call_and_validate(headers={"Authorization": f"Token {keys[scope]}"},
                           checks=[not_a_server_error, status_code_conformance, response_schema_conformance])


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
