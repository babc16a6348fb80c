"""Dashboards: figure builders on hand-made data, aggregates, and the JSON endpoints."""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.urls import reverse
from django.utils import timezone

from recommender.catalog.services import item_image_add
from recommender.dashboard import figures, selectors
from recommender.models import ApiRequestLog, ModelVersion
from tests.dashboard.conftest import make_events, make_item, make_vectors, png_bytes

# --- figure builders: plain data in, plotly JSON out ------------------------------------------


def test_events_by_type_figure_stacks_one_trace_per_type():
    fig = figures.events_by_type_figure(["2020-09-16", "2020-09-17"], {"purchase": [3, 4], "view": [10, 0]})
    assert fig["layout"]["barmode"] == "stack"
    assert [(t["name"], t["y"]) for t in fig["data"]] == [("Purchases", [3, 4]), ("Views", [10, 0])]
    assert figures.events_by_type_figure([], {}) is None
    assert figures.events_by_type_figure(["2020-09-16"], {"view": [0]}) is None


def test_metric_trend_handles_missing_metrics_and_case():
    versions = [
        {"name": "v1", "metrics": {"cross_sell": {"xdeepfm_transfer": {"NDCG@10": 0.1}, "popularity": {"ndcg@10": 0.05}}}},
        {"name": "v2", "metrics": {}},
        {"name": "v3", "metrics": {"cross_sell": {"xdeepfm_transfer": {"ndcg@10": "n/a"}}}},
        {"name": "v4", "metrics": {"cross_sell": {"xdeepfm_transfer": {"ndcg@10": 0.2}}}, "is_active": True},
        {"name": "v5", "metrics": {"cross_sell": ["broken"]}},
    ]
    fig = figures.metric_trend_figure(versions, "cross_sell", "xdeepfm_transfer", "ndcg@10")
    main = fig["data"][0]
    assert main["x"] == ["v1", "v2", "v3", "v4", "v5"]
    assert main["y"] == [0.1, None, None, 0.2, None]
    assert fig["data"][1]["name"] == "popularity" and fig["data"][1]["y"][0] == 0.05
    assert fig["layout"]["shapes"][0]["x0"] == "v4"
    assert figures.metric_trend_figure(versions, "cold_start", "xdeepfm_transfer", "ndcg@10") is None
    assert figures.metric_trend_figure([], "cross_sell", "x", "y") is None
    options = figures.metric_options(versions)
    assert options == {"cross_sell": {"popularity": ["ndcg@10"], "xdeepfm_transfer": ["NDCG@10", "ndcg@10"]}}


def test_coverage_figure_percentages():
    fig = figures.coverage_figure({"active_jewelry": 200, "purchased": 50, "with_photo": 20, "embedded_current": 150, "embedded_stale": 0, "embedding_failed": 2})
    bars = dict(zip(fig["data"][0]["y"], fig["data"][0]["x"]))
    assert bars == {"Ever purchased": 25.0, "Has a photo": 10.0, "Embedded (current)": 75.0, "Embedded (stale)": 0.0, "Embedding failed": 1.0}
    assert figures.coverage_figure({"active_jewelry": 0}) is None


def test_item_map_figure_groups_by_type_with_thumbnail_customdata():
    points = [
        {"id": 1, "external_id": "a", "title": "A", "product_type": "Ring", "x": 0.1, "y": 0.2, "thumb": "/media/a.jpg"},
        {"id": 2, "external_id": "b", "title": "B", "product_type": "Necklace", "x": -1.0, "y": 0.5, "thumb": ""},
        {"id": 3, "external_id": "c", "title": "C", "product_type": "Ring", "x": 0.3, "y": 0.0, "thumb": ""},
    ]
    fig = figures.item_map_figure(points, [0.4, 0.2])
    assert [t["name"] for t in fig["data"]] == ["Necklace (1)", "Ring (2)"]
    assert fig["data"][1]["customdata"][0] == ["a", "A", "/media/a.jpg", "Ring", 1]
    assert "40.0%" in fig["layout"]["xaxis"]["title"]["text"]
    assert figures.item_map_figure([], []) is None


