"""Experiments: creation rules, stable routing, serving per arm, stopping itself, the report."""
from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.utils import timezone

from recommender.experiments.selectors import experiment_report
from recommender.experiments.services import (
    ArmInput,
    ExperimentError,
    experiment_create,
    experiment_promote,
    experiment_stop,
)
from recommender.impressions.log import impressions_flush
from recommender.impressions.rollup import impression_metrics_refresh
from recommender.models import Experiment, Impression, ModelVersion
from recommender.serving import scenarios
from recommender.serving.experiments import arm_bucket, experiment_route

pytestmark = pytest.mark.django_db


def _ab(version="blend-test", scenario="home", **kw):
    return experiment_create(name="blend vs trained", scenario=scenario,
                             arms=[ArmInput("heuristic"), ArmInput(version)], **kw)


def test_the_hash_is_stable_and_splits_by_weight():
    # fixed values: the same customer lands in the same bucket on every machine and release
    assert arm_bucket("s1", "customer-42") == arm_bucket("s1", "customer-42") == 9898
    assert arm_bucket("s2", "customer-42") == 48
    buckets = [arm_bucket("salt", f"c{n}") for n in range(20_000)]
    share = sum(b < 5000 for b in buckets) / len(buckets)
    assert 0.49 < share < 0.51
    quarter = sum(b < 2500 for b in buckets) / len(buckets)
    assert 0.24 < quarter < 0.26


def test_customers_are_served_by_their_arm(trained, storefront):
    experiment = _ab()
    heuristic_name = scenarios.recommend_home(scenarios.Request()).model_version  # no customer: no arm
    served = {}
    for n in range(40):
        customer = f"shopper-{n}"
        body = storefront.get("/api/v1/recommendations/home", {"customer_id": customer, "k": 3}).json()
        route = experiment_route("home", customer)
        served[customer] = body["model_version"]
        assert route.experiment_id == experiment.pk
        assert body["model_version"] == (heuristic_name if route.arm == "heuristic blend" else "blend-test")
        # the same shopper again: the same arm
        assert storefront.get("/api/v1/recommendations/home", {"customer_id": customer}).json()["model_version"] \
            == body["model_version"]
    assert set(served.values()) == {heuristic_name, "blend-test"}
    impressions_flush()
    rows = Impression.objects.filter(customer_key="shopper-0")
    assert rows.count() == 2 and {r.experiment_id for r in rows} == {experiment.pk}
    assert {r.arm for r in rows} == {experiment_route("home", "shopper-0").arm}
    # outside the experiment's scenario and without a customer id: no arm
    assert experiment_route("feed", "shopper-0") is None and experiment_route("home", None) is None


def test_two_experiments_on_one_scenario_are_refused(trained):
    first = _ab()
    with pytest.raises(ExperimentError, match="'blend vs trained' is already running on home"):
        _ab()
    later = timezone.now() + timedelta(days=3)
    with pytest.raises(ExperimentError, match="already running"):
        _ab(starts_at=later)  # the first has no end: it overlaps every future start
    assert Experiment.objects.count() == 1
    _ab(scenario="feed")  # another scenario is fine
    experiment_stop(first)
    assert _ab().status == Experiment.Status.RUNNING


def test_bad_arms_are_refused(trained):
    with pytest.raises(ExperimentError, match="at least two arms"):
        experiment_create(name="x", scenario="home", arms=[ArmInput("heuristic")])
    with pytest.raises(ExperimentError, match="'nope' does not exist"):
        _ab(version="nope")
    with pytest.raises(ExperimentError, match="Experiments run on"):
        _ab(scenario="search")
    with pytest.raises(ExperimentError, match="each arm must differ"):
        experiment_create(name="x", scenario="home", arms=[ArmInput("blend-test"), ArmInput("blend-test")])
    assert Experiment.objects.count() == 0


