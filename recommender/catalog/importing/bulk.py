"""Fast inserts for big imports.

``bulk_create`` builds a model instance and compiles every value of every row, which on
the 236k sample purchases costs minutes of CPU. Here values are adapted once per column
and handed to the driver in one ``executemany`` (SQLite) or ``COPY`` (PostgreSQL), inside
the caller's transaction. Only for trusted, already validated rows: no model ``save()``,
no signals, no defaults -- every column must be given.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, models


def _adapter(field: models.Field) -> Callable[[Any], Any] | None:
    vendor = connection.vendor
    if isinstance(field, models.JSONField):
        return lambda v: None if v is None else json.dumps(v)
    if isinstance(field, models.DecimalField) and vendor == "sqlite":
        return lambda v: None if v is None else str(v)
    if isinstance(field, models.DateTimeField) and vendor == "sqlite":
        cache: dict[datetime, Any] = {}

        def adapt(v):
            if v is None:
                return None
            out = cache.get(v)
            if out is None:
                out = cache[v] = connection.ops.adapt_datetimefield_value(v)
            return out

        return adapt
    return None


def insert_rows(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    batch_size: int = 5000,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Insert ``rows`` (tuples in ``columns`` order, attnames such as ``item_id``); returns the count."""
    meta = model._meta
    fields = [next(f for f in meta.concrete_fields if f.attname == name) for name in columns]
    adapters = [(i, a) for i, a in ((i, _adapter(f)) for i, f in enumerate(fields)) if a is not None]
    qn = connection.ops.quote_name
    table = qn(meta.db_table)
    column_sql = ", ".join(qn(f.column) for f in fields)

    def prepared(batch):
        if not adapters:
            return batch
        out = []
        for row in batch:
            row = list(row)
            for i, adapt in adapters:
                row[i] = adapt(row[i])
            out.append(row)
        return out

    total = 0
    batch: list = []
    with connection.cursor() as cursor:
        def flush():
            nonlocal total, batch
            if not batch:
                return
            values = prepared(batch)
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {table} ({column_sql}) FROM STDIN") as copy:
                    for row in values:
                        copy.write_row(row)
            else:
                placeholders = ", ".join(["%s"] * len(fields))
                cursor.executemany(f"INSERT INTO {table} ({column_sql}) VALUES ({placeholders})", values)
            total += len(batch)
            batch = []
            if on_batch:
                on_batch(total)

        for row in rows:
            batch.append(row)
            if len(batch) >= batch_size:
                flush()
        flush()
    return total
