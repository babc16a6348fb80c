"""PostgreSQL "restarts" under storefront traffic.

gunicorn runs the app with the production settings and persistent database connections,
through a TCP proxy to the test database. While requests flow, the proxy resets every
connection and refuses new ones for 2 s, then lets them through again. During the outage
each request gets a quick, clean JSON 503; afterwards requests succeed again on the same
gunicorn workers (dead persistent connections are replaced, nothing is restarted); and every
event is stored exactly once once the storefront retries what was refused.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from recommender.models import Event
from recommender.serving.api_keys import api_key_create
from tests.support.tcp_proxy import TcpProxy
from tests.support.web_server import SECRET_KEY as SERVER_SECRET_KEY
from tests.support.web_server import Reply, running_web_server

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

OUTAGE_SECONDS = 2.0
HANG_LIMIT_SECONDS = 5.0  # no request may take longer, during the outage or after it


@dataclass
class Outcome:
    kind: str  # "home" or "events"
    started: float
    reply: Reply | None = None
    error: str = ""
    event_id: str = ""


@pytest.fixture
def proxied_database_url():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the test restarts the database server under the app (SQLite has none)")
    db = connection.settings_dict
    proxy = TcpProxy(db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432))
    proxy.start()
    user = db.get("USER") or ""
    auth = f"{user}{':' + db['PASSWORD'] if db.get('PASSWORD') else ''}@" if user else ""
    try:
        yield proxy, f"postgresql://{auth}127.0.0.1:{proxy.port}/{db['NAME']}"
    finally:
        proxy.close()


def traffic(server, token: str, stop: threading.Event, outcomes: list[Outcome], lock: threading.Lock, name: str) -> None:
    """Alternate a home recommendation and a one-event POST until told to stop."""
    n = 0
    while not stop.is_set():
        n += 1
        kind = "home" if n % 2 else "events"
        outcome = Outcome(kind, time.monotonic())
        try:
            if kind == "home":
                outcome.reply = server.request("GET", "/api/v1/recommendations/home?customer_id=c-none&k=5", token=token)
            else:
                outcome.event_id = f"{name}-{n}"
                outcome.reply = server.request("POST", "/api/v1/events", token=token, body={"events": [{
                    "event_id": outcome.event_id, "customer_id": "c-none", "item_id": "J002", "type": "view",
                    "timestamp": "2024-05-01T10:00:00Z"}]})
        except OSError as exc:  # no answer at all: refused, reset or timed out
            outcome.error = f"{type(exc).__name__}: {exc}"
        with lock:
            outcomes.append(outcome)
        time.sleep(0.02)


def is_clean_503(reply: Reply) -> bool:
    body = reply.json or {}
    return (reply.status == 503 and set(body) == {"error"} and body["error"].get("code") == "unavailable"
            and bool(body["error"].get("message")) and "Traceback" not in reply.body.decode(errors="replace")
            and reply.headers.get("retry-after") is not None)


def test_requests_get_a_clean_503_while_the_database_restarts_and_succeed_after(shop, proxied_database_url, tmp_path,
                                                                                settings):
    proxy, database_url = proxied_database_url
    settings.SECRET_KEY = SERVER_SECRET_KEY  # the session cookie made here must be valid there
    token = api_key_create(name="storefront", scopes=["read", "events"]).secret
    staff = get_user_model().objects.create_user("merch", password="pw-not-used", is_staff=True)
    browser = Client()
    browser.force_login(staff)  # a real session row, read by the server on every dashboard page
    session = {django_settings.SESSION_COOKIE_NAME: browser.cookies[django_settings.SESSION_COOKIE_NAME].value}
    with running_web_server(database_url, tmp_path / "web", collectstatic=True) as server:
        assert server.request("GET", "/", cookies=session).status == 200
        # Warm up every worker thread's persistent connection and the serving caches.
        for _ in range(16):
            assert server.request("GET", "/api/v1/recommendations/home?customer_id=c-none&k=5", token=token).status == 200
        workers_before = server.worker_pids()
        assert proxy.accepted > 0 and proxy.open_connections > 0  # the app really talks to the database through us

        outcomes: list[Outcome] = []
        lock, stop = threading.Lock(), threading.Event()
        clients = [threading.Thread(target=traffic, args=(server, token, stop, outcomes, lock, f"c{i}"), daemon=True)
                   for i in range(3)]
        for client in clients:
            client.start()
        time.sleep(1.5)
        cut_at = time.monotonic()
        reset = proxy.cut()
        time.sleep(0.5)
        # The merchandiser's dashboard gets a plain "temporarily unavailable" page, not a 500.
        page = server.request("GET", "/", cookies=session)
        time.sleep(max(0.0, OUTAGE_SECONDS - 0.5 - page.seconds))
        restored_at = time.monotonic()
        proxy.restore()
        time.sleep(3.5)
        stop.set()
        for client in clients:
            client.join(timeout=HANG_LIMIT_SECONDS + 5)
        assert not any(client.is_alive() for client in clients), "a request hung"

        assert page.status == 503 and page.headers.get("retry-after"), (page.status, page.body[:300])
        assert b"temporarily unavailable" in page.body and b"Traceback" not in page.body
        assert server.request("GET", "/", cookies=session).status == 200  # and back after the restore
        assert reset > 0  # live persistent connections were killed, not just idle ones refused
        assert server.proc.poll() is None and server.worker_pids() == workers_before  # no worker died or was replaced

        # Every request got an HTTP answer, quickly: 200/201, or a clean JSON 503. Never a 500.
        assert not [o for o in outcomes if o.error], [o.error for o in outcomes if o.error][:5]
        assert max(o.reply.seconds for o in outcomes) < HANG_LIMIT_SECONDS
        bad = [(o.kind, o.reply.status, o.reply.body[:300]) for o in outcomes
               if o.reply.status not in (200, 201) and not is_clean_503(o.reply)]
        assert not bad, bad

        before = [o for o in outcomes if o.started + o.reply.seconds < cut_at]
        during = [o for o in outcomes if o.started > cut_at + 0.1 and o.started + o.reply.seconds < restored_at]
        after = [o for o in outcomes if o.started > restored_at + 1.0]
        assert before and all(o.reply.status in (200, 201) for o in before)
        # Writes need the database: every event posted in the outage was refused with a 503.
        assert [o for o in during if o.kind == "events"]
        assert all(o.reply.status == 503 for o in during if o.kind == "events")
        # Back to normal a second after the restore, on the same workers.
        assert len(after) >= 10 and all(o.reply.status in (200, 201) for o in after), \
            [(o.kind, o.reply.status) for o in after if o.reply.status not in (200, 201)]

        # The storefront retries what was refused; nothing is lost and nothing is stored twice.
        events = [o for o in outcomes if o.kind == "events"]
        refused = [o.event_id for o in events if o.reply.status == 503]
        assert refused
        for event_id in refused:
            retry = server.request("POST", "/api/v1/events", token=token, body={"events": [{
                "event_id": event_id, "customer_id": "c-none", "item_id": "J002", "type": "view",
                "timestamp": "2024-05-01T10:00:00Z"}]})
            assert retry.status in (200, 201), retry.body
    sent = sorted(o.event_id for o in events)
    stored = sorted(Event.objects.filter(client_event_id__in=sent).values_list("client_event_id", flat=True))
    assert stored == sent
