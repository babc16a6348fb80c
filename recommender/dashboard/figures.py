"""Plotly figure builders: plain data in, plotly figure JSON (a dict) out.

They know nothing about the database, so they are tested with hand-made data and reused
by any page. ``None`` means "nothing to plot": the caller shows its empty-state message.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

COLOURS = ["#9a7b2f", "#1d4ed8", "#067647", "#b42318", "#7c3aed", "#0e7490", "#c2410c", "#4b5563", "#be185d", "#65a30d"]
EVENT_COLOURS = {"view": "#94a3b8", "favorite": "#be185d", "add_to_cart": "#1d4ed8", "purchase": "#9a7b2f"}
EVENT_LABELS = {"view": "Views", "favorite": "Favorites", "add_to_cart": "Add to cart", "purchase": "Purchases"}


DAY_MS = 86_400_000
# A stretch of this many days or more without events is cut out of a time axis, so a week of
# data and a few events years later do not squash the week into a sliver.
GAP_DAYS = 8
# Tick labels for people at every zoom level (plotly's default shows "23:59:59.9996" on a
# one-week bar chart).
DATE_TICK_FORMATS = [
    {"dtickrange": [None, DAY_MS // 2], "value": "%H:%M\n%b %-d"},
    {"dtickrange": [DAY_MS, 28 * DAY_MS], "value": "%b %-d\n%Y"},
    {"dtickrange": ["M1", None], "value": "%b %Y"},
]


def _layout(**extra: Any) -> dict[str, Any]:
    layout = {
        "margin": {"l": 50, "r": 20, "t": 30, "b": 45},
        "height": 340,
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
        "legend": {"orientation": "h", "y": -0.18},
        "hovermode": "x unified",
    }
    layout.update(extra)
    # Axis titles and tick labels grow the margins instead of being clipped at the card's edge.
    for name, axis in list(layout.items()):
        if name.startswith(("xaxis", "yaxis")) and isinstance(axis, dict):
            axis.setdefault("automargin", True)
    return layout


def _day(text: str) -> date:
    return date.fromisoformat(text[:10])


def date_axis(days: list[str]) -> dict[str, Any]:
    """A date x axis over daily bars: day ticks at midnight, readable labels, long gaps cut out."""
    axis: dict[str, Any] = {"type": "date", "tickformatstops": DATE_TICK_FORMATS, "hoverformat": "%a %b %-d, %Y"}
    if not days:
        return axis
    dates = sorted({_day(d) for d in days})
    breaks = []
    for before, after in zip(dates, dates[1:]):
        if (after - before).days >= GAP_DAYS:
            # Bars are a day wide and centred on midnight: keep half a day beside each.
            breaks.append({"bounds": [(datetime.combine(before, datetime.min.time()) + timedelta(hours=12)).isoformat(),
                                      (datetime.combine(after, datetime.min.time()) - timedelta(hours=12)).isoformat()]})
    if breaks:
        axis["rangebreaks"] = breaks
    if len(dates) <= 16:
        # One labelled tick per day with data: plotly would put ticks that fall inside a cut
        # gap on its edge, on top of their neighbours.
        axis["tickvals"] = [d.isoformat() for d in dates]
        axis["ticktext"] = [
            f"{d:%b} {d.day}" + (f"<br>{d.year}" if i == 0 or dates[i - 1].year != d.year else "")
            for i, d in enumerate(dates)
        ]
    elif not breaks and (dates[-1] - dates[0]).days <= 120:
        axis.update(tick0=dates[0].isoformat(), dtick=7 * DAY_MS)
    return axis


def events_over_time_figure(days: list[str], series: dict[str, list[int]], *, labels: dict[str, str] | None = None, colours: dict[str, str] | None = None, title: str = "") -> dict | None:
    """Stacked daily bars, one trace per series (event type or category)."""
    if not days or not series or not any(sum(v) for v in series.values()):
        return None
    labels = labels or {}
    colours = colours or {}
    # Series without a colour of their own take the palette's next colour no other series uses.
    spare = iter([c for c in COLOURS if c not in colours.values()] * 2)
    data = []
    for key, counts in series.items():
        data.append(
            {
                "type": "bar",
                "name": labels.get(key, key),
                "x": days,
                "y": counts,
                "marker": {"color": colours.get(key) or next(spare)},
                "hovertemplate": "%{y:,}<extra>" + labels.get(key, key) + "</extra>",
            }
        )
    layout = _layout(barmode="stack", yaxis={"title": {"text": "events"}, "rangemode": "tozero"}, xaxis=date_axis(days))
    if title:
        layout["title"] = {"text": title}
    return {"data": data, "layout": layout}


def events_by_type_figure(days: list[str], series: dict[str, list[int]]) -> dict | None:
    return events_over_time_figure(days, series, labels=EVENT_LABELS, colours=EVENT_COLOURS)


def events_by_category_figure(days: list[str], series: dict[str, list[int]]) -> dict | None:
    """Jewelry, the target domain, always in the brand gold; the rest greys last."""
    return events_over_time_figure(days, series, colours={"Jewelry": COLOURS[0], "Other": "#94a3b8"})


def top_items_figure(items: list[dict[str, Any]], *, metric_label: str = "purchases") -> dict | None:
    """Horizontal bars, biggest at the top; customdata carries the thumbnail for the hover panel."""
    if not items:
        return None
    ordered = list(reversed(items))
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "x": [i["count"] for i in ordered],
                "y": [f"{i['external_id']}" for i in ordered],
                "text": [i["title"] for i in ordered],
                "customdata": [[i["external_id"], i["title"], i.get("thumb", ""), i.get("product_type", "")] for i in ordered],
                "marker": {"color": COLOURS[0]},
                "hovertemplate": "%{customdata[1]}<br>%{x:,} " + metric_label + "<extra></extra>",
            }
        ],
        "layout": _layout(height=max(300, 22 * len(items) + 60), margin={"l": 100, "r": 20, "t": 10, "b": 40}, hovermode="closest", yaxis={"type": "category", "automargin": True}, xaxis={"title": {"text": metric_label}}),
    }


def coverage_figure(coverage: dict[str, int]) -> dict | None:
    """Share of active jewelry purchased, photographed and embedded, as horizontal percentage bars."""
    total = coverage.get("active_jewelry", 0)
    if not total:
        return None
    parts = [
        ("Ever purchased", coverage.get("purchased", 0)),
        ("Has a photo", coverage.get("with_photo", 0)),
        ("Embedded (current)", coverage.get("embedded_current", 0)),
        ("Embedded (stale)", coverage.get("embedded_stale", 0)),
        ("Embedding failed", coverage.get("embedding_failed", 0)),
    ]
    labels = [p[0] for p in parts][::-1]
    shares = [round(100.0 * p[1] / total, 2) for p in parts][::-1]
    counts = [p[1] for p in parts][::-1]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "x": shares,
                "y": labels,
                "customdata": counts,
                "text": [f"{s:.1f}%" for s in shares],
                "textposition": "auto",
                "marker": {"color": ["#b42318", "#94a3b8", "#067647", "#1d4ed8", "#9a7b2f"]},
                "hovertemplate": "%{y}: %{customdata:,} of " + f"{total:,}" + " (%{x:.1f}%)<extra></extra>",
            }
        ],
        "layout": _layout(height=280, hovermode="closest", margin={"l": 140, "r": 20, "t": 10, "b": 40}, xaxis={"range": [0, 100], "title": {"text": f"% of {total:,} active jewelry items"}}),
    }


def metric_options(versions: list[dict[str, Any]]) -> dict[str, Any]:
    """Every (protocol, model, metric) present in any version: drives the selectors on the page."""
    protocols: dict[str, dict[str, set[str]]] = {}
    for v in versions:
        for protocol, models in (v.get("metrics") or {}).items():
            if not isinstance(models, dict):
                continue
            for model, metrics in models.items():
                if not isinstance(metrics, dict):
                    continue
                names = {m for m, val in metrics.items() if _number(val) is not None}
                protocols.setdefault(protocol, {}).setdefault(model, set()).update(names)
    return {p: {m: sorted(n) for m, n in sorted(models.items())} for p, models in sorted(protocols.items())}


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


def _lookup(d: dict, key: str):
    """Exact key, else a case-insensitive match (``ndcg@10`` vs ``NDCG@10``)."""
    if key in d:
        return d[key]
    lowered = key.lower()
    for k, v in d.items():
        if isinstance(k, str) and k.lower() == lowered:
            return v
    return None


def metric_value(metrics: dict, protocol: str, model: str, metric: str) -> float | None:
    level = _lookup(metrics or {}, protocol)
    level = _lookup(level, model) if isinstance(level, dict) else None
    value = _lookup(level, metric) if isinstance(level, dict) else None
    return _number(value)


def metric_trend_figure(versions: list[dict[str, Any]], protocol: str, model: str, metric: str, *, baselines: tuple[str, ...] = ("popularity",)) -> dict | None:
    """One metric across model versions (oldest first). Versions without the metric leave a gap."""
    if not versions:
        return None
    names = [v["name"] for v in versions]
    values = [metric_value(v.get("metrics") or {}, protocol, model, metric) for v in versions]
    if all(v is None for v in values):
        return None
    active = [v["name"] for v in versions if v.get("is_active")]
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": model,
            "x": names,
            "y": values,
            "connectgaps": False,
            "marker": {"color": COLOURS[0], "size": 9},
            "hovertemplate": "%{x}<br>" + metric + " = %{y:.4f}<extra>" + model + "</extra>",
        }
    ]
    for i, baseline in enumerate(baselines):
        if baseline == model:
            continue
        base_values = [metric_value(v.get("metrics") or {}, protocol, baseline, metric) for v in versions]
        if any(b is not None for b in base_values):
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": baseline,
                    "x": names,
                    "y": base_values,
                    "line": {"dash": "dot", "color": COLOURS[(i + 3) % len(COLOURS)]},
                    "hovertemplate": "%{y:.4f}<extra>" + baseline + "</extra>",
                }
            )
    shapes = []
    if active:
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": active[0], "x1": active[0], "y0": 0, "y1": 1, "line": {"color": "#067647", "dash": "dash", "width": 1}})
    return {
        "data": data,
        "layout": _layout(
            hovermode="closest",
            xaxis={"type": "category", "title": {"text": "model version"}},
            yaxis={"title": {"text": f"{protocol} · {metric}"}, "rangemode": "tozero"},
            shapes=shapes,
            annotations=[{"x": active[0], "y": 1, "yref": "paper", "text": "active", "showarrow": False, "font": {"color": "#067647"}, "yanchor": "bottom"}] if active else [],
        ),
    }


def api_traffic_figure(hours: list[str], requests: dict[str, list[int]], latency: dict[str, list[float | None]]) -> dict | None:
    """Requests per hour (bars, stacked by scenario) and mean latency (lines, right axis)."""
    if not hours or not any(sum(v) for v in requests.values()):
        return None
    data = []
    for i, (scenario, counts) in enumerate(sorted(requests.items())):
        colour = COLOURS[i % len(COLOURS)]
        data.append({"type": "bar", "name": f"{scenario} requests", "legendgroup": scenario, "x": hours, "y": counts, "marker": {"color": colour, "opacity": 0.55}})
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{scenario} latency",
                "legendgroup": scenario,
                "x": hours,
                "y": latency.get(scenario, []),
                "yaxis": "y2",
                "line": {"color": colour, "width": 2},
                "connectgaps": False,
                "hovertemplate": "%{y:.1f} ms<extra>" + scenario + "</extra>",
            }
        )
    return {
        "data": data,
        "layout": _layout(
            barmode="stack",
            height=360,
            margin={"l": 50, "r": 60, "t": 30, "b": 45},
            xaxis={"type": "date", "tickformatstops": DATE_TICK_FORMATS, "hoverformat": "%b %-d, %H:%M"},
            yaxis={"title": {"text": "requests / hour"}, "rangemode": "tozero"},
            yaxis2={"title": {"text": "mean latency (ms)"}, "overlaying": "y", "side": "right", "rangemode": "tozero", "showgrid": False},
        ),
    }


def item_map_figure(points: list[dict[str, Any]], explained: list[float]) -> dict | None:
    """Scatter of the 2-D item map, one trace per product type; customdata feeds the photo panel."""
    if not points:
        return None
    by_type: dict[str, list[dict[str, Any]]] = {}
    for p in points:
        by_type.setdefault(p.get("product_type") or "Unknown", []).append(p)
    data = []
    for i, (ptype, pts) in enumerate(sorted(by_type.items())):
        data.append(
            {
                "type": "scattergl" if len(points) > 1500 else "scatter",
                "mode": "markers",
                "name": f"{ptype} ({len(pts)})",
                "x": [p["x"] for p in pts],
                "y": [p["y"] for p in pts],
                "customdata": [[p["external_id"], p["title"], p.get("thumb", ""), ptype, p["id"]] for p in pts],
                "marker": {"size": 7, "opacity": 0.75, "color": COLOURS[i % len(COLOURS)]},
                "hovertemplate": "%{customdata[0]} %{customdata[1]}<extra>%{customdata[3]}</extra>",
            }
        )
    ex = list(explained) + [0.0, 0.0]
    return {
        "data": data,
        "layout": _layout(
            height=520,
            hovermode="closest",
            legend={"orientation": "v"},
            xaxis={"title": {"text": f"PC 1 ({ex[0] * 100:.1f}% of variance)"}, "zeroline": False},
            yaxis={"title": {"text": f"PC 2 ({ex[1] * 100:.1f}% of variance)"}, "zeroline": False},
        ),
    }


def epoch_loss_figure(series: dict[str, list[tuple[int, float]]]) -> dict | None:
    """Training loss per epoch, one line per "<protocol>/<model> <phase>"; pretraining dashed."""
    if not series or not any(series.values()):
        return None
    data = []
    for i, (name, points) in enumerate(series.items()):
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": name,
                "x": [p[0] for p in points],
                "y": [p[1] for p in points],
                "line": {"color": COLOURS[i % len(COLOURS)], "dash": "dash" if "pretrain" in name else "solid"},
                "hovertemplate": "epoch %{x}: loss %{y:.4f}<extra>" + name + "</extra>",
            }
        )
    layout = _layout(
        hovermode="closest",
        height=360,
        xaxis={"title": {"text": "epoch"}, "dtick": 1},
        yaxis={"title": {"text": "training loss (sampled softmax)"}},
        legend={"orientation": "h", "y": -0.25},
    )
    return {"data": data, "layout": layout}


def live_rates_figure(days: list[str], series: dict[str, dict[str, list]]) -> dict | None:
    """Conversion (impressions with an attributed purchase) per day, one line per scenario x version;
    hover shows the impressions and purchases behind each point."""
    if not days or not series:
        return None
    data = []
    spare = iter(COLOURS * 4)
    for label, values in series.items():
        data.append({
            "type": "scatter", "mode": "lines+markers", "name": label, "x": days, "y": values["conversion"],
            "customdata": list(zip(values["impressions"], values["converted"])),
            "marker": {"color": next(spare)},
            "hovertemplate": "%{y:.2%} (%{customdata[1]:,} of %{customdata[0]:,} impressions)<extra>" + label
                             + "</extra>",
        })
    layout = _layout(yaxis={"title": {"text": "conversion per impression"}, "rangemode": "tozero",
                            "tickformat": ".1%"}, xaxis=date_axis(days))
    return {"data": data, "layout": layout}
