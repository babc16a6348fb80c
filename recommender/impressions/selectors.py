"""Live metrics as the dashboards read them: sums of the pre-aggregated daily rows."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from recommender.models import ImpressionDailyMetric

from .rollup import COUNTERS, impression_metrics_refresh


@dataclass
class MetricRow:
    """One group's counts and the rates read from them (rates are per impression)."""

    impressions: int = 0
    clicked: int = 0
    carted: int = 0
    converted: int = 0
    views: int = 0
    carts: int = 0
    purchases: int = 0
    revenue: Decimal = Decimal(0)
    day: date | None = None
    scenario: str = ""
    model_version: str = ""
    arm: str = ""

    def _per(self, n) -> float | None:
        return float(n) / self.impressions if self.impressions else None

    @property
    def ctr(self) -> float | None:
        return self._per(self.clicked)

    @property
    def cart_rate(self) -> float | None:
        return self._per(self.carted)

    @property
    def conversion(self) -> float | None:
        return self._per(self.converted)

    @property
    def revenue_per_impression(self) -> float | None:
        return self._per(self.revenue)


def _row(values: dict, **labels) -> MetricRow:
    return MetricRow(**{name: int(values.get(name) or 0) for name in COUNTERS},
                     revenue=Decimal(values.get("revenue") or 0), **labels)


def live_metrics(days: int = 30, *, refresh: bool = True) -> list[MetricRow]:
    """Per day x scenario x model version (newest day first), over the last ``days`` days."""
    if refresh:
        impression_metrics_refresh()
    since = timezone.now().date() - timedelta(days=days - 1)
    rows = (ImpressionDailyMetric.objects.filter(day__gte=since)
            .values("day", "scenario", "model_version")
            .annotate(**{name: Sum(name) for name in (*COUNTERS, "revenue")})
            .order_by("-day", "scenario", "model_version"))
    return [_row(r, day=r["day"], scenario=r["scenario"], model_version=r["model_version"]) for r in rows]


def arm_metrics(experiment_id: int, *, refresh: bool = True) -> dict[str, MetricRow]:
    """One experiment's totals per arm (every day it ran)."""
    if refresh:
        impression_metrics_refresh()
    rows = (ImpressionDailyMetric.objects.filter(experiment_id=experiment_id).values("arm")
            .annotate(**{name: Sum(name) for name in (*COUNTERS, "revenue")}).order_by())
    return {r["arm"]: _row(r, arm=r["arm"]) for r in rows}


def arm_daily_conversion(experiment_id: int) -> dict[str, list[tuple[date, int, int]]]:
    """Per arm, (day, impressions, converted) for the figure."""
    out: dict[str, list[tuple[date, int, int]]] = {}
    for r in (ImpressionDailyMetric.objects.filter(experiment_id=experiment_id).values("arm", "day")
              .annotate(n=Sum("impressions"), c=Sum("converted")).order_by("arm", "day")):
        out.setdefault(r["arm"], []).append((r["day"], int(r["n"] or 0), int(r["c"] or 0)))
    return out


def live_conversion_series(days: int = 30) -> dict:
    """Per scenario x version, conversion per day (None on days without impressions), for the figure."""
    rows = live_metrics(days)
    all_days = sorted({r.day.isoformat() for r in rows})
    index = {d: i for i, d in enumerate(all_days)}
    series: dict[str, dict[str, list]] = {}
    for r in rows:
        label = f"{r.scenario} · {r.model_version}"
        values = series.setdefault(label, {"conversion": [None] * len(all_days), "impressions": [0] * len(all_days),
                                           "converted": [0] * len(all_days)})
        i = index[r.day.isoformat()]
        values["conversion"][i], values["impressions"][i], values["converted"][i] = r.conversion, r.impressions, r.converted
    return {"days": all_days, "series": series}
