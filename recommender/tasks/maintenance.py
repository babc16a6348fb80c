"""Default-queue tasks."""
from __future__ import annotations

from celery import shared_task

from recommender.jobs.selectors import worker_heartbeat_payload


@shared_task(name="recommender.tasks.maintenance.worker_ping_task")
def worker_ping_task() -> dict:
    """Answers with what the worker sees of the database: the dashboard's worker health check."""
    return worker_heartbeat_payload()
