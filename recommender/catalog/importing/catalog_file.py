"""Import a retailer's own catalog or behaviour export (CSV or parquet), all or nothing.

Every row is validated first; if any row is bad nothing is written and the report lists
each bad row (file, spreadsheet row number, column, reason). ``dry_run`` stops after
validation and reports what would be created/updated. Column names and the mapping are
documented in docs/import.md.

Text is stored as given: a cell such as ``=HYPERLINK(...)`` is kept as text and never
evaluated. Spreadsheet programs may evaluate such text when our data is exported back
to them; exports should escape it.
"""
from __future__ import annotations

import csv
import hashlib
import io
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from django.db import transaction
from django.utils import timezone

from recommender.catalog.images import MAX_BYTES as MAX_PHOTO_BYTES
from recommender.catalog.images import ImageRejected, ValidatedImage, image_validate
from recommender.catalog.services import (
    DEFAULT_TIERS,
    EMBEDDING_INPUT_FIELDS,
    ItemInvalid,
    is_jewelry_type,
    item_image_add,
    item_prices_fill_from_purchases,
    parse_price,
    photo_files_rollback_guard,
    product_type_normalise,
    tiers_ensure,
    validate_external_id,
)
from recommender.embeddings.services import items_embedding_start
from recommender.events.rollup import event_daily_counts_refresh
from recommender.events.services import (
    EventInvalid,
    customers_ensure,
    event_clean,
    existing_event_ids,
    item_pks_by_external_id,
)
from recommender.models import Event, Item, ItemImage, MembershipTier
from recommender.serving.customers import customer_context_invalidate

from .report import ImportReport

# Canonical column -> Item field. ``category`` is an alias of ``product_group``.
CATALOG_COLUMNS: dict[str, str] = {
    "id": "external_id",
    "title": "title",
    "product_type": "product_type",
    "description": "description",
    "category": "product_group",
    "product_group": "product_group",
    "colour": "colour",
    "material": "material",
    "appearance": "appearance",
    "department": "department",
    "section": "section",
    "style_tags": "style_tags",
    "price": "price",
    "currency": "currency",
    "in_stock": "in_stock",
    "is_active": "is_active",
    "exclusive_tier": "exclusive_tier",
}
CATALOG_REQUIRED = ("id", "title", "product_type")
EVENT_COLUMNS = ("customer_id", "item_id", "type", "timestamp", "price", "event_id", "channel")
EVENT_REQUIRED = ("customer_id", "item_id", "type", "timestamp")
MAX_ERRORS = 1000  # a file with every row wrong should not produce a megabyte report

_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}
ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".jar")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif")
MAX_ZIP_MEMBERS = 5000
MAX_ZIP_TOTAL_BYTES = 1024 * 1024 * 1024


class _TooManyErrors(Exception):
    pass


@dataclass
class _Table:
    name: str
    header: list[str]
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # (spreadsheet row, canonical -> cell)
    header_for: dict[str, str] = field(default_factory=dict)  # canonical -> the file's column name, for errors


def _display_name(source) -> str:
    if isinstance(source, (str, Path)):
        return Path(source).name
    return Path(getattr(source, "name", "") or "upload").name


def _read_source(source) -> bytes:
    if isinstance(source, (str, Path)):
        return Path(source).read_bytes()
    if hasattr(source, "seek"):
        source.seek(0)
    data = source.read()
    return data.encode() if isinstance(data, str) else data


