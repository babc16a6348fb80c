"""The optional sales channel on recommendation requests and events."""
import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("method,path,payload", [
    ("get", "/api/v1/recommendations/home", {"channel": "mobile"}),
    ("get", "/api/v1/feed", {"channel": "mobile"}),
    ("get", "/api/v1/recommendations/member-exclusive", {"customer_id": "c-gold", "channel": "mobile"}),
    ("post", "/api/v1/recommendations/cross-sell", {"items": ["J001"], "channel": "mobile"}),
])
def test_an_unknown_channel_is_a_400_naming_the_allowed_values(api, shop, method, path, payload):
    response = getattr(api, method)(path, payload, format="json") if method == "post" else api.get(path, payload)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["field"] == "channel" and error["code"] == "invalid_choice"
    assert "online, store" in error["message"] and "mobile" in error["message"]


def test_a_known_channel_is_accepted(api, shop):
    for channel in ("online", "store"):
        response = api.get("/api/v1/recommendations/home", {"channel": channel, "k": 3})
        assert response.status_code == 200 and len(response.json()["items"]) == 3


def test_an_event_with_an_unknown_channel_is_rejected_alone(events_api, shop):
    response = events_api.post("/api/v1/events", {"events": [
        {"event_id": "ch-1", "customer_id": "c1", "item_id": "J001", "type": "view",
         "timestamp": "2026-11-27T10:00:00Z", "channel": "online"},
        {"event_id": "ch-2", "customer_id": "c1", "item_id": "J001", "type": "view",
         "timestamp": "2026-11-27T10:00:00Z", "channel": "kiosk"},
    ]}, format="json")
    assert response.status_code == 207
    results = response.json()["results"]
    assert results[0]["status"] == "created"
    assert results[1]["status"] == "error" and results[1]["error"]["field"] == "channel"
    assert "online, store" in results[1]["error"]["message"]
