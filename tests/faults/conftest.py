from tests.serving.conftest import shop, tiers  # noqa: F401 - the small shop shared with the API tests