def test_pca_2d_matches_exact_svd_and_is_deterministic():
    rng = np.random.default_rng(3)
    centers = rng.standard_normal((3, 64)) * 4
    matrix = np.vstack([c + rng.standard_normal((100, 64)) for c in centers])
    coords, explained = selectors.pca_2d(matrix)
    centered = matrix - matrix.mean(axis=0)
    _, s, vt = np.linalg.svd(centered, full_matrices=False)
    exact = centered @ vt[:2].T
    for i in range(2):
        assert abs(np.corrcoef(coords[:, i], exact[:, i])[0, 1]) > 0.9999
    assert explained == pytest.approx((s[:2] ** 2 / (s**2).sum()).tolist(), abs=1e-4)
    again, _ = selectors.pca_2d(matrix)
    assert np.array_equal(coords, again)


# --- aggregates and endpoints ---------------------------------------------------------------


def _figure(client, name, **params):
    response = client.get(reverse("dashboard:figure", args=[name]), params)
    assert response.status_code == 200
    return response.json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name,fragment",
    [
        ("events-by-type", "No events yet -- import data or post events"),
        ("events-by-category", "No events yet"),
        ("top-items", "No jewelry purchases yet"),
        ("coverage", "No active jewelry"),
        ("metric-trend", "No trained model versions yet"),
        ("api-traffic", "No API traffic yet"),
        ("item-map", "No item vectors yet"),
    ],
)
def test_empty_database_gives_friendly_empty_states(staff_client, name, fragment):
    data = _figure(staff_client, name)
    assert data["empty"] is True and data["figure"] is None
    assert fragment in data["empty_message"]


@pytest.mark.django_db
def test_unknown_figure_is_404(staff_client):
    response = staff_client.get(reverse("dashboard:figure", args=["nope"]))
    assert response.status_code == 404
    assert "events-by-type" in response.json()["known"]


@pytest.mark.django_db
def test_event_aggregates(staff_client):
    rings = [make_item(f"01000000{i:02d}") for i in range(3)]
    dress = make_item("0200000001", product_type="Dress", product_group="Garment Full body")
    make_events(rings, per_item=[5, 2, 0])
    make_events([dress], per_item=[4])
    make_events(rings[:1], per_item=[3], event_type="view", day_offset=1)

    by_type = _figure(staff_client, "events-by-type", days="all")["figure"]
    totals = {t["name"]: sum(t["y"]) for t in by_type["data"]}
    assert totals == {"Purchases": 11, "Views": 3}
    assert by_type["data"][0]["x"] == ["2020-09-16", "2020-09-17", "2020-09-18", "2020-09-19"]

    by_cat = _figure(staff_client, "events-by-category", days="all")["figure"]
    assert {t["name"]: sum(t["y"]) for t in by_cat["data"]} == {"Jewelry": 10, "Garment Full body": 4}

    # The window ends at the newest event (2020-09-19), not today: "last 7 days" still holds every event.
    last_day = _figure(staff_client, "events-by-type", days="7")["figure"]
    assert sum(sum(t["y"]) for t in last_day["data"]) == 14

    top = _figure(staff_client, "top-items")
    assert [(i["external_id"], i["count"]) for i in top["items"]] == [("0100000000", 5), ("0100000001", 2)]
    assert top["figure"]["data"][0]["y"] == ["0100000001", "0100000000"]  # biggest bar at the top


@pytest.mark.django_db
def test_top_items_table_carries_thumbnails(staff_client):
    ring = make_item("0100000009")
    item_image_add(ring, png_bytes())
    make_events([ring], per_item=[2])
    item = _figure(staff_client, "top-items")["items"][0]
    assert item["thumb"].startswith("/media/items/0100000009/")


@pytest.mark.django_db
def test_coverage_counts_active_jewelry_only(staff_client):
    rings = [make_item(f"01000000{i:02d}") for i in range(4)]
    make_item("0100000099", is_active=False)
    make_item("0200000001", product_type="Dress")
    make_events(rings[:1], per_item=[3])
    make_vectors(rings[:3])
    data = _figure(staff_client, "coverage")
    assert data["coverage"] == {"active_jewelry": 4, "purchased": 1, "with_photo": 0, "embedded_current": 3, "embedded_stale": 0, "embedding_failed": 0}


