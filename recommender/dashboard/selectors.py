"""Aggregates for the dashboards: small, bounded results computed in the database.

Each selector returns plain Python data (lists/dicts) for ``figures``; none returns raw
event rows. Results are cached for ``CACHE_SECONDS`` because the aggregates scan the
events table, and a dashboard a couple of minutes old is fine for merchandising.
"""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any, TypeVar

import numpy as np
from django.core.cache import cache
from django.db import connection
from django.db.models import CharField, Count, Exists, Max, OuterRef, Prefetch, Q, Sum
from django.db.models.functions import Cast, Substr, TruncHour

from recommender.events.rollup import JEWELRY_GROUP, event_daily_counts_refresh
from recommender.models import ApiRequestLog, Event, EventDailyCount, Item, ItemImage, ItemVector, Job, ModelVersion
from recommender.serving.catalog import catalog_fingerprint

CACHE_SECONDS = 120
MAX_CACHE_SECONDS = 24 * 3600
CACHE_PREFIX = "dashboard:v1:"
MAX_MAP_ITEMS = 3000
TOP_GROUPS = 6

T = TypeVar("T")


def dashboard_cached(
    key: str, compute: Callable[[], T], seconds: int = CACHE_SECONDS, fingerprint: Callable[[], Any] | None = None
) -> T:
    """Cache an aggregate. After ``seconds`` it is recomputed only if ``fingerprint()`` changed.

    The fingerprint is a cheap query (the newest row id): imported history that does not
    change is computed once, live traffic at most every ``seconds``.
    """
    full_key = CACHE_PREFIX + key
    entry = cache.get(full_key)
    now = time.monotonic()
    if entry is not None:
        computed_at, stamp, value = entry
        if now - computed_at < seconds:
            return value
        if fingerprint is not None and fingerprint() == stamp:
            cache.set(full_key, (now, stamp, value), MAX_CACHE_SECONDS)
            return value
    stamp = fingerprint() if fingerprint is not None else None
    value = compute()
    cache.set(full_key, (now, stamp, value), MAX_CACHE_SECONDS)
    return value


def events_fingerprint() -> tuple:
    return (Event.objects.aggregate(m=Max("id"))["m"], Item.objects.aggregate(m=Max("id"))["m"])


def catalog_and_events_fingerprint() -> tuple:
    """The catalog's own fingerprint (items, vectors, photos: ``serving.catalog``) and the events'."""
    return (*events_fingerprint(), *catalog_fingerprint())


def vectors_fingerprint() -> tuple:
    return (
        ItemVector.objects.aggregate(m=Max("updated_at"))["m"],
        ItemImage.objects.aggregate(m=Max("id"))["m"],
        ItemImage.objects.count(),
    )


def _hour_expression(field: str):
    if connection.vendor == "sqlite":
        return Substr(Cast(field, CharField()), 1, 13)
    return TruncHour(field)


def _as_hour(value) -> str:
    if isinstance(value, str):
        return value[:10] + "T" + value[11:13] + ":00"
    return value.strftime("%Y-%m-%dT%H:00")


# --- event periods --------------------------------------------------------------------------

# A day counts as activity when it has at least this share of a typical (median) day's events:
# a few events posted today against an imported 2020 week must not make the dashboards open on
# today, and a median is not moved by one record day the way the maximum is.
ACTIVE_DAY_SHARE = 0.1
LATEST_PERIOD_DAYS = 7
PERIODS = {
    "latest": "latest week of activity",
    "7": "last 7 days of data",
    "30": "last 30 days of data",
    "90": "last 90 days of data",
    "all": "all",
}
DEFAULT_PERIOD = "latest"


