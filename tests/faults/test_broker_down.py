"""The Celery broker dies (a private redis-server, SIGKILLed).

The storefront must not notice: recommendations are served and events stored exactly
once. A merchandiser starting a job meanwhile gets the job page, not a 500, and the job
is not lost: stale-job recovery sends it once the broker is back, and a real worker runs
it exactly once, also when the broker lost a message it had already accepted.
"""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from recommender.jobs.services import jobs_recover_stale
from recommender.models import EncoderOutput, Event, Item, ItemVector, Job
from recommender.serving.api_keys import api_key_create
from tests.support.net import port_open
from tests.support.redis_server import celery_broker, private_redis
from tests.support.wait import wait_for
from tests.support.worker import running_worker

pytestmark = [pytest.mark.django_db(transaction=True)]

V1 = "/api/v1"


@pytest.fixture
def broker(settings, tmp_path):
    with private_redis(tmp_path) as redis, celery_broker(redis.url, settings):
        yield redis


def api_client(*scopes: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_create(name='-'.join(scopes), scopes=list(scopes)).secret}")
    return client


def event(n: int, **kw) -> dict:
    return {"event_id": f"outage-{n}", "customer_id": "c-none", "item_id": "J002", "type": "view",
            "timestamp": "2024-05-01T10:00:00Z", **kw}


def test_storefront_serves_and_stores_events_while_the_broker_is_down(shop, broker):
    read, events = api_client("read"), api_client("events")
    before = read.get(f"{V1}/recommendations/home", {"customer_id": "c-none", "k": 5})
    assert before.status_code == 200, before.content

    broker.kill()

    home = read.get(f"{V1}/recommendations/home", {"customer_id": "c-none", "k": 5})
    assert home.status_code == 200, home.content
    assert [i["id"] for i in home.json()["items"]] == [i["id"] for i in before.json()["items"]]
    batch = [event(1), event(2, type="add_to_cart", item_id="J003"), event(3, type="purchase", item_id="J004")]
    stored = events.post(f"{V1}/events", {"events": batch}, format="json")
    assert stored.status_code in (200, 201), stored.content
    assert stored.json()["created"] == 3 and stored.json()["duplicates"] == 0
    # The storefront retries (it never saw an answer, say): nothing is stored twice.
    again = events.post(f"{V1}/events", {"events": batch + [event(1)]}, format="json")
    assert again.status_code in (200, 201), again.content
    assert again.json()["created"] == 0 and again.json()["duplicates"] == 4
    rows = Event.objects.filter(client_event_id__startswith="outage-")
    assert sorted(rows.values_list("client_event_id", flat=True)) == ["outage-1", "outage-2", "outage-3"]
    assert rows.get(client_event_id="outage-3").event_type == "purchase"


def jewelry(n: int) -> None:
    Item.objects.bulk_create([
        Item(external_id=f"J{i:03d}", title=f"Gold hoop earring {i}", product_type="Earring", colour="Gold",
             is_jewelry=True, description=f"Metal hoop earrings, style {i}.") for i in range(n)])


def starts(job: Job) -> int:
    return sum(line["message"] == "Started" for line in job.log)


@pytest.mark.worker
@pytest.mark.slow
def test_job_started_while_the_broker_is_down_is_sent_when_it_returns(broker, admin_user):
    jewelry(6)
    page = Client(raise_request_exception=False)
    page.force_login(admin_user)

    broker.kill()
    response = page.post(reverse("dashboard:embed_start"), {"scope": "jewelry"})
    assert response.status_code == 302, response.content[:2000]
    job = Job.objects.get(kind=Job.Kind.EMBED_CATALOG)
    assert response["Location"] == reverse("dashboard:job_detail", args=[job.pk])
    assert job.status == Job.Status.QUEUED
    assert any("broker unavailable, will be retried" in line["message"] for line in job.log), job.log

    # Recovery while the broker is still down tries again, fails again, and keeps the job.
    jobs_recover_stale()
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED and job.params.get("enqueue_pending") is True

    broker.start()  # back, empty
    assert [j.pk for j in jobs_recover_stale()] == [job.pk]
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED and not job.params.get("enqueue_pending")
    assert broker.queue_length("embedding") == 1
    assert jobs_recover_stale() == []  # sent once: the next pass leaves it alone

    with running_worker(queues="embedding"):
        wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, 120, "the job to run once the broker is back")
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert starts(job) == 1
    assert ItemVector.objects.filter(status="current").count() == 6


@pytest.mark.worker
@pytest.mark.slow
def test_job_whose_message_the_broker_lost_is_sent_again_and_runs_once(broker):
    from recommender.embeddings.services import catalog_embedding_start
    from recommender.tasks.embedding import embed_catalog_task

    jewelry(4)
    job = catalog_embedding_start(scope="jewelry")
    assert broker.queue_length("embedding") == 1
    broker.kill()
    broker.start()  # restarted without persistence: the message is gone
    assert broker.queue_length("embedding") == 0
    assert port_open(broker.port)

    # Young queued jobs are left alone (their message is most likely still waiting) ...
    assert jobs_recover_stale() == []
    with running_worker(queues="embedding") as first, running_worker(queues="embedding") as second:
        # ... one queued for longer than the limit is sent again. And a second message for the
        # same job (as a redelivery would be) reaches the other worker: it must still run once.
        assert [j.pk for j in jobs_recover_stale(queued_after=0)] == [job.pk]
        embed_catalog_task.delay(job.pk)
        wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, 120, "the re-sent job to finish")
        wait_for(lambda: broker.queue_length("embedding") == 0, 30, "the workers to take both messages")

        def logs() -> str:
            return first.log_path.read_text() + second.log_path.read_text()

        wait_for(lambda: logs().count("succeeded in") == 2, 60, "both workers to handle their message")
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert starts(job) == 1, job.log
    # The job log is one row both could write; the workers' own logs say who ran what.
    assert logs().count(f"job {job.pk} (embed_catalog) started") == 1
    assert logs().count(f"job {job.pk} is succeeded; duplicate message skipped") + \
        logs().count(f"job {job.pk} is running; duplicate message skipped") == 1
    # Encoded once: every stored encoder output comes from this one run.
    assert job.result["texts_encoded"] == EncoderOutput.objects.count() > 0
    assert ItemVector.objects.filter(status="current").count() == 4
