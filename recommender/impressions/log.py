"""Impression logging: what every storefront answer showed, written in batches off the request path.

A request only appends a tuple to an in-process buffer (microseconds). The process's
housekeeping thread writes the buffer every ``FLUSH_SECONDS`` in multi-row INSERTs; without
the thread, the request that finds a flush due does it. Events that send a recommendation id
back before its impression is written are matched later (``attribution``), so nothing depends
on the flush having happened.
"""
from __future__ import annotations

import atexit
import json
import logging
import threading
import time

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from recommender.models import Impression
from recommender.serving.housekeeping import housekeeper
from recommender.serving.results import RecommendationResult

logger = logging.getLogger(__name__)
FLUSH_SECONDS = 1.0
# Beyond this many waiting rows (the database down for a while) the oldest are dropped: the
# storefront must not run out of memory for its statistics.
MAX_BUFFERED = 200_000
BATCH = 1000

_lock = threading.Lock()
_buffer: list[tuple] = []
_last_flush = time.monotonic()


def impression_record(result: RecommendationResult, customer_id: str | None) -> None:
    """Remember what ``result`` showed; cheap enough for every storefront request."""
    if not getattr(settings, "JEWELREC_IMPRESSIONS", True):
        return
    row = (result.request_id, result.scenario, result.model_version, result.experiment_id, result.arm,
           customer_id or "", [item.id for item in result.items], timezone.now())
    with _lock:
        _buffer.append(row)
        if len(_buffer) > MAX_BUFFERED:
            del _buffer[: len(_buffer) - MAX_BUFFERED]
        due = time.monotonic() - _last_flush >= FLUSH_SECONDS
    if due and not housekeeper.running():
        impressions_flush()


def impressions_flush() -> int:
    """Write the buffered impressions; returns how many. On a database error they stay buffered."""
    global _last_flush
    with _lock:
        pending = list(_buffer)
        _buffer.clear()
        _last_flush = time.monotonic()
    if not pending:
        return 0
    try:
        with transaction.atomic():  # a savepoint inside an event batch's transaction: a failure here spares it
            _insert(pending)
    except DatabaseError as exc:  # statistics must never fail a storefront request
        logger.warning("could not write %d impressions, keeping them for the next flush: %s", len(pending), exc)
        with _lock:
            _buffer[:0] = pending
        return 0
    return len(pending)


_COLUMNS = ("request_id", "scenario", "model_version", "experiment_id", "arm", "customer_key", "items", "shown_at")


def _insert(pending: list[tuple]) -> None:
    """Multi-row INSERTs of plain tuples: model instances and ``bulk_create`` cost ~0.1 ms a row,
    CPU the housekeeping thread would take from the requests of its process (GIL)."""
    from django.db import connection

    table = connection.ops.quote_name(Impression._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in _COLUMNS)
    adapt = connection.ops.adapt_datetimefield_value
    rows = [(rid, scenario, version[:64], exp, arm[:64], customer[:128], json.dumps(items), adapt(shown))
            for rid, scenario, version, exp, arm, customer, items, shown in pending]
    # SQLite allows 999 parameters a statement (8 a row); a retried flush skips rows it wrote
    per = 100 if connection.vendor == "sqlite" else BATCH
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per):
            chunk = rows[start:start + per]
            values = ", ".join(["(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"] * len(chunk))
            cursor.execute(f"INSERT INTO {table} ({columns}) VALUES {values} ON CONFLICT (request_id) DO NOTHING",
                           [v for row in chunk for v in row])


def impressions_buffered() -> int:
    return len(_buffer)


def impressions_buffer_clear() -> None:
    """Forget unwritten impressions (tests)."""
    with _lock:
        _buffer.clear()


def _flush_in_background() -> None:
    if _buffer:
        impressions_flush()


def _flush_at_exit() -> None:
    if _buffer:
        try:
            impressions_flush()
        except Exception:  # noqa: BLE001 - the process is going away; nothing else to do
            logger.warning("could not write %d impressions at exit", len(_buffer))


housekeeper.register("impressions", _flush_in_background, lambda: FLUSH_SECONDS)
atexit.register(_flush_at_exit)  # a worker restarted by gunicorn keeps its last second of impressions
