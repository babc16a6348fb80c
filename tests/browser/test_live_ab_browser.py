"""Live & A/B in a real browser: storefront answers and a purchase credited to one show up in
the live table; a merchandiser starts an experiment from the form, reads its report and stops it."""
from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from recommender.impressions.log import impressions_flush
from recommender.impressions.rollup import impression_metrics_refresh
from recommender.models import Experiment, Impression
from recommender.serving.api_keys import api_key_create
from tests.experiments.conftest import trained  # noqa: F401 - shared fixture
from tests.serving.test_blend_serving import blend_shop  # noqa: F401 - shared fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_live_metrics_and_an_experiment_from_the_dashboard(logged_in_page, trained, screenshot):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_key_create(name='shop', scopes=['read', 'events']).secret}")
    answers = [api.get("/api/v1/recommendations/home", {"customer_id": f"shopper-{n}", "k": 4}).json()
               for n in range(4)]
    impressions_flush()  # now, rather than on the housekeeping thread's next second
    assert Impression.objects.count() == 4
    shown = answers[0]["items"][0]
    posted = api.post("/api/v1/events", {"events": [{
        "event_id": "buy-1", "customer_id": "shopper-0", "item_id": shown["id"], "event_type": "purchase",
        "price": "25.00", "recommendation_id": answers[0]["request_id"],
        "timestamp": timezone.now().isoformat()}]}, format="json")
    assert posted.status_code == 200, posted.json()
    assert posted.json()["results"][0]["attribution"]["status"] == "attributed", posted.json()
    impression_metrics_refresh(settle_seconds=0)

    page = logged_in_page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Live & A/B").click()
    live = page.locator("table[data-live-metrics] tbody tr")
    assert live.count() == 1
    cells = live.first.locator("td").all_inner_texts()
    assert cells[1] == "home" and cells[3] == "4"
    assert cells[6].startswith("25.0 %")  # one of four answers converted
    assert cells[7].startswith("6.250")  # 25.00 of revenue over four impressions

    page.get_by_label("Name", exact=True).fill("heuristic vs trained")
    page.get_by_label("Scenario", exact=True).select_option("home")
    page.get_by_label("Control arm").select_option("heuristic")
    page.get_by_label("Other arms").select_option(["blend-test"])
    page.get_by_role("button", name="Start experiment").click()
    page.wait_for_url("**/experiments/*/")
    experiment = Experiment.objects.get()
    assert experiment.status == Experiment.Status.RUNNING
    arms = page.locator("table[data-arms] tbody tr")
    assert arms.count() == 2
    assert "control" in arms.nth(0).inner_text() and "blend-test" in arms.nth(1).inner_text()
    screenshot(page, "experiment")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Stop").click()
    page.wait_for_load_state("load")
    assert page.locator("[data-status]").inner_text().strip() == "Stopped"
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.STOPPED
