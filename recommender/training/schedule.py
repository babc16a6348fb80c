"""Training knobs the merchandiser edits: the weekly retraining schedule and the defaults.

The schedule is a django_celery_beat ``PeriodicTask`` so the beat scheduler (database
scheduler) picks up a change without a restart. Everything here is in UTC.
"""
from __future__ import annotations

import math
import zoneinfo
from typing import Any

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from recommender.models import RecommenderSettings

SCHEDULE_NAME = "weekly-retraining"
SCHEDULE_TASK = "recommender.tasks.training.scheduled_training_task"
SCHEDULE_QUEUE = "training"
SCHEDULE_TIMEZONE = "UTC"
DEFAULT_SCHEDULE = {"enabled": True, "day_of_week": 0, "hour": 3, "minute": 0}  # Sunday 03:00 UTC
WEEKDAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")

# Known hyperparameters and their allowed ranges: (type, min, max). Unknown keys are kept
# (the trainer may grow new ones) but must still be plain JSON scalars or lists of them.
HYPERPARAMETER_RULES: dict[str, tuple[type, float, float]] = {
    "learning_rate": (float, 1e-7, 1.0),
    "pretrain_learning_rate": (float, 1e-7, 1.0),
    "finetune_learning_rate": (float, 1e-7, 1.0),
    "weight_decay": (float, 0.0, 1.0),
    "dropout": (float, 0.0, 0.95),
    "epochs": (int, 1, 1000),
    "pretrain_epochs": (int, 0, 1000),
    "finetune_epochs": (int, 0, 1000),
    "batch_size": (int, 1, 65536),
    "embedding_dim": (int, 1, 1024),
    "negatives": (int, 0, 1000),
    "patience": (int, 0, 1000),
    "seed": (int, 0, 2**31 - 1),
}


class ScheduleInvalid(ValueError):
    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class SettingsInvalid(ScheduleInvalid):
    """A recommender setting failed validation; ``field`` names it."""


def _describe(day_of_week: int, hour: int, minute: int) -> str:
    return f"every {WEEKDAY_NAMES[day_of_week]} at {hour:02d}:{minute:02d} UTC"


def schedule_get() -> dict[str, Any]:
    """The weekly retraining schedule; the default (not yet saved) when none exists."""
    task = PeriodicTask.objects.select_related("crontab").filter(name=SCHEDULE_NAME).first()
    if task is None or task.crontab is None:
        data = dict(DEFAULT_SCHEDULE, exists=False, last_run_at=None, total_run_count=0)
    else:
        cron = task.crontab
        try:
            day, hour, minute = int(cron.day_of_week), int(cron.hour), int(cron.minute)
        except ValueError:
            # Edited by hand (e.g. in the admin) into something that is not one weekly slot.
            day, hour, minute = DEFAULT_SCHEDULE["day_of_week"], DEFAULT_SCHEDULE["hour"], DEFAULT_SCHEDULE["minute"]
        data = {
            "enabled": task.enabled,
            "day_of_week": day,
            "hour": hour,
            "minute": minute,
            "exists": True,
            "last_run_at": task.last_run_at,
            "total_run_count": task.total_run_count,
        }
    data["description"] = _describe(data["day_of_week"], data["hour"], data["minute"])
    data["task"] = SCHEDULE_TASK
    data["queue"] = SCHEDULE_QUEUE
    return data


def _validate(day_of_week: Any, hour: Any, minute: Any) -> tuple[int, int, int]:
    values = []
    for field, value, high in (("day_of_week", day_of_week, 6), ("hour", hour, 23), ("minute", minute, 59)):
        if isinstance(value, bool):
            raise ScheduleInvalid(field, f"must be a whole number from 0 to {high}")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ScheduleInvalid(field, f"'{value}' is not a whole number") from None
        if number != value and str(number) != str(value).strip():
            raise ScheduleInvalid(field, f"'{value}' is not a whole number")
        if not 0 <= number <= high:
            raise ScheduleInvalid(field, f"must be from 0 to {high}, got {number}")
        values.append(number)
    return values[0], values[1], values[2]


