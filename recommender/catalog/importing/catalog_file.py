"""Import a retailer's own catalog (CSV or parquet, optionally with a ZIP of photos), all or nothing.

Every row is validated first; if any row is bad nothing is written and the report lists
each bad row (file, spreadsheet row number, column, reason). ``dry_run`` stops after
validation and reports what would be created/updated. Column names and the mapping are
documented in docs/import.md.

Text is stored as given: a cell such as ``=HYPERLINK(...)`` is kept as text and never
evaluated. Spreadsheet programs may evaluate such text when our data is exported back
to them; exports should escape it.
"""
from __future__ import annotations

import time
import zipfile
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
    parse_price,
    photo_files_rollback_guard,
    product_type_normalise,
    tiers_ensure,
    validate_external_id,
)
from recommender.embeddings.services import items_embedding_start
from recommender.models import Item, ItemImage, MembershipTier

from .report import ImportReport
from .tables import MAX_ERRORS, Table, TooManyErrors, display_name, read_table

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

_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}
ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".jar")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif")
MAX_ZIP_MEMBERS = 5000
MAX_ZIP_TOTAL_BYTES = 1024 * 1024 * 1024


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


def _validate_catalog(table: Table, report: ImportReport) -> dict[str, tuple[int, dict[str, Any]]]:
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
                raise TooManyErrors from None
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
    table = read_table(path, columns=CATALOG_COLUMNS, required=CATALOG_REQUIRED, mapping=mapping,
                        report=report, fmt=fmt)
    if table is None:
        return
    try:
        clean = _validate_catalog(table, report)
    except TooManyErrors:
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
    zip_name = display_name(zip_source)
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
