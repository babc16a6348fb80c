"""The Live & A/B pages: live metrics table, creating (and refusing) experiments, the report, promotion."""
from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from recommender.impressions.rollup import impression_metrics_refresh
from recommender.models import Experiment, Impression, ModelVersion
from tests.experiments.conftest import trained  # noqa: F401 - shared fixture
from tests.serving.test_blend_serving import blend_shop  # noqa: F401 - shared fixture

pytestmark = pytest.mark.django_db


def _create(client, **overrides):
    data = {"name": "blend vs trained", "scenario": "home", "control": "heuristic", "treatments": ["blend-test"],
            "weights": "", "min_effect": "0.1", **overrides}
    return client.post(reverse("dashboard:experiment_new"), data)


def test_live_metrics_table_reads_the_rollup(staff_client, db):
    now = timezone.now()
    Impression.objects.bulk_create([Impression(request_id=f"{n:032d}", scenario="home", model_version="blend-x",
                                               items=["a"], shown_at=now) for n in range(7)])
    page = staff_client.get(reverse("dashboard:experiments"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "blend-x" in html and '<td class="num">7</td>' in html
    assert html.count("0.0 %") == 3  # CTR, add-to-cart and conversion, as percentages


def test_rates_read_as_percentages_and_differences_as_points():
    from recommender.templatetags.dashboard_extras import percent, points

    assert percent(0.36859) == "36.9 %" and percent(0.0412, 2) == "4.12 %" and percent(None) == "–"
    assert points(-0.01389) == "-1.39 pts" and points(0.0013) == "+0.13 pts" and points(None) == "–"


def test_create_refuse_overlap_report_and_promote(staff_client, trained):
    response = _create(staff_client)
    experiment = Experiment.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("dashboard:experiment_detail",
                                                                            args=[experiment.pk])
    refused = _create(staff_client, name="second")
    assert refused.status_code == 400
    assert "is already running on home" in refused.content.decode() and Experiment.objects.count() == 1
    bad_weights = _create(staff_client, scenario="feed", weights="1,2,3")
    assert bad_weights.status_code == 400 and "one weight per arm (2)" in bad_weights.content.decode()
    assert _create(staff_client, name="later", scenario="feed", starts_at="2099-01-01 10:00").status_code == 302
    assert Experiment.objects.get(name="later").status == Experiment.Status.SCHEDULED
    page = staff_client.get(reverse("dashboard:experiment_detail", args=[experiment.pk]))
    html = page.content.decode()
    assert page.status_code == 200 and "heuristic blend" in html and "blend-test" in html and "Promote" in html
    staff_client.post(reverse("dashboard:experiment_promote", args=[experiment.pk]), {"arm": "blend-test"})
    assert ModelVersion.objects.get(is_active=True).name == "blend-test"
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.STOPPED