def schedule_set(enabled: bool, day_of_week: int, hour: int, minute: int = 0) -> dict[str, Any]:
    """Create or update the weekly retraining task. ``day_of_week``: 0 = Sunday ... 6 = Saturday."""
    day, hour, minute = _validate(day_of_week, hour, minute)
    with transaction.atomic():
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=str(minute),
            hour=str(hour),
            day_of_week=str(day),
            day_of_month="*",
            month_of_year="*",
            timezone=SCHEDULE_TIMEZONE,
        )
        task = PeriodicTask.objects.select_for_update().filter(name=SCHEDULE_NAME).first()
        if task is None:
            task = PeriodicTask(name=SCHEDULE_NAME)
        task.task = SCHEDULE_TASK
        task.crontab = crontab
        task.interval = None
        task.solar = None
        task.clocked = None
        task.queue = SCHEDULE_QUEUE
        task.enabled = bool(enabled)
        task.description = f"Retrain the recommender {_describe(day, hour, minute)}."
        task.save()
    return schedule_get()


def ensure_default_schedule() -> dict[str, Any]:
    """Create the default schedule (weekly, Sunday 03:00 UTC, enabled) unless one exists."""
    if not PeriodicTask.objects.filter(name=SCHEDULE_NAME, crontab__isnull=False).exists():
        return schedule_set(**DEFAULT_SCHEDULE)
    return schedule_get()


def hyperparameters_validate(params: Any) -> dict[str, Any]:
    """Check a hyperparameter dict: known keys are type- and range-checked, every value plain JSON."""
    if not isinstance(params, dict):
        raise SettingsInvalid("default_hyperparameters", "must be a JSON object")
    cleaned: dict[str, Any] = {}
    for key, value in params.items():
        if not isinstance(key, str) or not key.strip():
            raise SettingsInvalid("default_hyperparameters", f"key {key!r} must be a non-empty string")
        if key in HYPERPARAMETER_RULES:
            kind, low, high = HYPERPARAMETER_RULES[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SettingsInvalid("default_hyperparameters", f"'{key}' must be a number, got {value!r}")
            if kind is int and (not float(value).is_integer()):
                raise SettingsInvalid("default_hyperparameters", f"'{key}' must be a whole number, got {value!r}")
            if not math.isfinite(value) or not low <= value <= high:
                raise SettingsInvalid("default_hyperparameters", f"'{key}' must be from {low:g} to {high:g}, got {value!r}")
            cleaned[key] = int(value) if kind is int else float(value)
        else:
            _check_plain(key, value)
            cleaned[key] = value
    return cleaned


def _check_plain(key: str, value: Any, depth: int = 0) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise SettingsInvalid("default_hyperparameters", f"'{key}' must be a finite number")
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if isinstance(value, list) and depth == 0:
        for v in value:
            _check_plain(key, v, depth + 1)
        return
    raise SettingsInvalid("default_hyperparameters", f"'{key}' must be a number, string, boolean or a list of them")


def recommender_settings_update(
    *,
    default_hyperparameters: dict[str, Any] | None = None,
    auto_promote: bool | None = None,
    exclude_purchased: bool | None = None,
    in_stock_only: bool | None = None,
    time_zone: str | None = None,
) -> RecommenderSettings:
    """Update the given settings (``None`` = leave unchanged); nothing is saved if any value is invalid."""
    changes: dict[str, Any] = {}
    if time_zone is not None:
        if time_zone not in zoneinfo.available_timezones() and time_zone != "UTC":
            raise SettingsInvalid("time_zone", f"Unknown time zone '{time_zone}'; use an IANA name such as Europe/Stockholm.")
        changes["time_zone"] = time_zone
    if default_hyperparameters is not None:
        changes["default_hyperparameters"] = hyperparameters_validate(default_hyperparameters)
    for name, value in (("auto_promote", auto_promote), ("exclude_purchased", exclude_purchased), ("in_stock_only", in_stock_only)):
        if value is not None:
            changes[name] = bool(value)
    with transaction.atomic():
        settings_row = RecommenderSettings.load()
        settings_row = RecommenderSettings.objects.select_for_update().get(pk=settings_row.pk)
        for name, value in changes.items():
            setattr(settings_row, name, value)
        settings_row.save()
    return settings_row
