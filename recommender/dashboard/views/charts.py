"""Dashboards: the page is a light shell; each figure loads from its own cached JSON endpoint."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from recommender.impressions.selectors import live_conversion_series
from recommender.models import Event

from .. import figures, selectors
from ..access import staff_required, staff_required_json

DEFAULT_METRIC = ("cross_sell", "xdeepfm_transfer", "ndcg@10")
NO_EVENTS = "No events yet -- import data or post events."
API_DAY_CHOICES = {"7": 7, "30": 30, "all": 3650}


def _period(request: HttpRequest, default: str = selectors.DEFAULT_PERIOD) -> str:
    key = request.GET.get("period") or request.GET.get("days") or default
    return key if key in selectors.PERIODS else default


def _events_by_type(request: HttpRequest) -> dict[str, Any]:
    key = _period(request)
    data = selectors.dashboard_cached(
        f"events_type:{key}", lambda: selectors.events_daily_by_type(key), fingerprint=selectors.events_fingerprint
    )
    return {"figure": figures.events_by_type_figure(data["days"], data["series"]), "period": data["period"],
            "empty_message": NO_EVENTS}


def _events_by_category(request: HttpRequest) -> dict[str, Any]:
    key = _period(request)
    data = selectors.dashboard_cached(
        f"events_cat:{key}", lambda: selectors.events_daily_by_category(key), fingerprint=selectors.events_fingerprint
    )
    return {"figure": figures.events_by_category_figure(data["days"], data["series"]), "period": data["period"],
            "empty_message": NO_EVENTS}


def _top_items(request: HttpRequest) -> dict[str, Any]:
    key = _period(request, default="all")
    event_type = request.GET.get("event_type", Event.Type.PURCHASE)
    if event_type not in Event.Type.values:
        event_type = Event.Type.PURCHASE
    items = selectors.dashboard_cached(
        f"top_items:{key}:{event_type}",
        lambda: selectors.top_items(limit=20, event_type=event_type, period=key),
        fingerprint=selectors.events_fingerprint,
    )
    label = figures.EVENT_LABELS.get(event_type, event_type).lower()
    return {
        "figure": figures.top_items_figure(items, metric_label=label),
        "items": items,
        "empty_message": f"No jewelry {label} yet -- import data or post events.",
    }


def _coverage(request: HttpRequest) -> dict[str, Any]:
    data = selectors.dashboard_cached("coverage", selectors.catalog_coverage, fingerprint=selectors.catalog_and_events_fingerprint)
    return {
        "figure": figures.coverage_figure(data),
        "coverage": data,
        "empty_message": "No active jewelry in the catalog yet -- import a catalog first.",
    }


def _metric_trend(request: HttpRequest) -> dict[str, Any]:
    versions = selectors.dashboard_cached("model_metrics", selectors.model_metric_history, seconds=30)
    options = figures.metric_options(versions)
    protocol = request.GET.get("protocol") or DEFAULT_METRIC[0]
    model = request.GET.get("model") or DEFAULT_METRIC[1]
    metric = request.GET.get("metric") or DEFAULT_METRIC[2]
    figure = figures.metric_trend_figure(versions, protocol, model, metric)
    if not versions:
        message = "No trained model versions yet -- start a training job."
    else:
        message = f"No version has {protocol} / {model} / {metric} -- pick another metric."
    return {
        "figure": figure,
        "options": options,
        "selected": {"protocol": protocol, "model": model, "metric": metric},
        "empty_message": message,
    }


def _api_traffic(request: HttpRequest) -> dict[str, Any]:
    key = request.GET.get("days", "7")
    days = API_DAY_CHOICES.get(key, 7)
    data = selectors.dashboard_cached(f"api_traffic:{key}", lambda: selectors.api_traffic_hourly(days))
    summary = selectors.dashboard_cached(f"api_summary:{key}", lambda: selectors.api_latency_by_scenario(days))
    return {
        "figure": figures.api_traffic_figure(data["hours"], data["requests"], data["latency"]),
        "scenarios": summary,
        "empty_message": "No API traffic yet -- storefront requests appear here within a minute.",
    }


def _item_map(request: HttpRequest) -> dict[str, Any]:
    data = selectors.dashboard_cached(
        "item_map", selectors.item_vector_map, seconds=600, fingerprint=selectors.vectors_fingerprint
    )
    return {
        "figure": figures.item_map_figure(data["points"], data["explained"]),
        "n": data["n"],
        "empty_message": "No item vectors yet -- run an embedding job to see the jewelry map.",
    }


def _live_conversion(request: HttpRequest) -> dict[str, Any]:
    data = selectors.dashboard_cached("live_conversion", lambda: live_conversion_series(30), seconds=60)
    return {"figure": figures.live_rates_figure(data["days"], data["series"]),
            "empty_message": "No impressions yet -- storefront answers appear here within a minute "
                             "(or run manage.py replay)."}


FIGURES: dict[str, Callable[[HttpRequest], dict[str, Any]]] = {
    "events-by-type": _events_by_type,
    "events-by-category": _events_by_category,
    "top-items": _top_items,
    "coverage": _coverage,
    "metric-trend": _metric_trend,
    "api-traffic": _api_traffic,
    "item-map": _item_map,
    "live-conversion": _live_conversion,
}


@staff_required
@require_GET
def charts_page(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/charts/page.html", {
        "section": "charts", "figures": list(FIGURES), "periods": list(selectors.PERIODS.items()),
        "default_period": selectors.DEFAULT_PERIOD,
    })


@staff_required_json
@require_GET
def figure_json(request: HttpRequest, name: str) -> JsonResponse:
    builder = FIGURES.get(name)
    if builder is None:
        return JsonResponse({"error": f"unknown figure '{name}'", "known": sorted(FIGURES)}, status=404)
    payload = builder(request)
    payload["empty"] = payload.get("figure") is None
    payload["generated_at"] = timezone.now().isoformat(timespec="seconds")
    response = JsonResponse(payload)
    response["Cache-Control"] = "private, max-age=60"
    return response