def test_an_arm_whose_version_is_deleted_stops_the_experiment_and_serving_falls_back(trained, storefront):
    experiment = _ab()
    active_name = scenarios.recommend_home(scenarios.Request()).model_version  # no experiment without a customer
    ModelVersion.objects.filter(pk=trained.pk).delete()
    bodies = [storefront.get("/api/v1/recommendations/home", {"customer_id": f"s-{n}"}).json() for n in range(10)]
    assert {b["model_version"] for b in bodies} == {active_name}
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.STOPPED
    assert experiment.stop_reason == "stopped itself: arm 'blend-test': model version 'blend-test' was deleted"
    assert experiment_route("home", "s-1") is None


def test_the_report_compares_arms_and_promotes_the_winner(trained):
    experiment = _ab()
    arms = {a.name: a for a in experiment.arms.all()}
    now = timezone.now()
    impressions = []
    # control: 400 impressions, 40 converted; treatment: 400 impressions, 60 converted
    for arm, converted in (("heuristic blend", 40), ("blend-test", 60)):
        for n in range(400):
            impressions.append(Impression(request_id=f"{arm[:4]}{n:028d}", scenario="home", model_version=arm,
                                          experiment_id=experiment.pk, arm=arm, customer_key=f"{arm}-{n}",
                                          items=["E01"], shown_at=now))
    Impression.objects.bulk_create(impressions)
    from recommender.models import Attribution, Customer, Event, Item

    item = Item.objects.get(external_id="E01")
    for arm, converted in (("heuristic blend", 40), ("blend-test", 60)):
        for imp in Impression.objects.filter(arm=arm).order_by("id")[:converted]:
            customer = Customer.objects.create(external_id=imp.customer_key)
            event = Event.objects.create(customer=customer, item=item, event_type="purchase", timestamp=now, price=10)
            Attribution.objects.create(event=event, impression=imp, event_type="purchase", position=1, revenue=10,
                                       method="explicit", first_of_type=True)
    impression_metrics_refresh()
    report = experiment_report(experiment)
    control, treatment = report.arms
    assert (control.name, control.metrics.impressions, control.metrics.converted) == ("heuristic blend", 400, 40)
    assert (treatment.metrics.impressions, treatment.metrics.converted, treatment.metrics.revenue) == (400, 60, 600)
    uplift = treatment.uplifts["conversion"]
    assert uplift.difference == pytest.approx(0.05) and uplift.relative == pytest.approx(0.5)
    z = 0.05 / math.sqrt(0.125 * 0.875 / 200)  # pooled: 100 of 800 converted
    assert uplift.p_value == pytest.approx(math.erfc(z / math.sqrt(2))) and uplift.p_value == pytest.approx(0.0325, abs=1e-4)
    assert uplift.difference_ci[0] < 0.05 < uplift.difference_ci[1]
    assert report.needed_per_arm == 14751 and report.still_needed == 14751 - 400  # +10 % from 10 %
    assert arms["blend-test"].version == trained
    promoted = experiment_promote(experiment, "blend-test")
    assert promoted.is_active and ModelVersion.objects.get(is_active=True) == trained
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.STOPPED and "promoted arm 'blend-test'" in experiment.stop_reason
    with pytest.raises(ExperimentError, match="roll the active version back"):
        experiment_promote(experiment, "heuristic blend")


def test_a_scheduled_experiment_starts_when_its_time_comes_and_ends_at_its_end(trained):
    soon = timezone.now() + timedelta(hours=1)
    experiment = _ab(starts_at=soon, ends_at=soon + timedelta(days=1))
    assert experiment.status == Experiment.Status.SCHEDULED and experiment_route("home", "x") is None
    Experiment.objects.filter(pk=experiment.pk).update(starts_at=timezone.now() - timedelta(seconds=1))
    assert experiment_route("home", "x").experiment_id == experiment.pk
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.RUNNING
    Experiment.objects.filter(pk=experiment.pk).update(ends_at=timezone.now())
    assert experiment_route("home", "x") is None
    experiment.refresh_from_db()
    assert (experiment.status, experiment.stop_reason) == (Experiment.Status.STOPPED, "reached its end time")
