"""Embedding-queue tasks."""
from __future__ import annotations

from celery import shared_task

from recommender.embeddings.services import embedding_job_run
from recommender.jobs.services import job_execute

from .base import JobTask


@shared_task(base=JobTask, bind=True, name="recommender.tasks.embedding.embed_catalog_task")
def embed_catalog_task(self, job_id: int) -> dict:
    job = job_execute(job_id, embedding_job_run, celery_task_id=self.request.id or "")
    return {"job_id": job.id, "status": job.status}


@shared_task(base=JobTask, bind=True, name="recommender.tasks.embedding.embed_item_task")
def embed_item_task(self, job_id: int) -> dict:
    job = job_execute(job_id, embedding_job_run, celery_task_id=self.request.id or "")
    return {"job_id": job.id, "status": job.status}


@shared_task(base=JobTask, bind=True, name="recommender.tasks.embedding.adapt_images_task")
def adapt_images_task(self, job_id: int) -> dict:
    from recommender.embeddings.adapter_jobs import adapter_job_run

    job = job_execute(job_id, adapter_job_run, celery_task_id=self.request.id or "")
    return {"job_id": job.id, "status": job.status}
