"""Job rows: the one place that records the state of long work.

Tasks call ``job_run`` around their service call; services report progress through the
``JobReporter`` they are handed, so the ML core never sees Django.
"""
from __future__ import annotations

import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from celery import current_app
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from kombu.exceptions import OperationalError as BrokerUnavailable

from recommender.models import Job

MAX_LOG_LINES = 500
HEARTBEAT_SECONDS = 15.0
# A running job whose worker has not written a heartbeat for this long is considered lost.
STALE_AFTER_SECONDS = 120.0
MAX_ATTEMPTS = 3
# A queued job whose message was sent this long ago and that no worker has started is sent
# again: the broker may have lost it (a restart without persistence). Long enough that a job
# waiting behind another on its queue is rarely re-sent; a duplicate message is skipped anyway.
QUEUED_RESEND_AFTER_SECONDS = 600.0

logger = logging.getLogger(__name__)


class JobCancelled(Exception):
    """Raised inside a job when a merchandiser asked to cancel it."""


def job_create(*, kind: str, params: dict[str, Any] | None = None, user=None, message: str = "Queued") -> Job:
    return Job.objects.create(kind=kind, params=params or {}, created_by=user, message=message)


def job_append_log(job: Job, message: str) -> None:
    line = {"at": timezone.now().isoformat(timespec="seconds"), "message": message[:1000]}
    job.log = (list(job.log) + [line])[-MAX_LOG_LINES:]


@dataclass(frozen=True)
class ProgressStep:
    """One countable level of a job's work: epoch 3 of 10, batch 120 of 400, photo 64 of 1,566."""

    unit: str
    done: int
    total: int

    def as_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "done": int(self.done), "total": int(self.total)}


class EtaEstimator:
    """Seconds left from the rate of progress over the last ``window`` seconds.

    The recent rate, not the average since the start: loading data is fast and fitting is
    slow, so the average would promise too early an end. No estimate before
    ``min_seconds`` of progress, or while progress does not move.
    """

    def __init__(self, window: float = 120.0, min_seconds: float = 5.0) -> None:
        self.window = window
        self.min_seconds = min_seconds
        self._samples: deque[tuple[float, float]] = deque()

    def update(self, now: float, progress: float) -> float | None:
        samples = self._samples
        if samples and progress < samples[-1][1]:
            samples.clear()  # progress went back (a new phase restarted its count)
        samples.append((now, progress))
        while len(samples) > 2 and now - samples[1][0] >= self.window:
            samples.popleft()
        t0, p0 = samples[0]
        if now - t0 < self.min_seconds or progress <= p0:
            return None
        rate = (progress - p0) / (now - t0)
        return max(0.0, (1.0 - progress) / rate)


class JobReporter:
    """Progress callback handed to services. Writes at most every ``min_interval`` seconds.

    ``steps`` says where the work is as values (epoch 3 of 10, batch 120 of 400); the row
    keeps them with an estimate of the time left, for the job page.
    """

    def __init__(self, job: Job, min_interval: float = 0.5, clock=None) -> None:
        self.job = job
        self.min_interval = min_interval
        self._clock = clock or time.monotonic
        self._last_write = 0.0
        self._eta = EtaEstimator()

    def __call__(self, progress: float, message: str = "", *, log: bool = False, force: bool = False,
                 steps: list[ProgressStep] | None = None) -> None:
        now = self._clock()
        self.job.progress = max(0.0, min(1.0, float(progress)))
        self.job.eta_seconds = self._eta.update(now, self.job.progress)
        if steps is not None:
            self.job.steps = [s.as_dict() for s in steps]
        if message:
            self.job.message = message[:500]
            if log:
                job_append_log(self.job, message)
        if force or log or now - self._last_write >= self.min_interval:
            self._last_write = now
            self.job.heartbeat_at = timezone.now()
            Job.objects.filter(pk=self.job.pk).update(
                progress=self.job.progress,
                message=self.job.message,
                steps=self.job.steps,
                eta_seconds=self.job.eta_seconds,
                log=self.job.log,
                heartbeat_at=self.job.heartbeat_at,
            )
            if Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
                raise JobCancelled(f"Job {self.job.pk} was cancelled.")

    def log(self, message: str) -> None:
        self(self.job.progress, message, log=True)


def job_start(job: Job, *, celery_task_id: str = "") -> Job:
    job.status = Job.Status.RUNNING
    job.started_at = job.started_at or timezone.now()
    job.heartbeat_at = timezone.now()
    job.celery_task_id = celery_task_id or job.celery_task_id
    job.error = ""
    job_append_log(job, "Started")
    job.save(update_fields=["status", "started_at", "heartbeat_at", "celery_task_id", "error", "log"])
    return job


