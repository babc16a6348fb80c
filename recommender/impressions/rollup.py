"""Live metrics, pre-aggregated: impressions and attributed events per day, scenario, version and arm.

Impressions and attributions are only ever added (retention deletes raw rows long after they
were counted), so each refresh groups only the rows newer than the last ones counted (by id,
like ``events.rollup``) and adds them to ``ImpressionDailyMetric``. The dashboard and the
experiment page read that table: a few rows per day, at any number of impressions.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from recommender.events.rollup import day_expression
from recommender.models import Attribution, Impression, ImpressionDailyMetric, ImpressionRollupState

Key = tuple[date, str, str, int, str]
# (event type, first of its type) -> the counter it adds to
_EVENT_FIELDS = {"view": "views", "add_to_cart": "carts", "purchase": "purchases"}
_FIRST_FIELDS = {"view": "clicked", "add_to_cart": "carted", "purchase": "converted"}
COUNTERS = ("impressions", "clicked", "carted", "converted", "views", "carts", "purchases")


def _as_date(value) -> date:
    return date.fromisoformat(value[:10]) if isinstance(value, str) else value


def _settled(model, time_field: str, settle: float) -> int:
    """The newest id safe to count: below the first row of the last ``settle`` seconds.

    On PostgreSQL ids are handed out before commit, so a row with a smaller id can still be
    committing when a larger one is visible; counting up to the larger would skip it forever.
    Rows a few seconds old are committed (writes here are single short transactions)."""
    newest = model.objects.aggregate(m=Max("id"))["m"] or 0
    if settle > 0:
        cut = timezone.now() - timedelta(seconds=settle)
        recent = model.objects.filter(**{f"{time_field}__gte": cut}).aggregate(m=Min("id"))["m"]
        if recent is not None:
            newest = min(newest, recent - 1)
    return newest


def impression_metrics_refresh(*, settle_seconds: float | None = None) -> dict[str, int]:
    """Add the impressions and attributions not counted yet; returns how many of each.
    Under a lock on the state row, so two refreshes never count a row twice. Rows of the last
    ``JEWELREC_ROLLUP_SETTLE_SECONDS`` wait for the next refresh (see ``_settled``)."""
    settle = settings.JEWELREC_ROLLUP_SETTLE_SECONDS if settle_seconds is None else settle_seconds
    with transaction.atomic():
        state, _ = ImpressionRollupState.objects.select_for_update().get_or_create(pk=1)
        newest_imp = _settled(Impression, "shown_at", settle)
        newest_att = _settled(Attribution, "created_at", settle)
        added: dict[Key, dict[str, Decimal | int]] = defaultdict(lambda: defaultdict(int))
        n_imp = n_att = 0
        if newest_imp > state.last_impression_id:
            rows = (Impression.objects.filter(id__gt=state.last_impression_id, id__lte=newest_imp)
                    .annotate(day=day_expression("shown_at"), exp=Coalesce("experiment_id", 0))
                    .values("day", "scenario", "model_version", "exp", "arm").annotate(n=Count("id")).order_by())
            for r in rows:
                added[(_as_date(r["day"]), r["scenario"], r["model_version"], r["exp"], r["arm"])]["impressions"] += r["n"]
                n_imp += r["n"]
        if newest_att > state.last_attribution_id:
            rows = (Attribution.objects.filter(id__gt=state.last_attribution_id, id__lte=newest_att)
                    .annotate(day=day_expression("impression__shown_at"), exp=Coalesce("impression__experiment_id", 0))
                    .values("day", "impression__scenario", "impression__model_version", "exp", "impression__arm",
                            "event_type", "first_of_type")
                    .annotate(n=Count("id"), revenue=Sum("revenue")).order_by())
            for r in rows:
                key = (_as_date(r["day"]), r["impression__scenario"], r["impression__model_version"], r["exp"],
                       r["impression__arm"])
                counters = added[key]
                counters[_EVENT_FIELDS[r["event_type"]]] += r["n"]
                if r["first_of_type"]:
                    counters[_FIRST_FIELDS[r["event_type"]]] += r["n"]
                counters["revenue"] += Decimal(str(r["revenue"] or 0))
                n_att += r["n"]
        if added:
            _merge(added)
        state.last_impression_id = max(state.last_impression_id, newest_imp)
        state.last_attribution_id = max(state.last_attribution_id, newest_att)
        state.refreshed_at = timezone.now()
        state.save()
    return {"impressions": n_imp, "attributions": n_att}


def _merge(added: dict[Key, dict]) -> None:
    existing = {
        (row.day, row.scenario, row.model_version, row.experiment_id, row.arm): row
        for row in ImpressionDailyMetric.objects.filter(day__in={k[0] for k in added})
    }
    to_create, to_update = [], []
    for key, counters in added.items():
        row = existing.get(key)
        if row is None:
            row = ImpressionDailyMetric(day=key[0], scenario=key[1], model_version=key[2], experiment_id=key[3],
                                        arm=key[4])
            to_create.append(row)
        else:
            to_update.append(row)
        for name in COUNTERS:
            setattr(row, name, getattr(row, name) + int(counters.get(name, 0)))
        row.revenue = Decimal(row.revenue) + Decimal(counters.get("revenue", 0))
    ImpressionDailyMetric.objects.bulk_create(to_create, batch_size=1000)
    ImpressionDailyMetric.objects.bulk_update(to_update, [*COUNTERS, "revenue"], batch_size=1000)


def impressions_prune(*, days: int, batch: int = 900) -> int:
    """Delete raw impressions (and their attributions) shown more than ``days`` ago, in batches;
    their figures stay in ``ImpressionDailyMetric``. Counts them first if they were not yet.
    (A credit given to such an old impression after it was counted and deleted is lost with it.)"""
    impression_metrics_refresh()
    cutoff = timezone.now() - timedelta(days=days)
    deleted = 0
    while True:
        ids = list(Impression.objects.filter(shown_at__lt=cutoff).order_by("id").values_list("id", flat=True)[:batch])
        if not ids:
            return deleted
        Attribution.objects.filter(impression_id__in=ids).delete()
        Impression.objects.filter(id__in=ids).delete()
        deleted += len(ids)
