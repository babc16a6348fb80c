"""Celery application: configuration comes from Django settings (CELERY_* keys)."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jewelrec_site.settings.base")

app = Celery("jewelrec")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["recommender.tasks"], related_name=None)
