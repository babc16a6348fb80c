import pytest
from rest_framework.test import APIClient

from recommender.serving.api_keys import api_key_create
from tests.serving.conftest import shop, tiers  # noqa: F401 - shared fixtures


@pytest.fixture
def storefront(db):
    """One client with both scopes, as a storefront would hold."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_create(name='shop', scopes=['read', 'events']).secret}")
    return client


@pytest.fixture(autouse=True)
def _no_timed_flush(monkeypatch):
    """Impressions stay buffered until a test (or an event's attribution) writes them."""
    import time

    from recommender.impressions import log

    monkeypatch.setattr(log, "_last_flush", time.monotonic())
    monkeypatch.setattr(log, "FLUSH_SECONDS", 3600.0)
