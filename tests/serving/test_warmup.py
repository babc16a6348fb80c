"""Workers build their serving state before taking traffic (gunicorn.conf.py -> serving_warm)."""
import importlib.util
import time

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recommender.serving import catalog as catalog_mod
from recommender.serving import warmup
from recommender.serving.catalog import serving_catalog, serving_catalog_invalidate

pytestmark = pytest.mark.django_db


def test_warming_builds_the_catalog_so_requests_do_not(shop, settings):
    settings.JEWELREC_SERVING_CONFIG_SECONDS = 60.0  # the snapshots warmed are then reused
    serving_catalog_invalidate()
    timings = warmup.serving_warm()
    assert set(timings) >= {"catalog", "model", "total"}
    assert catalog_mod._holder._catalog is not None and "J001" in catalog_mod._holder._catalog.row_of
    with CaptureQueriesContext(connection) as queries:
        serving_catalog()
    assert len(queries) == 0


def test_a_failure_to_warm_is_logged_not_raised(shop, monkeypatch, caplog):
    serving_catalog_invalidate()

    def down():
        raise ConnectionError("database unavailable")

    monkeypatch.setattr(catalog_mod, "catalog_build", down)
    assert "total" in warmup.serving_warm()
    assert "could not warm serving state" in caplog.text


def test_the_gunicorn_hook_keeps_the_worker_alive_while_it_warms(monkeypatch):
    spec = importlib.util.spec_from_file_location("gunicorn_conf", django_settings.BASE_DIR / "gunicorn.conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    monkeypatch.setattr(warmup, "serving_warm", lambda: time.sleep(2.5))

    class Worker:
        notified = 0

        def notify(self):
            self.notified += 1

    worker = Worker()
    conf.post_worker_init(worker)  # returns once warm
    assert worker.notified >= 2  # heartbeats while the build ran: the master does not kill it
