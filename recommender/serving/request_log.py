"""Per-minute API traffic aggregates for the dashboards, buffered in memory.

A write per request would cost more than the recommendation itself; instead each process
adds up counts and flushes them every few seconds with one upsert per (minute, scenario),
in its housekeeping thread when that runs (else in the request that finds a flush due).
"""
from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from datetime import datetime, timezone as dt_timezone

from django.db import DatabaseError, transaction
from django.db.models import F
from django.db.models.functions import Greatest

from recommender.models import ApiRequestLog

from .housekeeping import housekeeper

logger = logging.getLogger(__name__)
FLUSH_SECONDS = 5.0

_lock = threading.Lock()
_buffer: dict[tuple[datetime, str], list[float]] = defaultdict(lambda: [0, 0, 0.0, 0.0])
_last_flush = time.monotonic()


def api_request_record(scenario: str, status_code: int, latency_ms: float) -> None:
    minute = datetime.now(dt_timezone.utc).replace(second=0, microsecond=0)
    with _lock:
        entry = _buffer[(minute, scenario)]
        entry[0] += 1
        entry[1] += 1 if status_code >= 400 else 0
        entry[2] += latency_ms
        entry[3] = max(entry[3], latency_ms)
        due = time.monotonic() - _last_flush >= FLUSH_SECONDS
    if due and not housekeeper.running():
        api_request_log_flush()


def api_request_log_flush() -> None:
    global _last_flush
    with _lock:
        pending = dict(_buffer)
        _buffer.clear()
        _last_flush = time.monotonic()
    try:
        with transaction.atomic():
            for (minute, scenario), (requests, errors, total, peak) in pending.items():
                row, created = ApiRequestLog.objects.get_or_create(
                    minute=minute, scenario=scenario,
                    defaults={"requests": requests, "errors": errors, "total_latency_ms": total, "max_latency_ms": peak},
                )
                if not created:
                    ApiRequestLog.objects.filter(pk=row.pk).update(
                        requests=F("requests") + requests, errors=F("errors") + errors,
                        total_latency_ms=F("total_latency_ms") + total,
                        max_latency_ms=Greatest(F("max_latency_ms"), peak),
                    )
    except DatabaseError as exc:  # traffic stats must never fail a storefront request
        logger.warning("could not flush API request log: %s", exc)


def _flush_in_background() -> None:
    if _buffer:
        api_request_log_flush()


housekeeper.register("api-request-log", _flush_in_background, lambda: FLUSH_SECONDS)
