"""Kill a real worker in the middle of a job: the job is recovered, nothing is duplicated."""
import os
import signal
import time

import pytest

from recommender.embeddings.services import catalog_embedding_start
from recommender.jobs.services import jobs_recover_stale
from recommender.models import EncoderOutput, Item, ItemVector, Job, ModelVersion
from recommender.training.registry import model_version_promote
from tests.support.worker import running_worker

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_embedding_survives_a_killed_worker(settings, tmp_path):
    settings.JEWELREC_ARTIFACT_DIR = tmp_path
    os.environ["JEWELREC_ARTIFACT_DIR"] = str(tmp_path)  # the worker processes read it too
    try:
        for i in range(400):
            Item.objects.create(external_id=f"J{i:04d}", title=f"Gold hoop earring {i}", product_type="Earring",
                                colour="Gold", is_jewelry=True, description=f"Metal hoop earrings, style {i}.")
        active = ModelVersion.objects.create(name="active", status="ready")
        model_version_promote(active)
        with running_worker(queues="embedding") as worker:
            job = catalog_embedding_start(scope="jewelry")
            wait_for(lambda: EncoderOutput.objects.exists(), 240, "the worker to start encoding")
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        job.refresh_from_db()
        assert job.status == Job.Status.RUNNING  # the dead worker could not say anything
        recovered = jobs_recover_stale(stale_after=0)
        assert [j.pk for j in recovered] == [job.pk]
        job.refresh_from_db()
        assert job.status == Job.Status.QUEUED and job.params["attempts"] == 2
        done_before = EncoderOutput.objects.count()
        with running_worker(queues="embedding"):
            wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, 600, "the requeued job to finish")
        job.refresh_from_db()
        assert job.status == Job.Status.SUCCEEDED, job.error
        assert ItemVector.objects.filter(status="current").count() == 400
        # Resumed, not restarted: what the killed worker encoded was reused, and nothing twice.
        assert job.result["texts_encoded"] <= 2 * 400 - done_before
        assert EncoderOutput.objects.count() == 2 * 400
        assert ModelVersion.objects.get(is_active=True).name == "active"
        assert any("requeued" in line["message"] for line in job.log)
    finally:
        os.environ.pop("JEWELREC_ARTIFACT_DIR", None)


def test_job_is_failed_after_too_many_lost_workers(settings):
    job = Job.objects.create(kind=Job.Kind.TRAIN, status=Job.Status.RUNNING, params={"attempts": 3})
    Job.objects.filter(pk=job.pk).update(heartbeat_at="2020-01-01T00:00:00Z")
    jobs_recover_stale(max_attempts=3)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and "stopped" in job.error
