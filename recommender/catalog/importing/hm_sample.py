"""Import the H&M sample (articles, one week of purchases, photos) into the catalog.

Fast and idempotent: every phase loads the ids already in the database into sets first,
inserts only what is missing with ``bulk_create`` in batches, updates only rows whose
values differ, and runs in one transaction (a failure leaves that phase untouched). A
second run reports ``0 created`` and everything ``unchanged``.

Mapping decisions are documented in docs/import.md.
"""
from __future__ import annotations

import functools
import hashlib
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from datetime import time as dtime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from recommender.catalog.images import ImageRejected, image_validate
from recommender.catalog.services import (
    customer_tier_code_for,
    is_jewelry_type,
    item_exclusive_tier_code_for,
    item_image_add,
    photo_files_rollback_guard,
    product_type_normalise,
    tiers_ensure,
)
from recommender.events.rollup import event_daily_counts_refresh
from recommender.models import Customer, Event, Item, ItemImage
from recommender.serving.customers import customer_contexts_invalidate_all

from .bulk import insert_rows
from .report import ImportReport

Progress = Callable[[float, str], None]

BATCH_SIZE = 5000
CHANNELS = {1: "store", 2: "online"}
EVENT_ID_PREFIX = "hm:"
CENT = Decimal("0.01")

ARTICLE_COLUMNS = {
    # parquet column -> Item field
    "prod_name": "title",
    "detail_desc": "description",
    "product_type_name": "product_type",
    "product_group_name": "product_group",
    "colour_group_name": "colour",
    "perceived_colour_value_name": "colour_value",
    "perceived_colour_master_name": "colour_master",
    "graphical_appearance_name": "appearance",
    "department_name": "department",
    "section_name": "section",
    "index_group_name": "index_group",
    "garment_group_name": "garment_group",
}
COMPARED_FIELDS = (
    *ARTICLE_COLUMNS.values(),
    "is_jewelry",
    "material",
    "style_tags",
    "price",
    "currency",
    "exclusive_tier_id",
)

# First match wins, so the most specific material comes first.
_MATERIALS = (
    ("sterling silver", "sterling silver"),
    ("gold-plated", "gold-plated"),
    ("gold plated", "gold-plated"),
    ("silver-plated", "silver-plated"),
    ("silver plated", "silver-plated"),
    ("stainless steel", "stainless steel"),
    ("brass", "brass"),
    ("metal", "metal"),
    ("pearl", "pearl"),
    ("glass", "glass"),
    ("wood", "wood"),
    ("leather", "leather"),
    ("plastic", "plastic"),
)
_AUDIENCES = (("women", "womens"), ("ladies", "womens"), ("men", "mens"), ("kids", "kids"), ("divided", "divided"))


def material_from_text(text: str) -> str:
    lower = (text or "").lower()
    for needle, material in _MATERIALS:
        if needle in lower:
            return material
    return ""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@functools.lru_cache(maxsize=4096)
def _style_tags_cached(appearance: str, section: str) -> tuple[str, ...]:
    return tuple(style_tags_for(appearance, section))


def style_tags_for(appearance: str, section: str) -> list[str]:
    """A few tags a merchandiser can target: the appearance words and the audience of the section."""
    tags: list[str] = []
    for part in (appearance or "").split("/"):
        slug = _slug(part)
        if slug and slug not in {"unknown", "solid"} and slug not in tags:
            tags.append(slug)
    lower = (section or "").lower()
    for needle, tag in _AUDIENCES:
        if re.search(rf"\b{needle}", lower):
            tags.append(tag)
            break
    return tags


def sample_dir(data_dir: str | Path | None = None) -> Path:
    """The ``hm-jewelry`` folder inside ``data_dir`` (default ``settings.JEWELREC_DATA_DIR``)."""
    base = Path(data_dir) if data_dir else Path(settings.JEWELREC_DATA_DIR)
    if (base / "articles.parquet").exists():
        return base
    return base / "hm-jewelry"


def sample_price_scale() -> Decimal:
    """``settings.JEWELREC_SAMPLE_PRICE_SCALE``: what one unit of the sample's normalised price is worth."""
    return Decimal(str(settings.JEWELREC_SAMPLE_PRICE_SCALE))


def sample_currency() -> str:
    return settings.JEWELREC_SAMPLE_CURRENCY


def sample_price(normalised: float, scale: Decimal | None = None) -> Decimal:
    """A price a person reads: the sample's normalised price times the scale, to the cent.

    With the default scale of 590 the week's prices land on retail endings (0.033881 -> 19.99,
    0.016932 -> 9.99), which is how the scale was chosen; see docs/import.md.
    """
    scale = sample_price_scale() if scale is None else scale
    return (Decimal(repr(float(normalised))) * scale).quantize(CENT, rounding=ROUND_HALF_UP)