def job_finish(job: Job, *, result: dict[str, Any] | None = None, message: str = "Done") -> Job:
    job.status = Job.Status.SUCCEEDED
    job.progress = 1.0
    job.eta_seconds = None
    job.message = message[:500]
    job.result = result or {}
    job.finished_at = timezone.now()
    job_append_log(job, message)
    job.save(update_fields=["status", "progress", "eta_seconds", "message", "result", "finished_at", "log"])
    return job


def job_fail(job: Job, *, error: str, cancelled: bool = False) -> Job:
    job.status = Job.Status.CANCELLED if cancelled else Job.Status.FAILED
    job.error = error
    job.message = ("Cancelled" if cancelled else f"Failed: {error.splitlines()[0] if error else ''}")[:500]
    job.finished_at = timezone.now()
    job.eta_seconds = None
    job_append_log(job, job.message)
    job.save(update_fields=["status", "error", "message", "finished_at", "eta_seconds", "log"])
    for handler in _failure_handlers.get(job.kind, []):
        handler(job)
    return job


def job_request_cancel(job: Job) -> Job:
    """Ask a job to stop. A queued job is cancelled at once; a running one at its next report."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.is_finished:
            return job
        job.cancel_requested = True
        job.save(update_fields=["cancel_requested"])
        if job.status == Job.Status.QUEUED:
            job_fail(job, error="Cancelled before it started.", cancelled=True)
    return job


@contextmanager
def job_running(job: Job) -> Iterator[tuple[Job, JobReporter]]:
    """Keep a started job's heartbeat going for the duration of the block; record how it ended."""
    reporter = JobReporter(job)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(job.pk, stop), daemon=True, name=f"job-{job.pk}-heartbeat")
    beat.start()
    try:
        yield job, reporter
    except JobCancelled as exc:
        job_fail(job, error=str(exc), cancelled=True)
    except Exception as exc:  # noqa: BLE001 - any failure must land in the job row
        job_fail(job, error=f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}")
        raise
    finally:
        stop.set()


def _heartbeat(job_id: int, stop: threading.Event) -> None:
    """Proves the worker is alive during long silent phases (a fusion fit, a slow epoch)."""
    from django.db import close_old_connections

    try:
        while not stop.wait(HEARTBEAT_SECONDS):
            Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(heartbeat_at=timezone.now())
    finally:
        close_old_connections()


def _running_elsewhere(job: Job) -> bool:
    if job.status != Job.Status.RUNNING or job.heartbeat_at is None:
        return False
    return (timezone.now() - job.heartbeat_at).total_seconds() < STALE_AFTER_SECONDS


def job_execute(job_id: int, work: Callable[[Job, JobReporter], dict[str, Any] | None], *, celery_task_id: str = "") -> Job:
    """Run ``work`` for a job; the common body of every task.

    A job may have several messages (re-sent after a broker outage, redelivered after a lost
    worker): the first to claim the row runs it; one that finds it finished, or running
    with a live heartbeat, does nothing. The claim is taken under a row lock so two workers
    cannot both start it.
    """
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.is_finished or _running_elsewhere(job):
            logger.info("job %s is %s; duplicate message skipped", job.pk, job.status)
            return job
        if job.cancel_requested:
            return job_fail(job, error="Cancelled before it started.", cancelled=True)
        job_start(job, celery_task_id=celery_task_id)
    logger.info("job %s (%s) started, attempt %s", job.pk, job.kind, job.params.get("attempts", 1))
    with job_running(job) as (job, reporter):
        result = work(job, reporter) or {}
        job_finish(job, result=result, message=str(result.get("message", "Done")))
    return Job.objects.get(pk=job_id)


# The task that runs each kind of job, by its registered name. Jobs are sent by name
# (Celery's send_task) so this module never imports the task modules, which import the
# services that create jobs.
JOB_TASK_NAMES: dict[str, str] = {
    Job.Kind.EMBED_CATALOG: "recommender.tasks.embedding.embed_catalog_task",
    Job.Kind.EMBED_ITEM: "recommender.tasks.embedding.embed_item_task",
    Job.Kind.ADAPT_IMAGES: "recommender.tasks.embedding.adapt_images_task",
    Job.Kind.TRAIN: "recommender.tasks.training.train_model_task",
}

# Called with a job that ended failed or cancelled, by kind: the owner of a job's other rows
# (a training run's model version) settles them without this module knowing about them.
_failure_handlers: dict[str, list[Callable[[Job], None]]] = {}


