"""Who can reach what: every URL the resolver knows, for every kind of caller.

URLs come from ``get_resolver()``, so pages added later are covered without editing this
file. Callers: anonymous, logged-in non-staff, staff, superuser, and storefront API keys
with scope ``read``, scope ``events``, or revoked.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from recommender.models import ApiKey, Item, Job, MerchandisingRule
from recommender.serving.api_keys import api_key_create, api_key_revoke
from tests.serving.conftest import shop  # noqa: F401 - shared fixture

pytestmark = pytest.mark.django_db

PRINCIPALS = ["anonymous", "user", "staff", "superuser", "key_read", "key_events", "key_revoked"]
KEYS = {"key_read", "key_events", "key_revoked"}
# api-not-found: the JSON 404 for every unknown path under /api/, the same for everyone.
PUBLIC = {"login", "logout", "schema", "swagger-ui", "api-not-found", "admin:login", "admin:logout"}
# Dashboard endpoints polled by scripts answer 403 JSON instead of a login redirect.
DASHBOARD_JSON = {"dashboard:job_status", "dashboard:figure"}


@dataclass(frozen=True)
class Route:
    name: str  # namespaced url name, or the route text when unnamed
    template: str  # the pattern with its parameters still in it
    view: object

    @property
    def area(self) -> str:
        if self.template.startswith("admin/"):
            return "admin"
        if self.template.startswith("api/v1/"):
            return "api"
        if self.name.startswith("dashboard:"):
            return "dashboard"
        return "other"


def _walk(resolver: URLResolver, prefix: str = "", namespace: str | None = None):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            ns = ":".join(n for n in (namespace, pattern.namespace) if n) or None
            yield from _walk(pattern, prefix + str(pattern.pattern), ns)
        elif isinstance(pattern, URLPattern):
            template = prefix + str(pattern.pattern)
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else (pattern.name or template)
            yield Route(name, template, pattern.callback)


ROUTES = [r for r in _walk(get_resolver()) if not r.template.startswith("^media/")]
API_ROUTES = [r for r in ROUTES if r.area == "api"]
DASHBOARD_ROUTES = [r for r in ROUTES if r.area == "dashboard"]
ADMIN_ROUTES = [r for r in ROUTES if r.area == "admin"]


def test_the_resolver_listing_is_complete():
    # Guards the parametrized tests below against silently testing nothing.
    names = {r.name for r in ROUTES}
    assert len(API_ROUTES) >= 10 and len(DASHBOARD_ROUTES) >= 20 and len(ADMIN_ROUTES) >= 20
    assert {"api:home", "api:events", "dashboard:home", "dashboard:api_keys", "admin:index"} <= names
    unknown = [r.template for r in ROUTES if r.area == "other" and r.name not in PUBLIC]
    assert unknown == [], "a URL outside api/, admin/ and the dashboard needs a rule in this file"


def _fill(template: str, objects: dict[str, str]) -> str:
    """A concrete URL for a pattern: real ids where the shop has them, else a dummy."""
    def route_param(match):
        converter, name = match.group(1) or "str", match.group(2)
        if name in objects:
            return objects[name]
        return {"int": "999999", "slug": "events-by-type"}.get(converter, "J001")

    url = re.sub(r"<(?:(\w+):)?(\w+)>", route_param, template)
    # Regex patterns (admin's app index and catch-all): the first alternative, or a word.
    url = re.sub(r"\(\?P<\w+>([^)]*)\)", lambda m: m.group(1).split("|")[0] if "|" in m.group(1) else "zz", url)
    url = "/" + url.replace("^", "").replace("$", "")
    resolve(url)  # raises if the filled URL does not route back
    return url


@pytest.fixture
def objects(shop, staff_user) -> dict[str, str]:
    job = Job.objects.create(kind=Job.Kind.TRAIN, message="Queued")
    rule = MerchandisingRule.objects.create(name="boost rings", action="boost", target="type", value="ring")
    key = ApiKey.objects.get(pk=api_key_create(name="shown", scopes=["read"], user=staff_user).key.pk)
    return {"item_id": str(Item.objects.get(external_id="J001").pk), "job_id": str(job.pk), "rule_id": str(rule.pk),
            "key_id": str(key.pk), "object_id": str(rule.pk)}


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(username="merch", password="pw-merch-123", is_staff=True)


@pytest.fixture
def clients(staff_user, django_user_model, shop) -> dict[str, Client]:
    cache.clear()  # throttle counters
    out = {"anonymous": Client()}
    users = {
        "user": django_user_model.objects.create_user(username="shopper", password="pw-1234567"),
        "staff": staff_user,
        "superuser": django_user_model.objects.create_superuser(username="root", password="pw-1234567"),
    }
    for name, user in users.items():
        out[name] = Client()
        out[name].force_login(user)
    revoked = api_key_create(name="old", scopes=["read", "events"])
    api_key_revoke(revoked.key)
    for name, secret in {"key_read": api_key_create(name="r", scopes=["read"]).secret,
                         "key_events": api_key_create(name="e", scopes=["events"]).secret,
                         "key_revoked": revoked.secret}.items():
        out[name] = Client(HTTP_AUTHORIZATION=f"Token {secret}")
    return out


def _is_login_redirect(response, login: str) -> bool:
    return response.status_code == 302 and response["Location"].startswith(login)


# --- storefront API -------------------------------------------------------------------------


def _api_call(client: Client, route: Route, url: str):
    view_class = route.view.view_class
    if hasattr(view_class, "get"):
        return client.get(url)
    return client.post(url, data=json.dumps({}), content_type="application/json")


@pytest.mark.parametrize("route", API_ROUTES, ids=lambda r: r.name)
def test_api_needs_a_key_with_the_right_scope(route, clients, objects):
    url = _fill(route.template, {"item_id": "J001"})
    scope = "events" if route.name == "api:events" else "read"
    for principal in PRINCIPALS:
        response = _api_call(clients[principal], route, url)
        body = response.json()
        if principal in ("anonymous", "user", "staff", "superuser"):
            # A dashboard session is no API credential.
            assert response.status_code == 401, (principal, response.content)
            assert body["error"]["code"] == "not_authenticated"
            assert response["WWW-Authenticate"] == "Token"
        elif principal == "key_revoked":
            assert response.status_code == 401 and body["error"]["code"] == "revoked_token"
        elif principal == f"key_{scope}":
            assert response.status_code not in (401, 403), (principal, response.content)
            assert response.status_code < 500
        else:
            assert response.status_code == 403 and body["error"]["code"] == "missing_scope", (principal, body)


# --- dashboard ------------------------------------------------------------------------------


@pytest.mark.parametrize("route", DASHBOARD_ROUTES, ids=lambda r: r.name)
def test_dashboard_is_for_staff_only(route, clients, objects):
    url = _fill(route.template, objects)
    login = django_settings.LOGIN_URL
    for principal in PRINCIPALS:
        client = clients[principal]
        if principal in ("staff", "superuser"):
            response = client.get(url)
            assert response.status_code in (200, 302, 404, 405), (principal, url, response.status_code)
            assert not _is_login_redirect(response, login), (principal, url)
            continue
        # Anonymous, non-staff and every storefront key: no page, no action, nothing leaks.
        for response in (client.get(url), client.post(url)):
            if route.name in DASHBOARD_JSON:
                assert response.status_code in (403, 405), (principal, url, response.status_code)
            else:
                assert _is_login_redirect(response, login), (principal, url, response.status_code)


def test_staff_pages_render_for_staff(clients, objects):
    for name in ("dashboard:home", "dashboard:api_keys", "dashboard:rules", "dashboard:catalog", "dashboard:jobs"):
        route = next(r for r in DASHBOARD_ROUTES if r.name == name)
        assert clients["staff"].get(_fill(route.template, objects)).status_code == 200, name


# --- admin ----------------------------------------------------------------------------------


@pytest.mark.parametrize("principal", ["anonymous", "user", "key_read", "key_events", "key_revoked"])
def test_admin_is_closed_to_non_staff_and_storefront_keys(principal, clients, objects):
    client = clients[principal]
    checked = 0
    for route in ADMIN_ROUTES:
        if route.name in PUBLIC:
            continue
        url = _fill(route.template, objects)
        response = client.get(url)
        assert _is_login_redirect(response, "/admin/login/"), (principal, url, response.status_code)
        checked += 1
    assert checked >= 20


def test_admin_index_and_changelists_for_staff_and_superuser(clients, objects):
    changelists = [r for r in ADMIN_ROUTES if r.name.endswith("_changelist") or r.name == "admin:index"]
    assert len(changelists) >= 5
    for route in changelists:
        url = _fill(route.template, objects)
        staff = clients["staff"].get(url)
        # Staff without model permissions get the index but no model page.
        assert staff.status_code == (200 if route.name == "admin:index" else 403), (url, staff.status_code)
        assert clients["superuser"].get(url).status_code == 200, url


# --- throttling -----------------------------------------------------------------------------


def test_throttle_per_key_answers_429_with_retry_after(shop, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"api_key": "3/min"}}
    cache.clear()
    first = Client(HTTP_AUTHORIZATION=f"Token {api_key_create(name='a', scopes=['read']).secret}")
    second = Client(HTTP_AUTHORIZATION=f"Token {api_key_create(name='b', scopes=['read']).secret}")
    codes = [first.get("/api/v1/ping").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = first.get("/api/v1/recommendations/home")
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "throttled"
    assert 1 <= int(limited["Retry-After"]) <= 60
    # The limit is per key: another storefront is unaffected.
    assert second.get("/api/v1/ping").status_code == 200
    cache.clear()


# --- production settings --------------------------------------------------------------------


def _production(env: dict[str, str]) -> subprocess.CompletedProcess:
    code = (
        "import json, django; from django.conf import settings as s; django.setup();"
        "print(json.dumps({k: getattr(s, k) for k in ('DEBUG', 'ALLOWED_HOSTS', 'SESSION_COOKIE_SECURE',"
        " 'CSRF_COOKIE_SECURE', 'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS',"
        " 'SECURE_CONTENT_TYPE_NOSNIFF', 'SECRET_KEY')}))"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    base.update({"DJANGO_SETTINGS_MODULE": "jewelrec_site.settings.production", **env})
    return subprocess.run([sys.executable, "-c", code], env=base, capture_output=True, text=True, timeout=120,
                          cwd=django_settings.BASE_DIR)


@pytest.mark.slow
def test_production_refuses_to_start_without_a_secret_key():
    result = _production({"DJANGO_ALLOWED_HOSTS": "shop.example.com"})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "DJANGO_SECRET_KEY" in result.stderr
    result = _production({"DJANGO_SECRET_KEY": "s3cret-" + "x" * 40})
    assert result.returncode != 0 and "DJANGO_ALLOWED_HOSTS" in result.stderr


@pytest.mark.slow
def test_production_hardening_from_the_environment():
    result = _production({"DJANGO_SECRET_KEY": "s3cret-" + "x" * 40,
                          "DJANGO_ALLOWED_HOSTS": "shop.example.com,api.example.com"})
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["DEBUG"] is False
    assert values["ALLOWED_HOSTS"] == ["shop.example.com", "api.example.com"]
    assert values["SESSION_COOKIE_SECURE"] is True and values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 31536000 and values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert values["SECRET_KEY"].startswith("s3cret-")


def test_throttle_keeps_one_counter_per_key_and_fails_open_without_its_cache(shop, settings, monkeypatch, caplog):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "1000/min"}}
    cache.clear()
    key = api_key_create(name="busy", scopes=["read"])
    client = Client(HTTP_AUTHORIZATION=f"Token {key.secret}")
    for _ in range(25):
        assert client.get("/api/v1/ping").status_code == 200
    # one integer per window, not a list of request times re-written on every request
    assert cache.get(f"throttle_api_key_{key.key.prefix}") == 25

    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "incr", down)  # the embedded cache's path
    monkeypatch.setattr(cache, "window_increment", down, raising=False)  # Redis' one-round-trip path
    assert client.get("/api/v1/ping").status_code == 200
    assert "API throttle cache unavailable" in caplog.text
    cache.clear()