def _read_table(source, *, columns: Iterable[str], required: Iterable[str], mapping: dict[str, str] | None,
                report: ImportReport, fmt: str | None = None) -> _Table | None:
    """Read CSV/parquet into canonical-column dicts; header problems go to the report (row 1)."""
    name = _display_name(source)
    columns = list(columns)
    kind = fmt or ("parquet" if name.lower().endswith((".parquet", ".pq")) else "csv")
    try:
        data = _read_source(source)
    except OSError as exc:
        report.error(name, None, "", f"cannot read file: {exc}")
        return None
    if kind == "parquet":
        header, raw_rows = _parquet_rows(data, name, report)
    else:
        header, raw_rows = _csv_rows(data, name, report)
    if header is None:
        return None

    # mapping: canonical column -> the file's column name
    file_to_canonical: dict[str, str] = {}
    lowered = {c.lower(): c for c in columns}
    mapped = {v.strip().lower(): k for k, v in (mapping or {}).items()}
    for k in mapping or {}:
        if k not in columns:
            report.error(name, 1, k, f"mapping names unknown target column '{k}'; known: {', '.join(columns)}")
    seen: dict[str, str] = {}
    for col in header:
        key = col.strip().lower()
        canonical = mapped.get(key) or lowered.get(key)
        if canonical is None:
            report.error(name, 1, col, f"unknown column '{col}'; known columns: {', '.join(columns)}")
            continue
        if canonical in seen:
            report.error(name, 1, col, f"column '{col}' and '{seen[canonical]}' both map to '{canonical}'")
            continue
        seen[canonical] = col
        file_to_canonical[col] = canonical
    for req in required:
        if req not in seen:
            report.error(name, 1, req, f"missing required column '{req}'")
    if not report.ok:
        return None
    table = _Table(name=name, header=header)
    for row_number, cells in raw_rows:
        if len(cells) > len(header):
            report.error(name, row_number, "", f"row has {len(cells)} cells but the header has {len(header)}")
            continue
        if not any(c.strip() for c in cells):
            continue  # a blank line, as spreadsheets leave at the end
        values = {file_to_canonical[h]: (cells[i] if i < len(cells) else "") for i, h in enumerate(header)
                  if h in file_to_canonical}
        table.rows.append((row_number, values))
    # Errors name the user's column, not ours.
    table.header_for = {v: k for k, v in file_to_canonical.items()}
    return table


def _csv_rows(data: bytes, name: str, report: ImportReport):
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        report.error(name, line, "", f"file is not UTF-8 (byte 0x{data[exc.start]:02x} at line {line}); "
                                     "save it as 'CSV UTF-8'")
        return None, []
    if "\x00" in text:
        report.error(name, None, "", "file contains NUL bytes; it is not a CSV text file")
        return None, []
    try:
        sample = text[:4096]
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t") if sample.strip() else csv.excel
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader, None)
        if not header:
            report.error(name, 1, "", "file is empty (no header row)")
            return None, []
        # Spreadsheet row numbers count records, so a quoted multi-line cell is still one row.
        rows = [(n, row) for n, row in enumerate(reader, start=2)]
    except csv.Error as exc:
        report.error(name, reader.line_num, "", f"malformed CSV: {exc}")
        return None, []
    return [h.strip() for h in header], rows


def _parquet_rows(data: bytes, name: str, report: ImportReport):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        report.error(name, None, "", f"not a readable parquet file ({exc})")
        return None, []
    header = [str(c) for c in table.column_names]
    cols = [table.column(c).to_pylist() for c in table.column_names]

    def cell(v) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float) and v != v:
            return ""
        if hasattr(v, "isoformat"):
            return v.isoformat()
        return str(v)

    rows = [(i + 2, [cell(c[i]) for c in cols]) for i in range(table.num_rows)]
    return header, rows


# --- catalog ---------------------------------------------------------------------------------


