"""Jobs pages: list, detail with log and error, status JSON, cancel."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from recommender.jobs.services import job_create, job_fail, job_start
from recommender.models import Job

pytestmark = pytest.mark.django_db


def test_job_list_shows_every_job_with_status_progress_and_message(staff_client, django_assert_max_num_queries):
    now = timezone.now()
    for i in range(30):
        Job.objects.create(kind=Job.Kind.EMBED_CATALOG, status=Job.Status.SUCCEEDED, progress=1.0, message=f"done {i}",
                           started_at=now - timedelta(seconds=90), finished_at=now)
    running = Job.objects.create(kind=Job.Kind.TRAIN, status=Job.Status.RUNNING, progress=0.42, message="epoch 3/7",
                                 started_at=now - timedelta(seconds=30))
    with django_assert_max_num_queries(6):  # 6: the merchandiser time zone, read once a minute
        response = staff_client.get(reverse("dashboard:jobs"))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("<tr data-job-status-url=") == 31
    assert 'class="badge badge-running"' in html
    assert "epoch 3/7" in html
    assert 'value="0.420"' in html  # the progress bar
    assert "90 s" in html  # duration of finished jobs
    assert reverse("dashboard:job_status", args=[running.pk]) in html


def test_job_list_paginates_and_filters(staff_client):
    Job.objects.bulk_create([Job(kind=Job.Kind.IMPORT, status=Job.Status.FAILED) for _ in range(55)])
    Job.objects.create(kind=Job.Kind.TRAIN, status=Job.Status.QUEUED)
    first = staff_client.get(reverse("dashboard:jobs")).content.decode()
    assert first.count("<tr data-job-status-url=") == 50
    assert "page=2" in first
    queued = staff_client.get(reverse("dashboard:jobs"), {"status": "queued"}).content.decode()
    assert queued.count("<tr data-job-status-url=") == 1
    second = staff_client.get(reverse("dashboard:jobs"), {"kind": "import", "page": 2}).content.decode()
    assert second.count("<tr data-job-status-url=") == 5


def test_job_list_empty_state(staff_client):
    assert "No jobs yet" in staff_client.get(reverse("dashboard:jobs")).content.decode()


def test_job_detail_shows_log_params_and_error(staff_client):
    job = job_create(kind=Job.Kind.TRAIN, params={"epochs": 3})
    job_start(job)
    job_fail(job, error="ValueError: NaN loss in epoch 2")
    html = staff_client.get(reverse("dashboard:job_detail", args=[job.pk])).content.decode()
    assert "NaN loss in epoch 2" in html
    assert "Started" in html  # a log line
    assert "&quot;epochs&quot;: 3" in html
    assert 'class="badge badge-failed"' in html
    assert staff_client.get(reverse("dashboard:job_detail", args=[job.pk + 99])).status_code == 404


def test_status_json_reports_live_state(staff_client, job):
    job_start(job)
    Job.objects.filter(pk=job.pk).update(progress=0.5, message="half way")
    response = staff_client.get(reverse("dashboard:job_status", args=[job.pk]))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    data = response.json()
    assert data["status"] == "running"
    assert data["progress"] == 0.5
    assert data["message"] == "half way"
    assert data["is_finished"] is False
    assert data["log"][-1]["message"] == "Started"
    assert data["duration_seconds"] >= 0


def test_status_json_404_for_unknown_job(staff_client):
    response = staff_client.get(reverse("dashboard:job_status", args=[12345]))
    assert response.status_code == 404
    assert "12345" in response.json()["error"]


def test_cancel_get_only_asks_for_confirmation(staff_client, job):
    response = staff_client.get(reverse("dashboard:job_cancel", args=[job.pk]))
    assert response.status_code == 200
    assert "Cancel job #" in response.content.decode()
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED and not job.cancel_requested


def test_cancel_queued_job_cancels_it(staff_client, job):
    response = staff_client.post(reverse("dashboard:job_cancel", args=[job.pk]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert job.cancel_requested
    page = staff_client.get(response["Location"]).content.decode()
    assert "was cancelled" in page


def test_cancel_running_job_requests_cancellation(staff_client, job):
    job_start(job)
    staff_client.post(reverse("dashboard:job_cancel", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING
    assert job.cancel_requested
    assert staff_client.get(reverse("dashboard:job_status", args=[job.pk])).json()["cancel_requested"] is True


def test_cancel_finished_job_changes_nothing(staff_client, job):
    job_start(job)
    job_fail(job, error="boom")
    staff_client.post(reverse("dashboard:job_cancel", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert not job.cancel_requested


def test_cancel_requires_csrf_token(csrf_client, job):
    response = csrf_client.post(reverse("dashboard:job_cancel", args=[job.pk]))
    assert response.status_code == 403
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED
    # With the token from the page, the same request succeeds.
    page = csrf_client.get(reverse("dashboard:job_detail", args=[job.pk]))
    token = page.context["csrf_token"]
    response = csrf_client.post(reverse("dashboard:job_cancel", args=[job.pk]), {"csrfmiddlewaretoken": str(token)})
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED


def test_jobs_page_has_room_for_start_forms(staff_client):
    assert 'id="job-start"' in staff_client.get(reverse("dashboard:jobs")).content.decode()


# --- progress as values, with the time left -------------------------------------------------


def test_eta_follows_the_recent_rate_not_the_average():
    from recommender.jobs.services import EtaEstimator

    eta = EtaEstimator(window=60.0, min_seconds=5.0)
    assert eta.update(0.0, 0.0) is None
    assert eta.update(2.0, 0.10) is None  # too early to say
    assert eta.update(10.0, 0.20) == pytest.approx(40.0)  # 0.2 in 10 s: 0.8 left at 0.02/s
    # The work slows down: after the window, only the slow recent rate counts.
    for t in range(20, 200, 10):
        last = eta.update(float(t), 0.20 + 0.001 * (t - 10))
    assert last == pytest.approx((1 - 0.38) / 0.001, rel=1e-6)  # at t=190, progress 0.38
    # Progress that goes back (a phase restarting its count) starts the estimate afresh.
    assert eta.update(200.0, 0.1) is None
    assert EtaEstimator().update(0.0, 0.5) is None


def test_reporter_stores_steps_and_time_left_on_the_row(db):
    from recommender.jobs.services import JobReporter, ProgressStep, job_create, job_start

    job = job_start(job_create(kind=Job.Kind.TRAIN))
    now = [0.0]
    reporter = JobReporter(job, min_interval=0.0, clock=lambda: now[0])
    reporter(0.10, "training", steps=[ProgressStep("epoch", 1, 10), ProgressStep("batch", 5, 50)])
    now[0] = 30.0
    reporter(0.25, "training", steps=[ProgressStep("epoch", 2, 10), ProgressStep("batch", 25, 50)])
    job.refresh_from_db()
    assert job.steps == [{"unit": "epoch", "done": 2, "total": 10}, {"unit": "batch", "done": 25, "total": 50}]
    assert job.eta_seconds == pytest.approx(150.0)  # 0.15 in 30 s: 0.75 left at 0.005/s
    reporter(0.30, "evaluating")  # no steps given: the last ones stay
    job.refresh_from_db()
    assert job.steps[0]["done"] == 2


def test_job_page_shows_steps_and_time_left_and_no_server_paths(staff_client, db):
    from recommender.jobs.services import job_create, job_start

    job = job_start(job_create(kind=Job.Kind.ADAPT_IMAGES, params={"folder": "/srv/jewelrec/var/artifacts/image-adapter/x"}))
    Job.objects.filter(pk=job.pk).update(progress=0.4, eta_seconds=290.0, message="training the adapter",
                                         steps=[{"unit": "epoch", "done": 12, "total": 60}],
                                         result={"out_dir": "/srv/jewelrec/var/artifacts/image-adapter/incoming"})
    html = staff_client.get(f"/jobs/{job.pk}/").content.decode()
    assert " · epoch 12 of 60" in html and " · about 5 min left" in html
    assert "/srv/jewelrec" not in html and "…/image-adapter/x" in html
    status = staff_client.get(f"/jobs/{job.pk}/status.json").json()
    assert (status["steps_text"], status["eta_text"], status["eta_seconds"]) == ("epoch 12 of 60", "about 5 min left", 290.0)
    assert status["result"] == {"out_dir": "…/image-adapter/incoming"}


def test_eta_text_for_people():
    from recommender.dashboard.views.jobs import eta_text, steps_text

    assert [eta_text(s) for s in (None, 12, 59.9, 60, 150, 3600, 7500)] == [
        "", "less than a minute left", "less than a minute left", "about 1 min left", "about 2 min left",
        "about 1 h 00 min left", "about 2 h 05 min left"]
    assert steps_text([{"unit": "photo", "done": 1200, "total": 1566}, {"unit": "x", "done": 0, "total": 0}]) == "photo 1,200 of 1,566"