@dataclass(frozen=True)
class EventPeriod:
    """A window of days (UTC, inclusive) and what lies outside it."""

    key: str
    start: date
    end: date
    newer_events: int  # events after ``end`` (stray recent ones when the data is older)

    @property
    def text(self) -> str:
        same_year = self.start.year == self.end.year
        first = f"{self.start:%b} {self.start.day}" + ("" if same_year else f", {self.start.year}")
        if self.start == self.end:
            return f"{first}, {self.end.year}"
        return f"{first} – {self.end:%b} {self.end.day}, {self.end.year}"

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": PERIODS[self.key], "start": self.start.isoformat(),
                "end": self.end.isoformat(), "text": self.text, "newer_events": self.newer_events}


def events_daily_totals() -> list[tuple[date, int]]:
    """Events per day over all types and groups, oldest first (from the rolled-up counts)."""
    event_daily_counts_refresh()
    return [(d, n) for d, n in EventDailyCount.objects.values_list("day").annotate(n=Sum("count")).order_by("day")
            .values_list("day", "n")]


def latest_active_day(daily: list[tuple[date, int]]) -> date | None:
    """The newest day with real activity (see ``ACTIVE_DAY_SHARE``)."""
    if not daily:
        return None
    counts = sorted(n for _, n in daily)
    threshold = max(1, ACTIVE_DAY_SHARE * counts[len(counts) // 2])
    return next(d for d, n in reversed(daily) if n >= threshold)


def events_period(key: str = DEFAULT_PERIOD) -> EventPeriod | None:
    """The window a period key stands for, anchored on the data's own dates, never on today."""
    if key not in PERIODS:
        key = DEFAULT_PERIOD
    daily = events_daily_totals()
    if not daily:
        return None
    first, last = daily[0][0], daily[-1][0]
    if key == "all":
        start, end = first, last
    elif key == "latest":
        end = latest_active_day(daily)
        start = end - timedelta(days=LATEST_PERIOD_DAYS - 1)
    else:
        end = last
        start = end - timedelta(days=int(key) - 1)
    newer = sum(n for d, n in daily if d > end)
    return EventPeriod(key, max(start, first), end, newer)


def events_daily_by_type(key: str = DEFAULT_PERIOD) -> dict[str, Any]:
    """``{"days": [...], "series": {event_type: [counts per day]}, "period": {...}}`` over the period."""
    period = events_period(key)
    if period is None:
        return {"days": [], "series": {}, "period": None}
    rows = (
        EventDailyCount.objects.filter(day__gte=period.start, day__lte=period.end)
        .values("day", "event_type").annotate(n=Sum("count")).order_by()
    )
    return {**_pivot((r["day"].isoformat(), r["event_type"], r["n"]) for r in rows), "period": period.as_dict()}


def events_daily_by_category(key: str = DEFAULT_PERIOD) -> dict[str, Any]:
    """Daily counts for jewelry and the largest other product groups (the rest is "Other")."""
    period = events_period(key)
    if period is None:
        return {"days": [], "series": {}, "period": None}
    rows = list(
        EventDailyCount.objects.filter(day__gte=period.start, day__lte=period.end)
        .values("day", "group").annotate(n=Sum("count")).order_by()
    )
    totals: dict[str, int] = defaultdict(int)
    for r in rows:
        if r["group"] != JEWELRY_GROUP:
            totals[r["group"] or "Unknown"] += r["n"]
    keep = set(sorted(totals, key=lambda g: -totals[g])[:TOP_GROUPS])

    def label(group: str) -> str:
        if group == JEWELRY_GROUP:
            return group
        group = group or "Unknown"
        return group if group in keep else "Other"

    return {**_pivot((r["day"].isoformat(), label(r["group"]), r["n"]) for r in rows), "period": period.as_dict()}


def _pivot(triples) -> dict[str, Any]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    days: set[str] = set()
    for day, key, n in triples:
        counts[key][day] += n
        days.add(day)
    ordered = sorted(days)
    series = {key: [by_day.get(d, 0) for d in ordered] for key, by_day in counts.items()}
    # Largest series first so stacked charts and legends read top-down.
    series = dict(sorted(series.items(), key=lambda kv: -sum(kv[1])))
    return {"days": ordered, "series": series}


def top_items(limit: int = 20, event_type: str = "purchase", period: str = "all", jewelry_only: bool = True) -> list[dict[str, Any]]:
    """Most frequent items for an event type over a period, with title, type and a thumbnail URL."""
    window = events_period(period)
    if window is None:
        return []
    qs = Event.objects.filter(event_type=event_type)
    if period != "all":
        start = datetime.combine(window.start, dtime.min, tzinfo=UTC)
        qs = qs.filter(timestamp__lt=datetime.combine(window.end + timedelta(days=1), dtime.min, tzinfo=UTC))
    else:
        start = None
    if jewelry_only:
        # IN (subquery) lets the database walk the (item, event_type) index per jewelry item
        # instead of joining every event to its item (100x faster on SQLite).
        qs = qs.filter(item_id__in=Item.objects.filter(is_jewelry=True).values("id"))
    if start is not None:
        qs = qs.filter(timestamp__gte=start)
    counted = list(qs.values("item_id").annotate(n=Count("id")).order_by("-n", "item_id")[:limit])
    if not counted:
        return []
    ids = [r["item_id"] for r in counted]
    items = {i.pk: i for i in Item.objects.filter(pk__in=ids).only("id", "external_id", "title", "product_type", "colour")}
    thumbs = first_image_urls(ids)
    out = []
    for r in counted:
        item = items.get(r["item_id"])
        if item is None:
            continue
        out.append(
            {
                "id": item.pk,
                "external_id": item.external_id,
                "title": item.title,
                "product_type": item.product_type,
                "colour": item.colour,
                "count": r["n"],
                "thumb": thumbs.get(item.pk, ""),
            }
        )
    return out


def first_image_urls(item_ids) -> dict[int, str]:
    """The URL of each item's first photo (lowest position), in one query."""
    urls: dict[int, str] = {}
    storage = ItemImage._meta.get_field("image").storage
    for item_id, name in ItemImage.objects.filter(item_id__in=list(item_ids)).order_by("item_id", "position", "id").values_list("item_id", "image"):
        if item_id not in urls and name:
            urls[item_id] = storage.url(name)
    return urls


def catalog_coverage() -> dict[str, Any]:
    """Share of active jewelry that was ever purchased, and that has a current/stale/failed vector."""
    active = Item.objects.filter(is_jewelry=True, is_active=True)
    total = active.count()
    purchased = (
        Event.objects.filter(
            event_type=Event.Type.PURCHASE, item_id__in=Item.objects.filter(is_jewelry=True, is_active=True).values("id")
        )
        .order_by()
        .values("item_id")
        .distinct()
        .count()
    )
    vectors = dict(
        ItemVector.objects.filter(item__is_jewelry=True, item__is_active=True)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    with_photo = (
        ItemImage.objects.filter(item__is_jewelry=True, item__is_active=True).order_by().values("item_id").distinct().count()
    )
    return {
        "active_jewelry": total,
        "purchased": purchased,
        "with_photo": with_photo,
        "embedded_current": vectors.get(ItemVector.Status.CURRENT, 0),
        "embedded_stale": vectors.get(ItemVector.Status.STALE, 0),
        "embedding_failed": vectors.get(ItemVector.Status.FAILED, 0),
    }


def model_metric_history(limit: int = 50) -> list[dict[str, Any]]:
    """Finished model versions, oldest first, with their metrics JSON."""
    rows = list(
        ModelVersion.objects.filter(status=ModelVersion.Status.READY)
        .order_by("-created_at", "-id")
        .values("name", "created_at", "metrics", "is_active")[:limit]
    )
    rows.reverse()
    return [
        {
            "name": r["name"],
            "created_at": r["created_at"].isoformat(),
            "metrics": r["metrics"] if isinstance(r["metrics"], dict) else {},
            "is_active": r["is_active"],
        }
        for r in rows
    ]


def api_traffic_hourly(days: int = 7) -> dict[str, Any]:
    """Requests, errors and mean latency per hour and scenario over the last ``days`` days of traffic."""
    last = ApiRequestLog.objects.aggregate(last=Max("minute"))["last"]
    if last is None:
        return {"hours": [], "requests": {}, "latency": {}, "errors": {}}
    start = last - timedelta(days=days)
    rows = (
        ApiRequestLog.objects.filter(minute__gt=start)
        .annotate(hour=_hour_expression("minute"))
        .values("hour", "scenario")
        .annotate(requests=Sum("requests"), errors=Sum("errors"), latency=Sum("total_latency_ms"))
    )
    by: dict[str, dict[str, tuple[int, int, float]]] = defaultdict(dict)
    hours: set[str] = set()
    for r in rows:
        hour = _as_hour(r["hour"])
        hours.add(hour)
        by[r["scenario"]][hour] = (r["requests"] or 0, r["errors"] or 0, r["latency"] or 0.0)
    ordered = sorted(hours)
    requests = {s: [v.get(h, (0, 0, 0))[0] for h in ordered] for s, v in by.items()}
    errors = {s: [v.get(h, (0, 0, 0))[1] for h in ordered] for s, v in by.items()}
    latency = {
        s: [round(v[h][2] / v[h][0], 2) if h in v and v[h][0] else None for h in ordered] for s, v in by.items()
    }
    return {"hours": ordered, "requests": requests, "errors": errors, "latency": latency}


def api_latency_by_scenario(days: int = 7) -> list[dict[str, Any]]:
    last = ApiRequestLog.objects.aggregate(last=Max("minute"))["last"]
    if last is None:
        return []
    rows = (
        ApiRequestLog.objects.filter(minute__gt=last - timedelta(days=days))
        .values("scenario")
        .annotate(requests=Sum("requests"), errors=Sum("errors"), latency=Sum("total_latency_ms"), max_latency=Max("max_latency_ms"))
        .order_by("-requests")
    )
    return [
        {
            "scenario": r["scenario"],
            "requests": r["requests"] or 0,
            "errors": r["errors"] or 0,
            "mean_latency_ms": round((r["latency"] or 0) / r["requests"], 2) if r["requests"] else None,
            "max_latency_ms": r["max_latency"],
        }
        for r in rows
    ]


def item_vector_map(limit: int = MAX_MAP_ITEMS) -> dict[str, Any]:
    """2-D PCA projection of jewelry item vectors (numpy SVD), with hover metadata.

    Only vectors of the most common dimension are used, so a half-finished re-embedding with
    a new size cannot break the projection.
    """
    rows = list(
        ItemVector.objects.filter(item__is_jewelry=True, vector__isnull=False, dim__gt=0)
        .exclude(status=ItemVector.Status.MISSING)
        .order_by("item_id")
        .values_list("item_id", "dim", "vector", "item__external_id", "item__title", "item__product_type")[:limit]
    )
    if len(rows) < 3:
        return {"points": [], "explained": [], "n": len(rows)}
    dims = defaultdict(int)
    for r in rows:
        dims[r[1]] += 1
    dim = max(dims, key=lambda d: dims[d])
    rows = [r for r in rows if r[1] == dim and r[2] is not None and len(r[2]) == 4 * dim]
    if len(rows) < 3:
        return {"points": [], "explained": [], "n": len(rows)}
    matrix = np.frombuffer(b"".join(bytes(r[2]) for r in rows), dtype="<f4").reshape(len(rows), dim).astype(np.float64)
    finite = np.isfinite(matrix).all(axis=1)
    rows = [r for r, ok in zip(rows, finite) if ok]
    matrix = matrix[finite]
    coords, explained = pca_2d(matrix)
    thumbs = first_image_urls([r[0] for r in rows])
    points = [
        {
            "id": r[0],
            "external_id": r[3],
            "title": r[4],
            "product_type": r[5],
            "x": round(float(xy[0]), 5),
            "y": round(float(xy[1]), 5),
            "thumb": thumbs.get(r[0], ""),
        }
        for r, xy in zip(rows, coords)
    ]
    return {"points": points, "explained": explained, "n": len(points)}


def pca_2d(matrix: np.ndarray, *, oversample: int = 8, iterations: int = 4, seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """Project rows onto the top two principal components; also their explained-variance ratios.

    A randomized SVD (Halko et al.): a few products with a thin random basis, then numpy's
    SVD of a ``rows x 10`` matrix. A full SVD of 3,000 x 512 takes seconds on a busy 2-core
    server; this takes milliseconds and matches it on the top components.
    """
    centered = matrix - matrix.mean(axis=0, keepdims=True)
    n, d = centered.shape
    k = min(2 + oversample, n, d)
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(centered.T @ (centered @ rng.standard_normal((d, k))))[0]
    for _ in range(iterations):
        basis = np.linalg.qr(centered.T @ (centered @ basis))[0]
    _, s, vt_small = np.linalg.svd(centered @ basis, full_matrices=False)
    components = (basis @ vt_small.T).T[:2]  # (2, d)
    # A deterministic sign: the largest-magnitude loading of each component is positive.
    signs = np.sign(components[np.arange(len(components)), np.abs(components).argmax(axis=1)])
    signs[signs == 0] = 1
    components = components * signs[:, None]
    coords = centered @ components.T
    total = float((centered**2).sum()) or 1.0
    explained = [round(float(v**2 / total), 4) for v in s[:2]]
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
        explained += [0.0] * (2 - len(explained))
    return coords, explained


# --- catalog pages -------------------------------------------------------------------------

CATALOG_PER_PAGE = 50


class CheapPage:
    """A page that knows whether a next page exists without counting the whole result.

    ``COUNT(*)`` over a filtered 100k-row catalog costs more than the page itself on SQLite,
    so the list fetches one row more than it shows instead.
    """

    def __init__(self, rows: list, number: int, per_page: int, total: int | None = None) -> None:
        self.number = number
        self.total = total
        self.has_next = len(rows) > per_page
        self.object_list = rows[:per_page]
        self.has_previous = number > 1
        self.start_index = (number - 1) * per_page + 1 if self.object_list else 0
        self.end_index = (number - 1) * per_page + len(self.object_list)

    def has_other_pages(self) -> bool:
        return self.has_next or self.has_previous

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1


def catalog_filter_options(scope: str) -> dict[str, list[str]]:
    """Distinct product types and colours for the filter menus (cached; they change rarely)."""

    def compute() -> dict[str, list[str]]:
        qs = Item.objects.all()
        if scope == "jewelry":
            qs = qs.filter(is_jewelry=True)
        # order_by() drops Item's default ordering, which DISTINCT would otherwise include.
        types = sorted(t for t in qs.order_by().values_list("product_type", flat=True).distinct() if t)
        colours = sorted(c for c in qs.order_by().values_list("colour", flat=True).distinct() if c)
        return {"product_types": types, "colours": colours}

    return dashboard_cached(f"catalog_options:{scope}", compute, seconds=600)


def catalog_items_query(
    *,
    q: str = "",
    scope: str = "jewelry",
    product_type: str = "",
    colour: str = "",
    price_min=None,
    price_max=None,
    tier: str = "",
    embedding: str = "",
    photo: str = "",
):
    """The filtered catalog list, with the tier, vector status and photos each row shows."""
    qs = catalog_items_filtered(q=q, scope=scope, product_type=product_type, colour=colour, price_min=price_min,
                                price_max=price_max, tier=tier, embedding=embedding, photo=photo)
    return (
        qs.select_related("exclusive_tier", "vector")
        .defer("description", "vector__vector", "vector__failure_reason")
        .prefetch_related(Prefetch("images", queryset=ItemImage.objects.order_by("position", "id")))
        .order_by("external_id")
    )


def catalog_items_filtered(
    *,
    q: str = "",
    scope: str = "jewelry",
    product_type: str = "",
    colour: str = "",
    price_min=None,
    price_max=None,
    tier: str = "",
    embedding: str = "",
    photo: str = "",
):
    """The catalog rows the filters select, unordered and without the display joins (for counting)."""
    qs = Item.objects.all()
    if scope != "all":
        qs = qs.filter(is_jewelry=True)
    q = (q or "").strip()
    if q:
        qs = qs.filter(Q(external_id__startswith=q) | Q(title__icontains=q))
    if product_type:
        qs = qs.filter(product_type=product_type)
    if colour:
        qs = qs.filter(colour=colour)
    if price_min is not None:
        qs = qs.filter(price__gte=price_min)
    if price_max is not None:
        qs = qs.filter(price__lte=price_max)
    if tier == "public":
        qs = qs.filter(exclusive_tier__isnull=True)
    elif tier:
        qs = qs.filter(exclusive_tier__code=tier)
    if embedding == ItemVector.Status.MISSING:
        qs = qs.filter(Q(vector__isnull=True) | Q(vector__status=ItemVector.Status.MISSING))
    elif embedding in ItemVector.Status.values:
        qs = qs.filter(vector__status=embedding)
    if photo in ("with", "without"):
        has_photo = Exists(ItemImage.objects.filter(item_id=OuterRef("pk")))
        qs = qs.filter(has_photo if photo == "with" else ~has_photo)
    return qs.order_by()


def catalog_items_page(page: int = 1, per_page: int = CATALOG_PER_PAGE, **filters) -> CheapPage:
    """One page of the filtered catalog and the total it is a page of.

    The total is a COUNT over the filtered ids without the display joins: a few milliseconds
    on the 105k-row sample, where the page itself pays for photos and vectors.
    """
    page = max(1, int(page))
    offset = (page - 1) * per_page
    rows = list(catalog_items_query(**filters)[offset : offset + per_page + 1])
    return CheapPage(rows, page, per_page, total=catalog_items_filtered(**filters).count())


def item_detail(item_id: int) -> Item | None:
    return (
        Item.objects.select_related("exclusive_tier", "vector")
        .defer("vector__vector")
        .prefetch_related(Prefetch("images", queryset=ItemImage.objects.order_by("position", "id")))
        .filter(pk=item_id)
        .first()
    )


def item_embedding_job(item_id: int) -> Job | None:
    """The newest one-item embedding job of this item (queued by a create, an edit or a photo)."""
    return Job.objects.filter(kind=Job.Kind.EMBED_ITEM, params__item_pk=item_id).defer("log", "result").first()


def item_event_counts(item_id: int) -> dict[str, int]:
    return dict(Event.objects.filter(item_id=item_id).values_list("event_type").annotate(n=Count("id")).values_list("event_type", "n"))


# --- rules ------------------------------------------------------------------------------------


def rule_value_choices() -> dict[str, list[str]]:
    """What a rule can target, for the rule form's pickers: jewelry types, colours and style tags."""

    def compute() -> dict[str, list[str]]:
        jewelry = Item.objects.filter(is_jewelry=True, is_active=True).order_by()
        types = sorted(t for t in jewelry.values_list("product_type", flat=True).distinct() if t)
        colours = sorted(c for c in jewelry.values_list("colour", flat=True).distinct() if c)
        tags: set[str] = set()
        for row in jewelry.values_list("style_tags", flat=True).distinct():
            tags.update(t for t in row or [] if t)
        return {"type": types, "colour": colours, "tag": sorted(tags)}

    return dashboard_cached("rule_value_choices", compute, seconds=600, fingerprint=catalog_and_events_fingerprint)
