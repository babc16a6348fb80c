"""Celery application: configuration comes from Django settings (CELERY_* keys)."""
import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jewelrec_site.settings.base")

app = Celery("jewelrec")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["recommender.tasks"], related_name=None)


@worker_ready.connect
def _recover_stale_jobs(**_kwargs) -> None:
    """A worker that (re)starts picks up jobs a killed worker left behind."""
    from recommender.jobs.services import jobs_recover_stale

    jobs_recover_stale()
