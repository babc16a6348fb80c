"""Base class of the tasks that run a Job row."""
from __future__ import annotations

from celery import Task
from kombu.exceptions import OperationalError as BrokerUnavailable


class JobTask(Task):
    """A task whose one argument is a Job id.

    If the broker cannot take the message (down, restarting), ``delay`` returns None
    instead of raising: the job row stays queued and says so, and stale-job recovery sends
    it again. The page or service that queued it (from ``transaction.on_commit``, after its
    rows committed) neither fails nor loses the job.
    """

    def apply_async(self, args=None, kwargs=None, **options):
        try:
            return super().apply_async(args, kwargs, **options)
        except BrokerUnavailable as exc:
            from recommender.jobs.services import job_enqueue_failed

            job_id = args[0] if args else (kwargs or {})["job_id"]
            job_enqueue_failed(int(job_id), exc)
            return None
