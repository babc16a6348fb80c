"""Every dashboard URL is for active staff only; pages render for staff."""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, reverse

from recommender.dashboard import urls as dashboard_urls

JSON_ROUTES = {"job_status", "figure"}


def _all_routes() -> list[tuple[str, str]]:
    routes = []
    for pattern in dashboard_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        kwargs = {}
        for name, converter in pattern.pattern.converters.items():
            kwargs[name] = "events-by-type" if converter.__class__.__name__ == "SlugConverter" else 1
        routes.append((pattern.name, reverse(f"dashboard:{pattern.name}", kwargs=kwargs)))
    return routes


ROUTES = _all_routes()


def test_every_route_is_listed():
    # Guards the parametrized tests below against silently testing nothing.
    assert len(ROUTES) >= 20
    assert {"home", "jobs", "job_status", "api_keys", "rules", "settings", "charts", "catalog"} <= {n for n, _ in ROUTES}


@pytest.mark.django_db
@pytest.mark.parametrize("name,url", ROUTES)
@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_is_sent_to_login(name, url, method):
    response = getattr(Client(), method)(url)
    if name in JSON_ROUTES:
        assert response.status_code in (403, 405)
    else:
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.django_db
@pytest.mark.parametrize("name,url", ROUTES)
def test_non_staff_is_refused(name, url, plain_user):
    client = Client()
    client.force_login(plain_user)
    for response in (client.get(url), client.post(url)):
        if name in JSON_ROUTES:
            assert response.status_code in (403, 405)
            if response.status_code == 403:
                assert response.json() == {"error": "staff login required"}
        else:
            assert response.status_code == 302
            assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_inactive_staff_is_refused(staff_user):
    staff_user.is_active = False
    staff_user.save()
    client = Client()
    client.force_login(staff_user)
    response = client.get(reverse("dashboard:jobs"))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", ["home", "catalog", "item_new", "catalog_import", "jobs", "rules", "rule_new", "charts", "api_keys", "api_key_new", "settings"]
)
def test_staff_sees_each_page_with_navigation(staff_client, name):
    response = staff_client.get(reverse(f"dashboard:{name}"))
    assert response.status_code == 200
    html = response.content.decode()
    for label in ("Overview", "Catalog", "Jobs", "Rules", "Dashboards", "API keys", "Settings"):
        assert f">{label}</a>" in html
    # Exactly one nav entry is marked as the current page.
    assert html.count('aria-current="page"') == 1


@pytest.mark.django_db
def test_login_page_then_redirect_back(staff_user):
    client = Client()
    response = client.post("/accounts/login/", {"username": "merch", "password": "pw-merch-123", "next": "/jobs/"})
    assert response.status_code == 302
    assert response["Location"] == "/jobs/"
    assert client.get("/jobs/").status_code == 200
