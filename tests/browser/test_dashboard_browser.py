"""The merchandiser dashboard in a real browser: pages, forms, live job progress, charts."""
from __future__ import annotations

import re
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from recommender.catalog.services import item_image_add
from recommender.jobs.services import job_start
from recommender.models import ApiKey, ApiRequestLog, Job, MerchandisingRule, ModelVersion
from tests.dashboard.conftest import make_events, make_item, make_vectors, png_bytes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NAV = [
    ("Overview", "Overview"),
    ("Catalog", "Catalog"),
    ("Jobs", "Jobs"),
    ("Rules", "Merchandising rules"),
    ("Dashboards", "Dashboards"),
    ("API keys", "API keys"),
    ("Settings", "Settings"),
]


def _seed_demo_data(n_rings: int = 12) -> list:
    rings = [make_item(f"01000000{i:02d}", product_type="Ring", title=f"Ring {i}") for i in range(n_rings)]
    necklaces = [make_item(f"03000000{i:02d}", product_type="Necklace", title=f"Necklace {i}") for i in range(6)]
    dress = make_item("0200000001", product_type="Dress", product_group="Garment Full body", title="Summer dress")
    rng = np.random.default_rng(0)
    for item in rings[:4] + necklaces[:2]:
        item_image_add(item, png_bytes(colour=tuple(int(c) for c in rng.integers(0, 255, 3)), size=(60, 80)))
    make_events(rings + necklaces, per_item=[int(x) for x in rng.integers(0, 9, len(rings) + len(necklaces))])
    make_events([dress], per_item=[15])
    make_events(rings[:5], per_item=[6, 5, 4, 3, 2], event_type="view", day_offset=1)
    make_vectors(rings + necklaces, dim=32)
    for k, value in enumerate([0.11, 0.13, 0.16]):
        ModelVersion.objects.create(
            name=f"xdeepfm-v{k + 1}", status="ready", is_active=k == 2,
            metrics={"cross_sell": {"xdeepfm_transfer": {"ndcg@10": value}, "popularity": {"ndcg@10": 0.08}}},
        )
    now = timezone.now().replace(second=0, microsecond=0)
    ApiRequestLog.objects.bulk_create(
        [
            ApiRequestLog(minute=now - timedelta(minutes=15 * m), scenario=s, requests=5 + (m % 7), errors=m % 11 == 0,
                          total_latency_ms=(5 + (m % 7)) * (12 + m % 5), max_latency_ms=40)
            for m in range(200) for s in ("home", "cross_sell")
        ]
    )
    return rings


def test_login_and_every_page(logged_in_page, screenshot):
    page = logged_in_page
    for link, heading in NAV:
        page.get_by_role("navigation", name="Main").get_by_role("link", name=link, exact=True).click()
        page.wait_for_load_state("load")
        assert page.locator("h1").first.inner_text().startswith(heading)
        assert page.locator('nav[aria-label="Main"] a[aria-current="page"]').inner_text() == link


def test_anonymous_visitor_is_sent_to_login(page, staff_account):
    page.goto("/rules/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill("merch")
    page.get_by_label("Password").fill("pw-merch-123")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/rules/")


def test_create_api_key_shows_secret_once_then_revoke(logged_in_page, screenshot):
    page = logged_in_page
    page.goto("/api-keys/new/")
    page.get_by_role("button", name="Create key").click()
    # Empty name: inline error next to the field, focusable by its label.
    assert page.locator("#id_name_error").inner_text() == "This field is required."
    assert page.get_by_label("Name").get_attribute("aria-invalid") == "true"
    page.get_by_label("Name").fill("Storefront")
    page.get_by_label("Post behaviour events").check()
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("api-key-secret").inner_text()
    assert re.fullmatch(r"jr_[0-9a-f]{8}_\S{20,}", secret)
    screenshot(page, "api-key-created")
    page.reload()
    assert page.get_by_test_id("api-key-secret").count() == 0
    assert "already shown" in page.content()

    page.goto("/api-keys/")
    screenshot(page, "api-keys")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Revoke").click()
    page.wait_for_selector(".badge-revoked")
    assert ApiKey.objects.get().revoked_at is not None


def test_create_rule_with_validation(logged_in_page, screenshot):
    page = logged_in_page
    make_item("0100000001", title="Hero ring")
    page.goto("/rules/new/")
    page.get_by_label("Name").fill("Hero pin")
    page.get_by_label("Action").select_option("pin")
    page.get_by_label("Target").select_option("item")
    page.get_by_label("Value").fill("0100000001")
    page.get_by_label("Home").check()
    page.get_by_role("button", name="Create rule").click()
    # A pin without a position is refused inline.
    assert "needs a position" in page.locator("#id_position_error").inner_text()
    screenshot(page, "rule-form-error")
    page.get_by_label("Position").fill("1")
    page.get_by_role("button", name="Create rule").click()
    page.wait_for_url("**/rules/")
    assert page.get_by_role("link", name="Hero pin").count() == 1
    assert "Hero ring" in page.content()
    rule = MerchandisingRule.objects.get()
    assert (rule.action, rule.position, rule.scenarios) == ("pin", 1, ["home"])
    screenshot(page, "rules")


def test_cancel_queued_job(logged_in_page, screenshot):
    page = logged_in_page
    job = Job.objects.create(kind=Job.Kind.EMBED_CATALOG, message="Queued")
    page.goto(f"/jobs/{job.pk}/")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Cancel job").click()
    page.wait_for_selector(".badge-cancelled")
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert "was cancelled" in page.content()


def test_job_progress_updates_live(logged_in_page, screenshot):
    page = logged_in_page
    job = Job.objects.create(kind=Job.Kind.TRAIN, message="Queued")
    job_start(job)
    Job.objects.create(kind=Job.Kind.IMPORT, status=Job.Status.SUCCEEDED, progress=1.0, message="105,542 items",
                       started_at=timezone.now() - timedelta(seconds=75), finished_at=timezone.now())
    page.goto(f"/jobs/{job.pk}/")
    Job.objects.filter(pk=job.pk).update(progress=0.6, message="fine-tune epoch 3/5", log=job.log + [{"at": "now", "message": "epoch 3"}])
    # A function, not an expression: Playwright eval()s a bare expression, which the page's CSP forbids.
    page.wait_for_function("() => document.querySelector('[data-field=message]').textContent === 'fine-tune epoch 3/5'")
    assert page.locator("[data-field=percent]").inner_text() == "60%"
    assert "epoch 3" in page.locator("[data-field=log]").inner_text()
    screenshot(page, "job-detail")
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED, progress=1.0, message="Done")
    page.wait_for_selector("[data-field=status].badge-succeeded")
    assert page.locator("form[data-field=cancel]").is_hidden()
    page.goto("/jobs/")
    screenshot(page, "jobs")