def _median_price(prices: list[Decimal]) -> Decimal:
    ordered = sorted(prices)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return ((ordered[mid - 1] + ordered[mid]) / 2).quantize(CENT, rounding=ROUND_HALF_UP)


def sample_item_prices(article_ids, transaction_articles, transaction_prices, scale: Decimal | None = None) -> dict[str, Decimal]:
    """Each article's price from the week's purchases.

    The median of its own purchase prices; an article nobody bought that week takes the
    median over the purchases of the same product in other colours (the first 7 digits of
    the article id are H&M's product code, and colours of one product share a price).
    Articles of a product nobody bought stay without a price.
    """
    scale = sample_price_scale() if scale is None else scale
    by_article: dict[str, list[Decimal]] = {}
    cache: dict[float, Decimal] = {}
    for article_id, raw in zip(transaction_articles, transaction_prices, strict=True):
        price = cache.get(raw)
        if price is None:
            price = cache[raw] = sample_price(raw, scale)
        by_article.setdefault(article_id, []).append(price)
    by_product: dict[str, list[Decimal]] = {}
    for article_id, prices in by_article.items():
        by_product.setdefault(article_id[:7], []).extend(prices)
    out: dict[str, Decimal] = {}
    for article_id in article_ids:
        own = by_article.get(article_id)
        if own:
            out[article_id] = _median_price(own)
        elif len(article_id) == 10 and article_id[:7] in by_product:
            out[article_id] = _median_price(by_product[article_id[:7]])
    return out


def event_id_for(row_index: int, customer_id: str, article_id: str, day, price: float) -> str:
    """Deterministic id of a sample purchase. The row index keeps genuine repeat purchases apart."""
    key = f"{row_index}|{customer_id}|{article_id}|{day}|{price:.6f}"
    return EVENT_ID_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:40]


def _clean(value) -> str:
    return value.strip() if value else ""