@pytest.mark.django_db
def test_metric_trend_endpoint_selects_metric(staff_client):
    for i, value in enumerate([0.1, 0.15]):
        ModelVersion.objects.create(name=f"xdeepfm-{i}", status="ready", metrics={"cross_sell": {"xdeepfm_transfer": {"ndcg@10": value, "recall@10": value * 2}}})
    ModelVersion.objects.create(name="broken", status="failed", metrics={})
    data = _figure(staff_client, "metric-trend")
    assert data["figure"]["data"][0]["y"] == [0.1, 0.15]
    assert data["options"] == {"cross_sell": {"xdeepfm_transfer": ["ndcg@10", "recall@10"]}}
    recall = _figure(staff_client, "metric-trend", metric="recall@10")
    assert recall["figure"]["data"][0]["y"] == [0.2, 0.3]
    missing = _figure(staff_client, "metric-trend", metric="mrr")
    assert missing["empty"] and "pick another metric" in missing["empty_message"]


@pytest.mark.django_db
def test_api_traffic_endpoint(staff_client):
    minute = timezone.now().replace(second=0, microsecond=0)
    ApiRequestLog.objects.create(minute=minute, scenario="home", requests=10, errors=1, total_latency_ms=200.0, max_latency_ms=50)
    ApiRequestLog.objects.create(minute=minute - timedelta(minutes=1), scenario="home", requests=10, errors=0, total_latency_ms=400.0, max_latency_ms=90)
    ApiRequestLog.objects.create(minute=minute, scenario="similar", requests=4, errors=0, total_latency_ms=40.0, max_latency_ms=12)
    data = _figure(staff_client, "api-traffic")
    by_name = {t["name"]: t for t in data["figure"]["data"]}
    assert sum(by_name["home requests"]["y"]) == 20
    assert data["scenarios"][0] == {"scenario": "home", "requests": 20, "errors": 1, "mean_latency_ms": 30.0, "max_latency_ms": 90.0}


@pytest.mark.django_db
def test_item_map_endpoint(staff_client):
    rings = [make_item(f"01000000{i:02d}", product_type="Ring") for i in range(6)]
    necklaces = [make_item(f"03000000{i:02d}", product_type="Necklace") for i in range(4)]
    dress = make_item("0200000001", product_type="Dress")
    make_vectors(rings + necklaces + [dress])
    item_image_add(rings[0], png_bytes())
    data = _figure(staff_client, "item-map")
    assert data["n"] == 10  # jewelry only
    names = sorted(t["name"] for t in data["figure"]["data"])
    assert names == ["Necklace (4)", "Ring (6)"]
    ring_trace = next(t for t in data["figure"]["data"] if t["name"].startswith("Ring"))
    thumbs = [cd[2] for cd in ring_trace["customdata"]]
    assert thumbs[0].startswith("/media/items/0100000000/") and thumbs[1:] == [""] * 5


@pytest.mark.django_db
def test_cached_aggregate_recomputes_only_when_data_changes(staff_client, monkeypatch):
    ring = make_item("0100000001")
    make_events([ring], per_item=[2])
    assert sum(_figure(staff_client, "events-by-type")["figure"]["data"][0]["y"]) == 2
    make_events([ring], per_item=[3])
    # Within the freshness window the cached aggregate is served ...
    assert sum(_figure(staff_client, "events-by-type")["figure"]["data"][0]["y"]) == 2
    # ... after it, new events (a new max id) trigger a recompute.
    monkeypatch.setattr(selectors, "CACHE_SECONDS", 0)
    monkeypatch.setattr(selectors.dashboard_cached, "__defaults__", (0, None))
    assert sum(_figure(staff_client, "events-by-type")["figure"]["data"][0]["y"]) == 5


@pytest.mark.django_db
def test_dashboards_page_is_a_light_shell(staff_client, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):
        html = staff_client.get(reverse("dashboard:charts")).content.decode()
    assert "/static/vendor/plotly/plotly.min.js" in html
    assert html.count("data-figure-card=") == 8  # the live conversion card included


