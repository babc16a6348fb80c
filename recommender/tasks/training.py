"""Training-queue tasks."""
from __future__ import annotations

from celery import shared_task

from recommender.jobs.services import job_execute
from recommender.training.services import scheduled_training_start, training_job_run

from .base import JobTask


@shared_task(base=JobTask, bind=True, name="recommender.tasks.training.train_model_task")
def train_model_task(self, job_id: int) -> dict:
    job = job_execute(job_id, training_job_run, celery_task_id=self.request.id or "")
    return {"job_id": job.id, "status": job.status}


@shared_task(name="recommender.tasks.training.scheduled_training_task")
def scheduled_training_task() -> dict:
    version = scheduled_training_start()
    return {"version": version.name if version else None}
