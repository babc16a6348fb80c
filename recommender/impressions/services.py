"""The impression side's jobs, as the periodic tasks and the replay call them."""
from __future__ import annotations

from django.conf import settings

from .attribution import attributions_pending_resolve
from .log import impressions_flush
from .rollup import impression_metrics_refresh, impressions_prune


def impression_metrics_update() -> dict[str, dict[str, int]]:
    """Write this process's buffered impressions, match pending recommendation ids, roll up."""
    impressions_flush()
    return {"pending": attributions_pending_resolve(), "rolled_up": impression_metrics_refresh()}


def impressions_prune_expired() -> int:
    return impressions_prune(days=settings.JEWELREC_IMPRESSION_RETENTION_DAYS)
