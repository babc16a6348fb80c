"""Production-safe defaults (issue #16, findings 7, 8, 10): DEBUG off unless asked for,
everything under /api/ in the one JSON error shape, a Content-Security-Policy, no server
version."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.test import Client
from rest_framework.test import APIClient

from jewelrec_site.middleware import ApiRequestLimitsMiddleware
from recommender.serving.api_keys import api_key_create

pytestmark = pytest.mark.django_db


def assert_json_error(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body


@pytest.fixture
def api(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_create(name='s', scopes=['read']).secret}")
    return client


# --- finding 8: JSON everywhere under /api/ ---------------------------------------------------


@pytest.mark.parametrize("method,path", [("get", "/api/"), ("get", "/api/v1/"), ("get", "/api/v1/nope"),
                                         ("post", "/api/v2/events"), ("get", "/api/v1/items/J001/similar/x"),
                                         ("delete", "/api/schema/x"), ("get", "/api/schema")])
def test_unknown_api_paths_are_a_json_404(api, method, path):
    body = assert_json_error(getattr(api, method)(path), 404, "not_found")
    assert path in body["error"]["message"]


@pytest.mark.parametrize("path", ["/api/v1/feed/", "/api/v1/recommendations/home/", "/api/v1/ping/"])
def test_a_trailing_slash_is_a_json_404_that_names_the_real_path(api, path):
    body = assert_json_error(api.get(path), 404, "not_found")
    assert body["error"]["message"].endswith(f"Paths have no trailing slash: {path.rstrip('/')}")


def test_a_wrong_method_is_a_json_405(api):
    assert_json_error(api.delete("/api/v1/ping"), 405, "method_not_allowed")


def test_a_bad_host_is_a_json_400_under_api_and_never_a_debug_page(api):
    assert_json_error(api.get("/api/v1/ping", HTTP_HOST="evil.example"), 400, "bad_request")
    page = Client().get("/accounts/login/", HTTP_HOST="evil.example")
    assert page.status_code == 400
    assert b"DisallowedHost" not in page.content and b"ALLOWED_HOSTS" not in page.content


def test_an_unknown_dashboard_page_shows_no_urlconf(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"URLconf" not in response.content and b"jewelrec_site.urls" not in response.content


def test_a_long_url_is_a_json_414_and_a_long_header_a_json_431(api):
    limit = ApiRequestLimitsMiddleware.MAX_URL_LENGTH
    too_long = api.get("/api/v1/feed", {"cursor": "x" * limit})
    assert_json_error(too_long, 414, "uri_too_long")
    assert too_long["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    body = assert_json_error(api.get("/api/v1/ping", HTTP_X_PADDING="y" * (ApiRequestLimitsMiddleware.MAX_HEADER_LENGTH + 1)),
                             431, "header_too_large")
    assert "X-Padding" in body["error"]["message"]
    # just under both limits: answered by the view as usual
    assert api.get("/api/v1/ping", HTTP_X_PADDING="y" * ApiRequestLimitsMiddleware.MAX_HEADER_LENGTH).status_code == 200


def test_the_longest_feed_cursor_fits_the_url_limit():
    from recommender.api.serializers import FeedQuerySerializer

    cursor_max = FeedQuerySerializer().fields["cursor"].max_length
    assert len("/api/v1/feed?customer_id=" + "c" * 128 + "&page_size=100&type=bracelet&cursor=") + cursor_max \
        < ApiRequestLimitsMiddleware.MAX_URL_LENGTH


# --- finding 10: headers ------------------------------------------------------------------------


def test_the_dashboard_has_a_content_security_policy_without_inline_scripts(client):
    response = client.get("/accounts/login/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert b"<script>" not in response.content  # nothing inline the policy would block


def test_only_the_charts_page_may_compile_scripts(admin_client):
    charts = admin_client.get("/dashboards/")
    assert charts.status_code == 200
    assert "script-src 'self' 'unsafe-eval';" in charts["Content-Security-Policy"]
    assert "'unsafe-eval'" not in admin_client.get("/").get("Content-Security-Policy", "")


def test_api_answers_carry_a_policy_that_loads_nothing(api):
    assert api.get("/api/v1/ping")["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_the_public_swagger_ui_runs_under_the_policy(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200 and "script-src 'self';" in page["Content-Security-Policy"]
    assert b"<script>" not in page.content  # its start-up script is a separate file
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and b"SwaggerUIBundle" in script.content


# --- finding 7: DEBUG off by default, static served without it -------------------------------------


def _settings_of(env: dict[str, str]) -> dict:
    code = ("import json, django; from django.conf import settings as s; django.setup();"
            "print(json.dumps({'DEBUG': s.DEBUG, 'finders': s.WHITENOISE_USE_FINDERS, 'media': s.JEWELREC_SERVE_MEDIA}))")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "JEWELREC_"))}
    base.update({"DJANGO_SETTINGS_MODULE": "jewelrec_site.settings.base", "JEWELREC_VAR_DIR": str(django_settings.VAR_DIR),
                 **env})
    result = subprocess.run([sys.executable, "-c", code], env=base, capture_output=True, text=True, timeout=120,
                            cwd=django_settings.BASE_DIR)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_debug_is_off_unless_the_development_flag_is_set():
    assert _settings_of({}) == {"DEBUG": False, "finders": True, "media": True}
    assert _settings_of({"DJANGO_DEBUG": "1"})["DEBUG"] is True
    assert _settings_of({"DJANGO_DEBUG": "0"})["DEBUG"] is False


def test_static_files_are_served_with_debug_off(client, settings):
    assert settings.DEBUG is False
    for path in ("/static/css/app.css", "/static/vendor/plotly/plotly.min.js"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert b"".join(response.streaming_content)


def test_runapp_serves_with_gunicorn_not_the_development_server(monkeypatch):
    """runserver adds 'Server: WSGIServer/0.2 CPython/x.y' to every answer; gunicorn says
    'gunicorn' and reads gunicorn.conf.py (warm-up, request-line limits)."""
    from recommender.management.commands import runapp

    started = []

    class Stop(Exception):
        pass

    def popen(cmd, **kwargs):
        started.append(cmd)
        if len(started) == 3:
            raise Stop
        return None

    monkeypatch.setattr(runapp.subprocess, "Popen", popen)
    with pytest.raises(Stop):
        runapp.Command().handle(addr="127.0.0.1:8123", concurrency=1, web_workers=2)
    web = started[0]
    assert web[1:3] == ["-m", "gunicorn"] and "runserver" not in web
    assert web[web.index("-c") + 1] == "gunicorn.conf.py" and web[web.index("-b") + 1] == "127.0.0.1:8123"


def test_gunicorn_config_allows_the_longest_url_the_app_answers_itself():
    import runpy

    config = runpy.run_path(str(django_settings.BASE_DIR / "gunicorn.conf.py"))
    assert config["limit_request_line"] > ApiRequestLimitsMiddleware.MAX_URL_LENGTH
    assert config["limit_request_field_size"] > ApiRequestLimitsMiddleware.MAX_HEADER_LENGTH
