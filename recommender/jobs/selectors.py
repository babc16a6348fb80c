"""Read-side queries over jobs and worker health."""
from __future__ import annotations

import os
import socket

from django.db import connection
from django.utils import timezone

from recommender.models import Item, Job


def worker_heartbeat_payload() -> dict:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "database": connection.vendor,
        "items": Item.objects.count(),
        "at": timezone.now().isoformat(),
    }


def jobs_recent(limit: int = 50, kind: str | None = None):
    qs = Job.objects.select_related("created_by")
    if kind:
        qs = qs.filter(kind=kind)
    return qs[:limit]


def job_active_of_kind(kind: str) -> Job | None:
    return Job.objects.filter(kind=kind, status__in=Job.ACTIVE_STATUSES).order_by("created_at").first()
