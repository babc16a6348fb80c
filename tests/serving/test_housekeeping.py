"""Serving housekeeping: periodic checks and writes run in one thread per process, requests only read."""
import threading
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recommender.models import ApiRequestLog, ModelVersion, RecommenderSettings
from recommender.serving import model_store, request_log
from recommender.serving.housekeeping import Housekeeper, housekeeper
from recommender.serving.snapshots import ProcessSnapshot


def _wait_for(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


@pytest.fixture
def keeper(settings):
    settings.JEWELREC_BACKGROUND_REFRESH = True
    keeper = Housekeeper()
    yield keeper
    keeper.stop()
    housekeeper.stop()  # the process-wide one, if serving code under test started it


def test_tasks_run_periodically_in_one_thread_and_a_failure_stops_nothing(keeper, caplog):
    runs: list[str] = []

    def broken():
        runs.append(threading.current_thread().name)
        raise RuntimeError("boom")

    keeper.register("ok", lambda: runs.append("ok"), 0.05)
    keeper.register("broken", broken, 0.05)
    assert keeper.running()
    assert _wait_for(lambda: runs.count("ok") >= 3 and "serving-housekeeping" in runs)
    assert "serving housekeeping task broken failed" in caplog.text
    keeper.stop()
    assert keeper._thread is None
    settled = len(runs)
    time.sleep(0.6)
    assert len(runs) == settled  # stopped means stopped


def test_off_by_setting_and_restarted_in_a_forked_child(settings):
    keeper = Housekeeper()
    settings.JEWELREC_BACKGROUND_REFRESH = False
    assert keeper.running() is False and keeper._thread is None
    settings.JEWELREC_BACKGROUND_REFRESH = True
    try:
        assert keeper.running()
        first = keeper._thread
        keeper._pid = -1  # what a forked child sees: the parent's thread does not run in it
        assert keeper.running() and keeper._thread is not first and keeper._thread.is_alive()
    finally:
        keeper.stop()


@pytest.mark.django_db(transaction=True)
def test_a_snapshot_is_reloaded_in_the_background_and_read_without_a_query(keeper, settings):
    settings.JEWELREC_SERVING_CONFIG_SECONDS = 0.1
    snapshot = ProcessSnapshot(lambda: RecommenderSettings.load().exclude_purchased, keeper)
    first = snapshot.get()  # the first read loads in the request
    with CaptureQueriesContext(connection) as queries:
        for _ in range(20):
            assert snapshot.get() == first
            time.sleep(0.01)
    assert len(queries) == 0  # past its 0.1 s, yet no request re-read it
    RecommenderSettings.objects.filter(pk=RecommenderSettings.load().pk).update(exclude_purchased=not first)
    assert _wait_for(lambda: snapshot.get() == (not first))


class _FakeRanker:
    """Stands in for a loaded artifact: the holder's checks and swap are what is tested."""

    def __init__(self, name: str) -> None:
        self.version = name
        self.prepared = 0

    def prepare(self, catalog) -> None:
        self.prepared += 1


@pytest.mark.django_db(transaction=True)
def test_a_promotion_is_picked_up_and_prepared_off_the_request_path(keeper, monkeypatch, settings):
    monkeypatch.setattr(model_store, "CHECK_SECONDS", 0.1)
    monkeypatch.setattr(model_store, "_load", lambda row: _FakeRanker(row.name))
    old = ModelVersion.objects.create(name="v-old", status=ModelVersion.Status.READY, artifact_dir="x", is_active=True)
    holder = model_store._ModelHolder(keeper)
    assert holder.active().version == "v-old"  # first use: loaded by the request
    with CaptureQueriesContext(connection) as queries:
        for _ in range(10):
            assert holder.active().version == "v-old"
            time.sleep(0.03)
    assert len(queries) == 0
    ModelVersion.objects.filter(pk=old.pk).update(is_active=False)
    ModelVersion.objects.create(name="v-new", status=ModelVersion.Status.READY, artifact_dir="y", is_active=True)
    assert _wait_for(lambda: holder.active().version == "v-new")
    assert _wait_for(lambda: holder.active().prepared >= 1)  # ready for the catalog before a request uses it


@pytest.mark.django_db(transaction=True)
def test_api_traffic_is_flushed_by_the_thread_not_by_a_request(settings, monkeypatch):
    settings.JEWELREC_BACKGROUND_REFRESH = True
    monkeypatch.setattr(request_log, "FLUSH_SECONDS", 0.1)
    monkeypatch.setattr(request_log, "_last_flush", 0.0)  # a flush is due
    request_log._buffer.clear()  # what earlier tests in this process recorded
    try:
        with CaptureQueriesContext(connection) as queries:
            request_log.api_request_record("home", 200, 12.5)
        assert len(queries) == 0
        assert _wait_for(lambda: ApiRequestLog.objects.filter(scenario="home", requests=1).exists())
    finally:
        housekeeper.stop()