def test_dashboards_render_plots_and_hover_panel(logged_in_page, screenshot, serve_media):
    page = logged_in_page
    _seed_demo_data()
    page.goto("/dashboards/")
    # plotly.min.js is 4.8 MB: parsing it on a busy 2-core CI machine can take a while.
    page.wait_for_function("typeof window.Plotly !== 'undefined'", timeout=60_000)
    for name in ("events-by-type", "events-by-category", "top-items", "coverage", "metric-trend", "api-traffic", "item-map"):
        card = page.locator(f'[data-figure-card="{name}"]')
        page.wait_for_selector(f'[data-figure-card="{name}"][data-rendered="true"]', timeout=60_000)
        assert card.locator(".plotly svg.main-svg").count() >= 1
    # Top items come with a thumbnail table.
    assert page.locator("[data-top-table] img.thumb").count() >= 1
    # Hovering a point on the map shows the item in the side panel.
    map_card = page.locator('[data-figure-card="item-map"]')
    map_card.scroll_into_view_if_needed()
    x, y = page.evaluate(
        """() => {
          const gd = document.querySelector('[data-figure-card=item-map] .js-plotly-plot');
          const fl = gd._fullLayout, trace = gd.data[1], box = gd.getBoundingClientRect();
          return [box.left + fl._size.l + fl.xaxis.l2p(trace.x[0]), box.top + fl._size.t + fl.yaxis.l2p(trace.y[0])];
        }"""
    )
    page.mouse.move(x - 30, y - 30)
    page.mouse.move(x, y, steps=5)
    panel = page.locator("[data-hover-panel]")
    panel.get_by_role("link", name="Open item").wait_for()
    assert "Ring" in panel.inner_text()
    # Changing the metric selector refetches the figure.
    page.select_option("#m-metric", "ndcg@10")
    page.locator('[data-figure-card="metric-trend"] .plotly svg').first.wait_for()
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "dashboards")
    page.locator('[data-figure-card="item-map"]').scroll_into_view_if_needed()
    screenshot(page, "dashboards-item-map")


def test_dashboards_empty_states(logged_in_page):
    page = logged_in_page
    page.goto("/dashboards/")
    page.wait_for_selector('[data-figure-card="events-by-type"] .empty')
    assert "No events yet -- import data or post events." in page.locator('[data-figure-card="events-by-type"]').inner_text()
    page.wait_for_selector('[data-figure-card="item-map"] .empty')


def test_catalog_pages(logged_in_page, screenshot, serve_media):
    page = logged_in_page
    _seed_demo_data()
    page.goto("/catalog/")
    assert page.locator("tbody tr").count() == 18  # jewelry only by default
    assert page.locator("tbody img.thumb").count() == 6
    screenshot(page, "catalog")
    page.get_by_label("Category").select_option("all")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**scope=all**")
    assert page.locator("tbody tr").count() == 19
    page.get_by_role("link", name="0100000000").click()
    page.wait_for_selector("ol.photos img")
    screenshot(page, "catalog-item")
    page.goto("/")
    screenshot(page, "overview")
    page.goto("/settings/")
    screenshot(page, "settings")