def _batches(seq: list, size: int = BATCH_SIZE):
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def import_hm_sample(
    data_dir: str | Path | None = None,
    *,
    limit_articles: int | None = None,
    limit_transactions: int | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import articles -> Item, purchases -> Customer + Event, images -> ItemImage.

    ``limit_articles`` takes the first N articles of the file; purchases are then those of
    imported articles, and ``limit_transactions`` keeps the first N of them (file order).
    Raises ``FileNotFoundError`` naming the missing path.
    """
    import pandas as pd
    import pyarrow.parquet as pq

    started = time.monotonic()
    folder = sample_dir(data_dir)
    articles_path = folder / "articles.parquet"
    transactions_path = folder / "transactions.parquet"
    for path in (articles_path, transactions_path):
        if not path.exists():
            raise FileNotFoundError(f"H&M sample file not found: {path} (set JEWELREC_DATA_DIR or --data-dir)")
    report = ImportReport()
    say = progress or (lambda fraction, message: None)

    say(0.0, "reading parquet files")
    # Plain Python lists straight from Arrow: iterating pandas' Arrow-backed strings is ~10x slower.
    table = pq.read_table(articles_path, columns=["article_id", *ARTICLE_COLUMNS])
    if limit_articles is not None:
        table = table.slice(0, max(0, int(limit_articles)))
    articles = {name: table.column(name).to_pylist() for name in table.column_names}
    transactions = pd.read_parquet(transactions_path)
    # Over the whole week, whatever the limits, so a limited run gives the same prices.
    scale = sample_price_scale()
    median_by_article = sample_item_prices(
        articles["article_id"], transactions["article_id"].tolist(), transactions["price"].astype("float64").tolist(), scale
    )

    tiers = tiers_ensure()
    tier_ids = {code: t.pk for code, t in tiers.items()}

    _import_items(articles, median_by_article, tier_ids, report, say)
    item_ids = dict(Item.objects.values_list("external_id", "id").iterator(chunk_size=10_000))
    wanted = set(articles["article_id"])
    del articles, table
    _import_purchases(transactions, wanted, item_ids, tier_ids, limit_transactions, scale, report, say)
    customer_contexts_invalidate_all()  # customers and events were bulk-written
    say(0.9, "purchases: daily counts for the dashboards")
    event_daily_counts_refresh()  # so the first dashboard view does not count 236k events
    _import_photos(folder / "images", wanted, item_ids, report, say)

    report.seconds = time.monotonic() - started
    say(1.0, "done")
    return report


def _import_items(articles, median_by_article, tier_ids, report: ImportReport, say: Progress) -> None:
    say(0.02, f"items: preparing {len(articles['article_id'])} articles")
    desired: dict[str, dict] = {}
    currency = sample_currency()
    columns = [[_clean(v) for v in articles[c]] for c in ARTICLE_COLUMNS]
    names = list(ARTICLE_COLUMNS.values())
    for article_id, *values in zip(articles["article_id"], *columns, strict=True):
        row = dict(zip(names, values, strict=True))
        row["product_type"] = product_type_normalise(row["product_type"])
        jewelry = is_jewelry_type(row["product_type"])
        exclusive = item_exclusive_tier_code_for(article_id, is_jewelry=jewelry)
        row.update(
            is_jewelry=jewelry,
            material=material_from_text(row["description"]) if jewelry else "",
            style_tags=list(_style_tags_cached(row["appearance"], row["section"])),
            price=median_by_article.get(article_id),
            currency=currency,
            exclusive_tier_id=tier_ids[exclusive] if exclusive else None,
        )
        desired[article_id] = row

    existing: dict[str, tuple] = {}
    if Item.objects.exists():
        for values in Item.objects.values_list("external_id", "id", *COMPARED_FIELDS).iterator(chunk_size=10_000):
            if values[0] in desired:
                existing[values[0]] = values[1:]

    now = timezone.now()
    insert_columns = ["external_id", *COMPARED_FIELDS, "in_stock", "is_active", "created_at", "updated_at"]
    to_create: list[tuple] = []
    to_update: list[Item] = []
    # Rows whose only change is their price and currency (a new price scale or currency setting),
    # grouped by the new values: one UPDATE per value and id chunk instead of bulk_update's CASE,
    # which took minutes over the 105k-row sample on SQLite.
    repriced: dict[tuple, list[int]] = {}
    price_fields = {COMPARED_FIELDS.index("price"), COMPARED_FIELDS.index("currency")}
    unchanged = 0
    for article_id, row in desired.items():
        current = existing.get(article_id)
        if current is None:
            to_create.append((article_id, *(row[f] for f in COMPARED_FIELDS), True, True, now, now))
            continue
        pk, *values = current
        wanted = [row[f] for f in COMPARED_FIELDS]
        # Prices are Decimals on both sides, so plain equality is exact.
        if wanted == values:
            unchanged += 1
        elif all(wanted[i] == values[i] for i in range(len(wanted)) if i not in price_fields):
            repriced.setdefault((row["price"], row["currency"]), []).append(pk)
        else:
            # bulk_update does not apply auto_now, so the timestamp is set here.
            to_update.append(Item(pk=pk, external_id=article_id, updated_at=now, **row))

    n_repriced = sum(len(pks) for pks in repriced.values())
    total = max(1, len(to_create) + len(to_update) + n_repriced)
    done = 0
    with transaction.atomic():
        insert_rows(
            Item,
            insert_columns,
            to_create,
            batch_size=BATCH_SIZE,
            on_batch=lambda n: say(0.05 + 0.35 * n / total, f"items: {n}/{total} written"),
        )
        done = len(to_create)
        for batch in _batches(to_update):
            Item.objects.bulk_update(batch, [*COMPARED_FIELDS, "updated_at"], batch_size=500)
            done += len(batch)
            say(0.05 + 0.35 * done / total, f"items: {done}/{total} written")
        for (price, currency), pks in repriced.items():
            for batch in _batches(pks, 900):
                Item.objects.filter(pk__in=batch).update(price=price, currency=currency, updated_at=now)
        done += n_repriced
        say(0.05 + 0.35 * done / total, f"items: {done}/{total} written")
    report.add("items", created=len(to_create), updated=len(to_update) + n_repriced, unchanged=unchanged)


def _import_purchases(transactions, wanted, item_ids, tier_ids, limit, scale: Decimal, report: ImportReport,
                      say: Progress) -> None:
    say(0.4, "purchases: selecting")
    mask = transactions["article_id"].isin(wanted)
    purchases = transactions[mask]
    missing_items = int((~purchases["article_id"].isin(item_ids.keys())).sum())
    if missing_items:
        purchases = purchases[purchases["article_id"].isin(item_ids.keys())]
        report.add("events", skipped=missing_items)
    if limit is not None:
        purchases = purchases.iloc[: max(0, int(limit))]

    rows = list(
        zip(
            purchases.index.tolist(),
            purchases["customer_id"].tolist(),
            purchases["article_id"].tolist(),
            purchases["t_dat"].tolist(),
            purchases["price"].astype("float64").tolist(),
            purchases["sales_channel_id"].tolist(),
            strict=True,
        )
    )

    customers = dict(Customer.objects.values_list("external_id", "id").iterator(chunk_size=10_000))
    new_customers = sorted({r[1] for r in rows} - customers.keys())
    seen_customers = len({r[1] for r in rows})
    # id -> (pk, price): a re-run after a change of the price scale rewrites the stored prices.
    existing_events: dict[str, tuple[int, Decimal | None]] = {
        client_id: (pk, price)
        for client_id, pk, price in Event.objects.filter(client_event_id__startswith=EVENT_ID_PREFIX)
        .values_list("client_event_id", "id", "price")
        .iterator(chunk_size=20_000)
    }

    say(0.45, f"purchases: {len(rows)} rows, {len(new_customers)} new customers")
    with transaction.atomic():
        now = timezone.now()
        insert_rows(
            Customer,
            ["external_id", "tier_id", "created_at"],
            ((c, tier_ids[customer_tier_code_for(c)], now) for c in new_customers),
            batch_size=BATCH_SIZE,
        )
        if new_customers:
            customers = dict(Customer.objects.values_list("external_id", "id").iterator(chunk_size=10_000))

        new_events: list[tuple] = []
        repriced: dict[Decimal, list[int]] = {}
        unchanged = 0
        day_cache: dict = {}
        price_cache: dict[float, Decimal] = {}
        purchase = Event.Type.PURCHASE.value
        for index, customer_id, article_id, day, price, channel in rows:
            # The id keeps the sample's own normalised price, so it never changes with the scale.
            client_id = event_id_for(index, customer_id, article_id, day, price)
            amount = price_cache.get(price)
            if amount is None:
                amount = price_cache[price] = sample_price(price, scale)
            current = existing_events.get(client_id)
            if current is not None:
                if current[1] == amount:
                    unchanged += 1
                else:
                    repriced.setdefault(amount, []).append(current[0])
                continue
            existing_events[client_id] = (0, amount)
            ts = day_cache.get(day)
            if ts is None:
                ts = day_cache[day] = datetime.combine(_as_date(day), dtime(12, 0), tzinfo=UTC)
            new_events.append(
                (
                    customers[customer_id],
                    item_ids[article_id],
                    purchase,
                    ts,
                    amount,
                    CHANNELS.get(int(channel), ""),
                    client_id,
                    now,
                )
            )
        total = max(1, len(new_events))
        insert_rows(
            Event,
            ["customer_id", "item_id", "event_type", "timestamp", "price", "channel", "client_event_id", "created_at"],
            new_events,
            batch_size=BATCH_SIZE,
            on_batch=lambda n: say(0.5 + 0.4 * n / total, f"purchases: {n}/{total} written"),
        )
        # One UPDATE per price and id chunk: bulk_update's CASE over 236k rows took minutes on SQLite.
        for amount, pks in repriced.items():
            for batch in _batches(pks, 900):
                Event.objects.filter(pk__in=batch).update(price=amount)
    report.add("customers", created=len(new_customers), unchanged=seen_customers - len(new_customers))
    report.add("events", created=len(new_events), updated=sum(len(p) for p in repriced.values()), unchanged=unchanged)


def _as_date(day):
    if isinstance(day, datetime):
        return day.date()
    if isinstance(day, str):
        return datetime.strptime(day[:10], "%Y-%m-%d").date()
    return day


def _import_photos(images_dir: Path, wanted, item_ids, report: ImportReport, say: Progress) -> None:
    if not images_dir.is_dir():
        report.notes.append(f"no photo folder at {images_dir}; photos skipped")
        return
    files = sorted(p for p in images_dir.iterdir() if p.is_file() and p.stem in wanted and p.stem in item_ids)
    existing = set(ItemImage.objects.values_list("item_id", "content_hash"))
    created = unchanged = skipped = 0
    with photo_files_rollback_guard(), transaction.atomic():
        items_by_pk = {}
        for n, path in enumerate(files, start=1):
            data = path.read_bytes()
            item_pk = item_ids[path.stem]
            if (item_pk, hashlib.sha256(data).hexdigest()) in existing:
                unchanged += 1
                continue
            try:
                validated = image_validate(data, name=path.name)
            except ImageRejected as exc:
                skipped += 1
                report.notes.append(f"photo skipped: {exc}")
                continue
            item = items_by_pk.get(item_pk)
            if item is None:
                item = items_by_pk[item_pk] = Item.objects.get(pk=item_pk)
            item_image_add(item, validated=validated)
            created += 1
            if n % 25 == 0:
                say(0.9 + 0.1 * n / len(files), f"photos: {n}/{len(files)}")
    report.add("photos", created=created, unchanged=unchanged, skipped=skipped)