def job_on_failure(kind: str, handler: Callable[[Job], None]) -> None:
    """Register ``handler`` for jobs of ``kind`` that fail or are cancelled (at app start)."""
    if handler not in _failure_handlers.setdefault(kind, []):
        _failure_handlers[kind].append(handler)


def job_enqueue(job: Job) -> None:
    """Send a job's message once the surrounding transaction commits (never before: a worker
    must not see an uncommitted row)."""
    transaction.on_commit(lambda: job_send(job.pk, job.kind))


def job_enqueue_failed(job_id: int, error: Exception) -> None:
    """The broker refused a job's message: the job stays queued and recovery sends it again."""
    logger.warning("job %s: broker unavailable, will be retried (%s)", job_id, error)
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != Job.Status.QUEUED:
            return
        if not job.params.get("enqueue_pending"):
            job_append_log(job, f"Not sent: broker unavailable, will be retried ({error})")
        job.params = {**job.params, "enqueue_pending": True}
        job.message = "Waiting for the broker"
        job.save(update_fields=["params", "message", "log"])


def job_send(job_id: int, kind: str) -> bool:
    """Send a job's message now; clear the "not sent" mark once the broker took it.

    If the broker cannot take it (down, restarting), the job stays queued and says so, and
    stale-job recovery sends it again: the page or service that queued it never fails."""
    try:
        current_app.send_task(JOB_TASK_NAMES[kind], args=[job_id])
    except BrokerUnavailable as exc:
        job_enqueue_failed(job_id, exc)
        return False
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.params.get("enqueue_pending"):
            job.params = {k: v for k, v in job.params.items() if k != "enqueue_pending"}
            if job.status == Job.Status.QUEUED:
                job.message = "Queued"
            job.save(update_fields=["params", "message"])
    return True


def _jobs_resend_queued(now, queued_after: float) -> list[Job]:
    """Send again the queued jobs whose message never reached the broker or was lost there."""
    from datetime import timedelta

    cutoff = now - timedelta(seconds=queued_after)
    resent = []
    for job_id in Job.objects.filter(status=Job.Status.QUEUED, cancel_requested=False).values_list("id", flat=True):
        with transaction.atomic():
            job = Job.objects.select_for_update().get(pk=job_id)
            if job.status != Job.Status.QUEUED or job.cancel_requested or job.kind not in JOB_TASK_NAMES:
                continue
            pending = bool(job.params.get("enqueue_pending"))
            sent_at = parse_datetime(job.params.get("sent_at") or "") or job.created_at
            if not pending and sent_at >= cutoff:
                continue
            job.params = {**job.params, "sent_at": now.isoformat()}
            job_append_log(job, "Sent again: the broker was unavailable" if pending
                           else f"Sent again: no worker started it since {sent_at:%Y-%m-%d %H:%M:%S}")
            job.save(update_fields=["params", "log"])
            job_enqueue(job)
            resent.append(job)
    return resent


def jobs_recover_stale(*, stale_after: float = STALE_AFTER_SECONDS, max_attempts: int = MAX_ATTEMPTS,
                       queued_after: float = QUEUED_RESEND_AFTER_SECONDS) -> list[Job]:
    """Requeue running jobs whose worker died (no heartbeat); fail them after ``max_attempts``.
    Send queued jobs again whose message the broker refused, or that no worker started
    within ``queued_after`` seconds (the broker lost the message).

    Jobs are idempotent, so a requeued embedding resumes from its cache and a requeued
    training run starts again; the active model is never touched by either. A job sent
    twice runs once (``job_execute`` claims it).
    """
    from datetime import timedelta

    now = timezone.now()
    cutoff = now - timedelta(seconds=stale_after)
    recovered = []
    for job_id in Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=cutoff).values_list("id", flat=True):
        with transaction.atomic():
            job = Job.objects.select_for_update().get(pk=job_id)
            if job.status != Job.Status.RUNNING or (job.heartbeat_at and job.heartbeat_at >= cutoff):
                continue
            attempts = int(job.params.get("attempts", 1))
            if job.kind not in JOB_TASK_NAMES or attempts >= max_attempts or job.cancel_requested:
                job_fail(job, error=f"The worker running this job stopped (no heartbeat since {job.heartbeat_at:%H:%M:%S}).",
                         cancelled=job.cancel_requested)
            else:
                job.status = Job.Status.QUEUED
                job.params = {**job.params, "attempts": attempts + 1, "sent_at": now.isoformat()}
                job.message = "Worker lost; requeued"
                job_append_log(job, f"The worker stopped; requeued (attempt {attempts + 1} of {max_attempts})")
                job.save(update_fields=["status", "params", "message", "log"])
                job_enqueue(job)
            recovered.append(job)
    return recovered + _jobs_resend_queued(now, queued_after)
