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


@pytest.mark.django_db(transaction=True)  # a connection inside a test's transaction never closes
def test_warming_before_the_fork_leaves_no_thread_connection_or_collectable_work_behind(shop, settings):
    import gc

    from recommender.serving.housekeeping import housekeeper

    settings.JEWELREC_BACKGROUND_REFRESH = True
    serving_catalog_invalidate()
    try:
        timings = warmup.serving_warm_before_fork()
        assert "catalog" in timings and catalog_mod._holder._catalog is not None
        assert housekeeper._thread is None  # a worker starts its own; the master must not refresh
        assert connection.connection is None  # no socket shared by the forked workers
        assert gc.get_freeze_count() > 0  # the shared objects stay out of the workers' collections
    finally:
        housekeeper.stop()
        gc.unfreeze()


def test_the_master_refuses_to_start_on_a_refused_index_file(monkeypatch):
    from recommender.ml.search.ann import AnnIndexError

    spec = importlib.util.spec_from_file_location("gunicorn_conf", django_settings.BASE_DIR / "gunicorn.conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)

    def refused():
        raise AnnIndexError("/x/ann/abc: index.faiss is corrupt (its digest does not match meta.json)")

    monkeypatch.setattr(warmup, "serving_warm_before_fork", refused)
    lines = []

    class Server:
        class cfg:
            preload_app = True

        class log:
            @staticmethod
            def error(msg, *a):
                lines.append(msg % a)

    with pytest.raises(SystemExit):
        conf.when_ready(Server())
    assert lines == ["refusing to start: /x/ann/abc: index.faiss is corrupt (its digest does not match meta.json)"]
    Server.cfg.preload_app = False
    conf.when_ready(Server())  # without preload each worker warms itself: nothing to do here
