"""Default-queue tasks."""
from __future__ import annotations

from celery import shared_task

from recommender.jobs.selectors import worker_heartbeat_payload


@shared_task(name="recommender.tasks.maintenance.worker_ping_task")
def worker_ping_task() -> dict:
    """Answers with what the worker sees of the database: the dashboard's worker health check."""
    return worker_heartbeat_payload()


@shared_task(name="recommender.tasks.maintenance.recover_stale_jobs_task")
def recover_stale_jobs_task() -> list[int]:
    """Requeue (or fail) jobs whose worker died; beat runs it every minute."""
    from recommender.jobs.services import jobs_recover_stale

    return [job.pk for job in jobs_recover_stale()]


@shared_task(name="recommender.tasks.maintenance.heuristic_blend_refresh_task")
def heuristic_blend_refresh_task() -> dict:
    """Refit the heuristic blend's statistics (what serves before a trained version is
    active); beat runs it daily. Idempotent: each run publishes a fresh build."""
    from recommender.training.heuristic import heuristic_blend_refresh

    return heuristic_blend_refresh()


@shared_task(name="recommender.tasks.maintenance.impression_metrics_refresh_task")
def impression_metrics_refresh_task() -> dict:
    """Match late-written recommendation ids, then roll the live metrics up; beat runs it every
    minute. Idempotent: a second run finds nothing new."""
    from recommender.impressions.services import impression_metrics_update

    return impression_metrics_update()


@shared_task(name="recommender.tasks.maintenance.impressions_prune_task")
def impressions_prune_task() -> int:
    """Delete raw impressions past the retention period (their daily figures stay)."""
    from recommender.impressions.services import impressions_prune_expired

    return impressions_prune_expired()
