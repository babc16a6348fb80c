"""Settings page and the weekly retraining schedule (django_celery_beat)."""
from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from recommender.models import RecommenderSettings
from recommender.training.schedule import (
    SCHEDULE_NAME,
    SCHEDULE_TASK,
    ScheduleInvalid,
    SettingsInvalid,
    ensure_default_schedule,
    hyperparameters_validate,
    recommender_settings_update,
    schedule_get,
    schedule_set,
)

pytestmark = pytest.mark.django_db


def test_schedule_get_without_a_row_reports_the_default_and_writes_nothing():
    data = schedule_get()
    assert (data["enabled"], data["day_of_week"], data["hour"], data["minute"], data["exists"]) == (True, 0, 3, 0, False)
    assert data["description"] == "every Sunday at 03:00 UTC"
    assert not PeriodicTask.objects.filter(name=SCHEDULE_NAME).exists()


def test_ensure_default_schedule_creates_once_and_keeps_changes():
    ensure_default_schedule()
    task = PeriodicTask.objects.get(name=SCHEDULE_NAME)
    assert (task.task, task.queue, task.enabled) == (SCHEDULE_TASK, "training", True)
    cron = task.crontab
    assert (cron.minute, cron.hour, cron.day_of_week, cron.day_of_month, cron.month_of_year, str(cron.timezone)) == ("0", "3", "0", "*", "*", "UTC")
    schedule_set(enabled=False, day_of_week=3, hour=22, minute=30)
    ensure_default_schedule()  # must not overwrite the merchandiser's choice
    data = schedule_get()
    assert (data["enabled"], data["day_of_week"], data["hour"], data["minute"], data["exists"]) == (False, 3, 22, 30, True)
    assert PeriodicTask.objects.filter(name=SCHEDULE_NAME).count() == 1


@pytest.mark.parametrize(
    "args,field",
    [((True, 7, 3, 0), "day_of_week"), ((True, 0, 24, 0), "hour"), ((True, 0, 3, 60), "minute"), ((True, "x", 3, 0), "day_of_week"), ((True, 0, 2.5, 0), "hour")],
)
def test_schedule_set_rejects_bad_values_and_changes_nothing(args, field):
    schedule_set(True, 1, 4, 0)
    with pytest.raises(ScheduleInvalid) as err:
        schedule_set(*args)
    assert err.value.field == field
    data = schedule_get()
    assert (data["day_of_week"], data["hour"], data["minute"]) == (1, 4, 0)


def test_hyperparameters_validate():
    assert hyperparameters_validate({"epochs": 5.0, "learning_rate": 0.01, "note": "x", "layers": [64, 32]}) == {
        "epochs": 5, "learning_rate": 0.01, "note": "x", "layers": [64, 32]
    }
    for bad, fragment in [
        ({"epochs": 0}, "from 1"),
        ({"epochs": 2.5}, "whole number"),
        ({"learning_rate": "fast"}, "must be a number"),
        ({"learning_rate": True}, "must be a number"),
        ({"dropout": 1.5}, "from 0"),
        ({"x": {"nested": 1}}, "number, string, boolean"),
        ({"x": float("inf")}, "finite"),
        ([1, 2], "JSON object"),
    ]:
        with pytest.raises(SettingsInvalid) as err:
            hyperparameters_validate(bad)
        assert fragment in err.value.message, bad


def test_recommender_settings_update_is_all_or_nothing():
    recommender_settings_update(default_hyperparameters={"epochs": 3}, auto_promote=True)
    with pytest.raises(SettingsInvalid):
        recommender_settings_update(default_hyperparameters={"epochs": -1}, auto_promote=False, in_stock_only=False)
    row = RecommenderSettings.load()
    assert (row.default_hyperparameters, row.auto_promote, row.in_stock_only) == ({"epochs": 3}, True, True)


def test_settings_page_round_trip(staff_client):
    html = staff_client.get(reverse("dashboard:settings")).content.decode()
    assert "every Sunday at 03:00 UTC" in html and "not saved yet" in html
    response = staff_client.post(
        reverse("dashboard:settings"),
        {"rs-default_hyperparameters": json.dumps({"epochs": 4, "batch_size": 256}), "rs-auto_promote": "on", "rs-in_stock_only": "on"},
    )
    assert response.status_code == 302
    row = RecommenderSettings.load()
    assert (row.default_hyperparameters, row.auto_promote, row.exclude_purchased, row.in_stock_only) == (
        {"epochs": 4, "batch_size": 256}, True, False, True
    )
    html = staff_client.get(reverse("dashboard:settings")).content.decode()
    assert "&quot;batch_size&quot;: 256" in html


@pytest.mark.parametrize(
    "text,fragment",
    [("{not json", "Not valid JSON"), ("[1, 2]", "Must be a JSON object"), ('{"epochs": 0}', "&#x27;epochs&#x27; must be from 1")],
)
def test_settings_page_shows_json_errors_inline(staff_client, text, fragment):
    response = staff_client.post(reverse("dashboard:settings"), {"rs-default_hyperparameters": text, "rs-auto_promote": "on"})
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_rs-default_hyperparameters_error"' in html
    assert fragment in html
    assert 'aria-invalid="true"' in html
    assert RecommenderSettings.load().auto_promote is False


def test_schedule_form_round_trip_and_errors(staff_client):
    response = staff_client.post(reverse("dashboard:schedule_update"), {"sch-enabled": "on", "sch-day_of_week": "5", "sch-hour": "2", "sch-minute": "15"})
    assert response.status_code == 302
    data = schedule_get()
    assert (data["enabled"], data["day_of_week"], data["hour"], data["minute"]) == (True, 5, 2, 15)
    assert "every Friday at 02:15 UTC" in staff_client.get(reverse("dashboard:settings")).content.decode()

    response = staff_client.post(reverse("dashboard:schedule_update"), {"sch-day_of_week": "5", "sch-hour": "25", "sch-minute": "0"})
    assert response.status_code == 400
    assert 'id="id_sch-hour_error"' in response.content.decode()
    assert schedule_get()["hour"] == 2

    staff_client.post(reverse("dashboard:schedule_update"), {"sch-day_of_week": "0", "sch-hour": "3", "sch-minute": "0"})
    task = PeriodicTask.objects.get(name=SCHEDULE_NAME)
    assert task.enabled is False
    assert CrontabSchedule.objects.filter(pk=task.crontab_id, day_of_week="0", hour="3").exists()


def test_the_time_zone_lookup_never_fails_a_page_while_the_database_is_down(db):
    """The middleware reads it before the view: a database error there would be a 500 instead
    of the view's 503 "try again" page. It falls back to UTC and caches nothing."""
    from unittest import mock

    from django.core.cache import cache
    from django.db import OperationalError

    from recommender.dashboard import timezones

    cache.delete(timezones.CACHE_KEY)
    with mock.patch.object(timezones.RecommenderSettings.objects, "filter", side_effect=OperationalError("down")):
        assert timezones.merchandiser_time_zone_name() == "UTC"
    assert cache.get(timezones.CACHE_KEY) is None
