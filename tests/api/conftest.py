import pytest
from rest_framework.test import APIClient

from recommender.serving.api_keys import api_key_create
from tests.serving.conftest import shop, tiers  # noqa: F401 - shared fixtures


@pytest.fixture
def read_key(db):
    return api_key_create(name="storefront", scopes=["read"]).secret


@pytest.fixture
def events_key(db):
    return api_key_create(name="events", scopes=["events"]).secret


@pytest.fixture
def api(read_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {read_key}")
    return client


@pytest.fixture
def events_api(events_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {events_key}")
    return client