# --- periods, rolled-up counts and readable axes ------------------------------------------------


def _stray_events_today(item, n: int) -> None:
    from recommender.models import Customer, Event

    customer, _ = Customer.objects.get_or_create(external_id="c-live")
    now = timezone.now()
    Event.objects.bulk_create([Event(customer=customer, item=item, event_type="view", timestamp=now) for _ in range(n)])


@pytest.mark.django_db
def test_dashboards_open_on_the_datas_latest_week_not_on_stray_recent_events(staff_client):
    rings = [make_item(f"01000000{i:02d}") for i in range(3)]
    make_events(rings, per_item=[40, 30, 30])  # 2020-09-16 .. 2020-09-18
    _stray_events_today(rings[0], 3)  # a few live events years later

    data = _figure(staff_client, "events-by-type")  # no period asked: the default
    assert data["period"]["key"] == "latest"
    assert (data["period"]["start"], data["period"]["end"]) == ("2020-09-16", "2020-09-18")
    assert data["period"]["text"] == "Sep 16 – Sep 18, 2020"
    assert data["period"]["newer_events"] == 3
    assert sum(sum(t["y"]) for t in data["figure"]["data"]) == 100

    # "last 30 days of data" ends at the newest event: only the stray ones.
    recent = _figure(staff_client, "events-by-type", period="30")
    assert sum(sum(t["y"]) for t in recent["figure"]["data"]) == 3 and recent["period"]["newer_events"] == 0

    # "all" keeps both, and cuts the years between them out of the axis.
    everything = _figure(staff_client, "events-by-category", period="all")
    assert sum(sum(t["y"]) for t in everything["figure"]["data"]) == 103
    breaks = everything["figure"]["layout"]["xaxis"]["rangebreaks"]
    assert len(breaks) == 1 and breaks[0]["bounds"][0] == "2020-09-18T12:00:00"


@pytest.mark.django_db
def test_daily_counts_roll_up_incrementally_and_match_the_events():
    from recommender.events.rollup import event_daily_counts_refresh
    from recommender.models import Event, EventDailyCount

    rings = [make_item(f"01000000{i:02d}") for i in range(2)]
    dress = make_item("0200000001", product_type="Dress", product_group="Garment Full body", is_jewelry=False)
    make_events(rings + [dress], per_item=[4, 2, 3])
    assert event_daily_counts_refresh() == 9
    assert event_daily_counts_refresh() == 0  # nothing new: nothing counted twice
    make_events([dress], per_item=[2], event_type="view", day_offset=1)
    assert event_daily_counts_refresh() == 2

    def table():
        return sorted((str(d), t, g, n) for d, t, g, n in EventDailyCount.objects.values_list("day", "event_type", "group", "count"))

    # make_events spreads an item's k-th event over day 16 + k % 3 (+ the offset).
    assert table() == [
        ("2020-09-16", "purchase", "Garment Full body", 1), ("2020-09-16", "purchase", "Jewelry", 3),
        ("2020-09-17", "purchase", "Garment Full body", 1), ("2020-09-17", "purchase", "Jewelry", 2),
        ("2020-09-17", "view", "Garment Full body", 1),
        ("2020-09-18", "purchase", "Garment Full body", 1), ("2020-09-18", "purchase", "Jewelry", 1),
        ("2020-09-18", "view", "Garment Full body", 1),
    ]
    # Deleting an item deletes its events: the counts are rebuilt, not left too high.
    rings[0].delete()
    assert Event.objects.count() == 7
    event_daily_counts_refresh()
    assert sum(n for *_, n in table()) == 7
    assert ("2020-09-16", "purchase", "Jewelry", 1) in table()


