"""Import a behaviour export (CSV or parquet) of events, all or nothing; see docs/import.md."""
from __future__ import annotations

import hashlib
import time
from typing import Any

from django.db import transaction

from recommender.catalog.services import item_prices_fill_from_purchases
from recommender.events.rollup import event_daily_counts_refresh
from recommender.events.services import (
    EventInvalid,
    customers_ensure,
    event_clean,
    existing_event_ids,
    item_pks_by_external_id,
)
from recommender.models import Event
from recommender.serving.customers import customer_context_invalidate

from .report import ImportReport
from .tables import MAX_ERRORS, read_table

EVENT_COLUMNS = ("customer_id", "item_id", "type", "timestamp", "price", "event_id", "channel")
EVENT_REQUIRED = ("customer_id", "item_id", "type", "timestamp")


def _derived_event_id(e, occurrence: int) -> str:
    """A stable id for rows without ``event_id``, so re-importing the same file adds nothing."""
    key = f"{e.customer_id}|{e.item_id}|{e.event_type}|{e.timestamp.isoformat()}|{e.price}|{e.channel}|{occurrence}"
    return "file:" + hashlib.sha256(key.encode()).hexdigest()[:40]


def import_events_file(path, *, mapping: dict[str, str] | None = None, dry_run: bool = False,
                       format: str | None = None) -> ImportReport:
    """Validate and add behaviour events from CSV/parquet; see :data:`EVENT_COLUMNS`.

    Events whose ``event_id`` is already stored count as unchanged; rows without one get a
    deterministic id from their content, so importing the same file twice adds nothing.
    """
    started = time.monotonic()
    report = ImportReport(dry_run=dry_run)
    table = read_table(path, columns=EVENT_COLUMNS, required=EVENT_REQUIRED, mapping=mapping, report=report,
                        fmt=format)
    if table is None:
        report.seconds = time.monotonic() - started
        return report
    header_for = table.header_for
    clean: list[tuple[int, Any]] = []
    for row_number, values in table.rows:
        try:
            clean.append((row_number, event_clean(values)))
        except EventInvalid as exc:
            report.error(table.name, row_number, header_for.get(exc.field, exc.field), exc.message)
            if len(report.errors) >= MAX_ERRORS:
                report.notes.append(f"stopped after {MAX_ERRORS} errors")
                break
    items = item_pks_by_external_id({e.item_id for _, e in clean})
    seen: dict[str, int] = {}
    occurrences: dict[str, int] = {}
    for row_number, e in clean:
        if e.item_id not in items:
            report.error(table.name, row_number, header_for.get("item_id", "item_id"),
                         f"unknown item id '{e.item_id}'")
        if e.event_id is None:
            base = _derived_event_id(e, 0)
            occurrences[base] = occurrences.get(base, -1) + 1
            e.event_id = _derived_event_id(e, occurrences[base])
        elif e.event_id in seen:
            report.error(table.name, row_number, header_for.get("event_id", "event_id"),
                         f"duplicate event_id '{e.event_id}' (first on row {seen[e.event_id]})")
        seen.setdefault(e.event_id, row_number)
    if not report.ok:
        report.errors.sort(key=lambda e: (e.file, e.row or 0))
        report.seconds = time.monotonic() - started
        return report
    stored = existing_event_ids({e.event_id for _, e in clean})
    new = [e for _, e in clean if e.event_id not in stored]
    report.add("events", created=len(new), unchanged=len(clean) - len(new))
    if not dry_run:
        with transaction.atomic():
            customers, created_customers = customers_ensure({e.customer_id for e in new})
            customer_context_invalidate(customers)  # their served context changes on commit
            report.add("customers", created=created_customers)
            Event.objects.bulk_create(
                [
                    Event(customer_id=customers[e.customer_id], item_id=items[e.item_id], event_type=e.event_type,
                          timestamp=e.timestamp, price=e.price, channel=e.channel, client_event_id=e.event_id)
                    for e in new
                ],
                batch_size=2000,
            )
            event_daily_counts_refresh()
            priced = item_prices_fill_from_purchases({items[e.item_id] for e in new if e.price is not None})
            if priced:
                report.notes.append(f"{priced} item(s) without a price took the median price of their purchases")
    report.seconds = time.monotonic() - started
    return report