def _parse_bool(value: str, column: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE or text == "":
        return True
    if text in _FALSE:
        return False
    raise ItemInvalid(column, f"'{value}' is not true/false (use true, false, yes, no, 1 or 0)")


def _clean_catalog_row(values: dict[str, str], tier_ids: dict[str, int | None]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column, raw in values.items():
        target = CATALOG_COLUMNS[column]
        if column == "id":
            out[target] = validate_external_id(raw, field="id")
        elif column == "price":
            out[target] = parse_price(raw, field="price")
        elif column == "currency":
            code = raw.strip().upper()
            if code and not (len(code) == 3 and code.isalpha() and code.isascii()):
                raise ItemInvalid("currency", f"'{raw}' is not a 3-letter currency code")
            out[target] = code or "EUR"
        elif column in ("in_stock", "is_active"):
            out[target] = _parse_bool(raw, column)
        elif column == "style_tags":
            out[target] = [t.strip() for t in raw.split(";") if t.strip()]
        elif column == "exclusive_tier":
            code = raw.strip().lower()
            if code and code not in tier_ids:
                raise ItemInvalid(column, f"unknown tier '{raw}'; known tiers: {', '.join(sorted(tier_ids))}")
            # Resolved to an id at write time (the default tiers may not exist yet).
            # "none" (rank 0) is not a restriction, so it stores as "everyone".
            out["exclusive_tier_id"] = code if code and code != "none" else None
        else:
            text = raw.strip()
            if column in ("title", "product_type") and not text:
                raise ItemInvalid(column, "must not be empty")
            max_length = Item._meta.get_field(target).max_length
            if max_length and len(text) > max_length:
                raise ItemInvalid(column, f"is {len(text)} characters, more than {max_length}")
            out[target] = text
    if "product_type" in out:
        out["product_type"] = product_type_normalise(out["product_type"])
        out["is_jewelry"] = is_jewelry_type(out["product_type"])
    return out


def _tier_ids_known() -> dict[str, int | None]:
    """Codes of tiers in the database plus the defaults ``tiers_ensure`` would create."""
    ids: dict[str, int | None] = {code: None for code, _, _ in DEFAULT_TIERS}
    ids.update(MembershipTier.objects.values_list("code", "id"))
    return ids


def _validate_catalog(table: _Table, report: ImportReport) -> dict[str, tuple[int, dict[str, Any]]]:
    tier_ids = _tier_ids_known()
    header_for = table.header_for
    seen: dict[str, int] = {}
    clean: dict[str, tuple[int, dict[str, Any]]] = {}
    for row_number, values in table.rows:
        try:
            fields = _clean_catalog_row(values, tier_ids)
        except ItemInvalid as exc:
            column = header_for.get(exc.field, exc.field)
            report.error(table.name, row_number, column, str(exc).split(": ", 1)[-1])
            if len(report.errors) >= MAX_ERRORS:
                raise _TooManyErrors from None
            continue
        ext = fields["external_id"]
        if ext in seen:
            report.error(table.name, row_number, header_for.get("id", "id"),
                         f"duplicate id '{ext}' (first on row {seen[ext]})")
            continue
        seen[ext] = row_number
        clean[ext] = (row_number, fields)
    return clean


def _plan_catalog(clean: dict[str, tuple[int, dict[str, Any]]]):
    """Split rows into new items and changed existing ones (unchanged rows are counted only)."""
    existing: dict[str, Item] = {}
    ids = sorted(clean)
    for start in range(0, len(ids), 900):
        for item in Item.objects.filter(external_id__in=ids[start : start + 900]):
            existing[item.external_id] = item
    to_create: list[dict[str, Any]] = []
    to_update: list[tuple[Item, list[str]]] = []
    unchanged = 0
    for ext, (_row, fields) in clean.items():
        item = existing.get(ext)
        if item is None:
            to_create.append(fields)
            continue
        changed = [f for f, v in fields.items() if getattr(item, f) != v]
        if changed:
            for f in changed:
                setattr(item, f, fields[f])
            to_update.append((item, changed))
        else:
            unchanged += 1
    return to_create, to_update, unchanged


def _resolve_tiers(clean, tier_ids: dict[str, int]) -> None:
    for _row, fields in clean.values():
        code = fields.get("exclusive_tier_id")
        if isinstance(code, str):
            fields["exclusive_tier_id"] = tier_ids.get(code, -1)  # -1: a tier the write will create


def _write_catalog(to_create, to_update) -> dict[str, Item]:
    created = Item.objects.bulk_create([Item(**f) for f in to_create], batch_size=2000)
    by_field: dict[tuple[str, ...], list[Item]] = {}
    for item, changed in to_update:
        by_field.setdefault(tuple(sorted(changed)), []).append(item)
    now = timezone.now()  # bulk_update does not apply auto_now
    for fields, items in by_field.items():
        for item in items:
            item.updated_at = now
        Item.objects.bulk_update(items, [*fields, "updated_at"], batch_size=500)
    return {i.external_id: i for i in created}


def import_catalog_file(path, *, mapping: dict[str, str] | None = None, dry_run: bool = False,
                        format: str | None = None) -> ImportReport:
    """Validate and upsert items from a CSV or parquet file; see :data:`CATALOG_COLUMNS`.

    ``path`` is a filesystem path or a file object (an upload). ``mapping`` maps our column
    names to the file's, e.g. ``{"id": "SKU", "title": "Name"}``.
    """
    started = time.monotonic()
    report = ImportReport(dry_run=dry_run)
    _import_catalog(path, mapping=mapping, dry_run=dry_run, fmt=format, report=report, photos=None)
    report.seconds = time.monotonic() - started
    return report


def _import_catalog(path, *, mapping, dry_run, fmt, report: ImportReport, photos) -> None:
    table = _read_table(path, columns=CATALOG_COLUMNS, required=CATALOG_REQUIRED, mapping=mapping,
                        report=report, fmt=fmt)
    if table is None:
        return
    try:
        clean = _validate_catalog(table, report)
    except _TooManyErrors:
        report.notes.append(f"stopped after {MAX_ERRORS} errors")
        return
    photo_plan: list[tuple[str, list[ValidatedImage]]] = []
    if photos is not None:
        photo_plan = photos(set(clean), report)
    if not report.ok:
        return
    _report_rows_without_photo(clean, photo_plan, report)
    if dry_run:
        _resolve_tiers(clean, dict(MembershipTier.objects.values_list("code", "id")))
        to_create, to_update, unchanged = _plan_catalog(clean)
        report.add("items", created=len(to_create), updated=len(to_update), unchanged=unchanged)
        if photos is not None:
            _plan_photos(photo_plan, report)
        return
    with photo_files_rollback_guard(), transaction.atomic():
        _resolve_tiers(clean, {code: tier.pk for code, tier in tiers_ensure().items()})
        to_create, to_update, unchanged = _plan_catalog(clean)
        report.add("items", created=len(to_create), updated=len(to_update), unchanged=unchanged)
        created = _write_catalog(to_create, to_update)
        to_embed = {i.pk: i for i in created.values()}
        to_embed.update((item.pk, item) for item, changed in to_update if set(changed) & EMBEDDING_INPUT_FIELDS)
        if photos is not None:
            to_embed.update((i.pk, i) for i in _write_photos(photo_plan, report))
        if to_embed:
            # One job on the embedding queue for every new item, new photo and changed text.
            job = items_embedding_start(sorted(to_embed.values(), key=lambda i: i.pk))
            report.embedding_job_id = job.pk
            report.notes.append(f"embedding {len(to_embed)} item(s) in job #{job.pk}")


def _report_rows_without_photo(clean: dict[str, tuple[int, dict[str, Any]]], photo_plan, report: ImportReport) -> None:
    """Rows whose item will have no photo: none in the ZIP and none stored from before."""
    in_zip = {ext for ext, photos in photo_plan if photos}
    candidates = [ext for ext in clean if ext not in in_zip]
    stored = set(
        ItemImage.objects.filter(item__external_id__in=candidates).values_list("item__external_id", flat=True).distinct()
    )
    report.without_photo = sorted((clean[ext][0], ext) for ext in candidates if ext not in stored)


def _plan_photos(plan, report: ImportReport) -> None:
    existing = set(
        ItemImage.objects.filter(item__external_id__in=[ext for ext, _ in plan]).values_list(
            "item__external_id", "content_hash"
        )
    )
    new = sum(1 for ext, photos in plan for p in photos if (ext, p.content_hash) not in existing)
    report.add("photos", created=new, unchanged=sum(len(p) for _, p in plan) - new)


# --- catalog + ZIP of photos -------------------------------------------------------------------


def _zip_member_item_id(member: str) -> str | None:
    """``<id>.jpg`` or ``<id>/<anything>.png`` -> id; anything else -> None."""
    parts = PurePosixPath(member).parts
    if len(parts) == 1:
        return PurePosixPath(parts[0]).stem
    if len(parts) == 2:
        return parts[0]
    return None


def _read_zip_photos(zip_source, known_ids: set[str], report: ImportReport) -> list[tuple[str, list[ValidatedImage]]]:
    zip_name = _display_name(zip_source)
    try:
        fileobj = open(zip_source, "rb") if isinstance(zip_source, (str, Path)) else zip_source
    except OSError as exc:
        report.error(zip_name, None, "photos", f"cannot read file: {exc}")
        return []
    try:
        if hasattr(fileobj, "seek"):
            fileobj.seek(0)
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        report.error(zip_name, None, "photos", f"not a ZIP archive ({exc})")
        return []
    plan: dict[str, list[ValidatedImage]] = {}
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ZIP_MEMBERS:
            report.error(zip_name, None, "photos", f"archive has {len(infos)} entries, more than {MAX_ZIP_MEMBERS}")
            return []
        if sum(i.file_size for i in infos) > MAX_ZIP_TOTAL_BYTES:
            report.error(zip_name, None, "photos", "archive unpacks to more than 1 GB")
            return []
        for info in infos:
            member = info.filename
            where = f"{zip_name}:{member}"
            if info.is_dir() or member.startswith("__MACOSX/") or PurePosixPath(member).name.startswith("."):
                continue  # folders and macOS metadata (._x, .DS_Store) are not photos
            path = PurePosixPath(member.replace("\\", "/"))
            if member.startswith(("/", "\\")) or ".." in path.parts or ":" in path.parts[0] or "\\" in member:
                report.error(where, None, "photos", "unsafe path in archive (absolute or '..'); refused")
                continue
            if member.lower().endswith(ARCHIVE_SUFFIXES):
                report.error(where, None, "photos", "nested archives are not accepted; put the photos in one ZIP")
                continue
            if info.file_size > MAX_PHOTO_BYTES:
                report.error(where, None, "photos",
                             f"photo is {info.file_size / 1e6:.0f} MB, more than {MAX_PHOTO_BYTES // (1024 * 1024)} MB")
                continue
            item_id = _zip_member_item_id(str(path))
            if item_id is None:
                report.error(where, None, "photos", "name photos <id>.jpg or <id>/<anything>.jpg")
                continue
            if item_id not in known_ids and not Item.objects.filter(external_id=item_id).exists():
                report.error(where, None, "photos", f"unknown item id '{item_id}' (not in the CSV or the catalog)")
                continue
            try:
                with archive.open(info) as fh:
                    data = fh.read(MAX_PHOTO_BYTES + 1)
            except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as exc:
                report.error(where, None, "photos", f"cannot extract ({exc})")
                continue
            if data[:4] == b"PK\x03\x04":
                report.error(where, None, "photos", "nested archives are not accepted; put the photos in one ZIP")
                continue
            try:
                validated = image_validate(data, name=member)
            except ImageRejected as exc:
                report.error(where, None, "photos", exc.reason)
                continue
            photos = plan.setdefault(item_id, [])
            if all(p.content_hash != validated.content_hash for p in photos):
                photos.append(validated)
    return sorted(plan.items())


def _write_photos(plan: list[tuple[str, list[ValidatedImage]]], report: ImportReport) -> list[Item]:
    """Store the new photos; returns the items that got one."""
    items = {i.external_id: i for i in Item.objects.filter(external_id__in=[ext for ext, _ in plan])}
    existing = set(ItemImage.objects.filter(item__in=items.values()).values_list("item_id", "content_hash"))
    created = unchanged = 0
    changed: dict[int, Item] = {}
    for ext, photos in plan:
        item = items[ext]
        for photo in photos:
            if (item.pk, photo.content_hash) in existing:
                unchanged += 1
                continue
            item_image_add(item, validated=photo)
            changed[item.pk] = item
            created += 1
    report.add("photos", created=created, unchanged=unchanged)
    return list(changed.values())


def import_catalog_with_photos(csv_file, zip_file_or_none, *, dry_run: bool = False,
                               mapping: dict[str, str] | None = None) -> ImportReport:
    """The dashboard's bulk import: a catalog CSV plus an optional ZIP of photos named by item id.

    All or nothing: any bad row or photo means no item and no photo file is written.
    """
    started = time.monotonic()
    report = ImportReport(dry_run=dry_run)
    photos = None
    if zip_file_or_none is not None:
        def photos(known_ids, rep):
            return _read_zip_photos(zip_file_or_none, known_ids, rep)
    _import_catalog(csv_file, mapping=mapping, dry_run=dry_run, fmt=None, report=report, photos=photos)
    report.seconds = time.monotonic() - started
    return report


# --- events ---------------------------------------------------------------------------------


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
    table = _read_table(path, columns=EVENT_COLUMNS, required=EVENT_REQUIRED, mapping=mapping, report=report,
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