@pytest.mark.django_db
def test_event_charts_group_only_the_new_events(staff_client):
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from recommender.models import Event

    rings = [make_item(f"01000000{i:02d}") for i in range(3)]
    make_events(rings, per_item=[50, 20, 10])
    _figure(staff_client, "events-by-type")  # the first view counts the 80 events once
    counted = Event.objects.order_by("-id").values_list("id", flat=True).first()
    cache.clear()
    make_events(rings[:1], per_item=[5], day_offset=1)
    with CaptureQueriesContext(connection) as queries:
        data = _figure(staff_client, "events-by-category", period="all")
    assert sum(sum(t["y"]) for t in data["figure"]["data"]) == 85
    grouping = [q["sql"] for q in queries.captured_queries if 'FROM "recommender_event"' in q["sql"] and "GROUP BY" in q["sql"]]
    assert len(grouping) == 1 and f'"recommender_event"."id" > {counted}' in grouping[0]


def test_date_axis_reads_as_days_for_people():
    week = ["2020-09-16", "2020-09-17", "2020-09-18", "2020-09-19", "2020-09-20", "2020-09-21", "2020-09-22"]
    axis = figures.date_axis(week)
    assert axis["tickvals"] == week
    assert axis["ticktext"] == ["Sep 16<br>2020", "Sep 17", "Sep 18", "Sep 19", "Sep 20", "Sep 21", "Sep 22"]
    assert axis["hoverformat"] == "%a %b %-d, %Y" and "rangebreaks" not in axis
    assert [s["value"] for s in axis["tickformatstops"]] == ["%H:%M\n%b %-d", "%b %-d\n%Y", "%b %Y"]
    # A week and one day six years later: the gap is cut out, each day keeps its label.
    axis = figures.date_axis(week + ["2026-12-05"])
    assert axis["rangebreaks"] == [{"bounds": ["2020-09-22T12:00:00", "2026-12-04T12:00:00"]}]
    assert axis["ticktext"][-2:] == ["Sep 22", "Dec 5<br>2026"]
    from datetime import date as _date

    every_third_day = [(_date(2020, 7, 1) + timedelta(days=3 * k)).isoformat() for k in range(20)]  # 58 days
    assert figures.date_axis(every_third_day)["dtick"] == 7 * figures.DAY_MS
    long = figures.date_axis([(_date(2020, 1, 1) + timedelta(days=k)).isoformat() for k in range(200)])
    assert "dtick" not in long and "tickvals" not in long  # plotly picks, the formats above label


def test_every_axis_grows_its_margin_instead_of_being_clipped():
    fig = figures.api_traffic_figure(["2020-09-16T10:00", "2020-09-16T11:00"], {"home": [3, 4]}, {"home": [12.0, 14.0]})
    layout = fig["layout"]
    assert layout["yaxis2"]["side"] == "right" and layout["yaxis2"]["automargin"] is True
    assert layout["xaxis"]["automargin"] is True and layout["yaxis"]["automargin"] is True
    assert layout["margin"]["r"] >= 60
    for fig in (figures.events_by_type_figure(["2020-09-16"], {"view": [2]}),
                figures.coverage_figure({"active_jewelry": 2, "purchased": 1}),
                figures.item_map_figure([{"id": 1, "external_id": "a", "title": "A", "product_type": "Ring", "x": 0, "y": 0}], [0.5, 0.2])):
        assert all(fig["layout"][k]["automargin"] for k in fig["layout"] if k.startswith(("xaxis", "yaxis")))


def test_jewelry_keeps_the_brand_colour_and_no_two_groups_share_one():
    fig = figures.events_by_category_figure(["2020-09-16"], {"Garment Upper body": [9], "Jewelry": [2], "Other": [1], "Shoes": [3]})
    colours = {t["name"]: t["marker"]["color"] for t in fig["data"]}
    assert colours["Jewelry"] == figures.COLOURS[0] and colours["Other"] == "#94a3b8"
    assert len(set(colours.values())) == 4


def test_live_conversion_figure_reads_the_rolled_up_impressions(staff_client):
    from recommender.models import Impression

    now = timezone.now()
    Impression.objects.bulk_create([Impression(request_id=f"{n:032d}", scenario="home", model_version="blend-x",
                                               items=["a"], shown_at=now) for n in range(4)])
    payload = staff_client.get(reverse("dashboard:figure", args=["live-conversion"])).json()
    assert payload["empty"] is False
    (trace,) = payload["figure"]["data"]
    assert trace["name"] == "home · blend-x" and trace["y"] == [0.0] and trace["customdata"] == [[4, 0]]
