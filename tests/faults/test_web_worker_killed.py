"""gunicorn as run by ``make run``: the master builds the serving state once and forks; a
worker killed under traffic is replaced and the other keeps answering."""
import os
import signal
import time

import pytest
from django.db import connection

from recommender.serving.api_keys import api_key_create
from tests.support.web_server import running_web_server

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    auth = f"{user}{':' + db['PASSWORD'] if db.get('PASSWORD') else ''}@" if user else ""
    return f"postgresql://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def test_a_killed_worker_is_replaced_while_the_other_serves(shop, tmp_path):
    token = api_key_create(name="storefront", scopes=["read"]).secret
    home = "/api/v1/recommendations/home?customer_id=c-none&k=5"
    with running_web_server(database_url(), tmp_path / "web", workers=2) as server:
        assert "serving state built once in the master" in server.log_path.read_text()
        assert server.request("GET", home, token=token).status == 200
        deadline = time.monotonic() + 30
        while len(server.worker_pids()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        before = server.worker_pids()
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        statuses = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            statuses.append(server.request("GET", home, token=token).status)  # a new connection each
            now = server.worker_pids()
            if victim not in now and len(now) == 2 and len(statuses) >= 20:
                break
        assert set(statuses) == {200}, statuses  # nothing was in flight on the killed worker
        assert victim not in now and len(now) == 2  # gunicorn forked a replacement
        # the replacement answers too (from the master's snapshot): ask until it has taken some
        assert all(server.request("GET", home, token=token).status == 200 for _ in range(20))
