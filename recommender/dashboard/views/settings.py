"""Settings: recommender knobs and the weekly retraining schedule."""
from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from recommender.models import RecommenderSettings
from recommender.training.schedule import (
    ScheduleInvalid,
    SettingsInvalid,
    recommender_settings_update,
    schedule_get,
    schedule_set,
)

from ..access import staff_required
from ..forms import RecommenderSettingsForm, ScheduleForm
from ..timezones import merchandiser_time_zone_forget


def _settings_initial() -> dict:
    row = RecommenderSettings.load()
    return {
        "default_hyperparameters": row.default_hyperparameters,
        "auto_promote": row.auto_promote,
        "exclude_purchased": row.exclude_purchased,
        "in_stock_only": row.in_stock_only,
        "time_zone": row.time_zone,
    }


def _page(request: HttpRequest, settings_form=None, schedule_form=None, status: int = 200) -> HttpResponse:
    schedule = schedule_get()
    return render(
        request,
        "dashboard/settings/page.html",
        {
            "section": "settings",
            "settings_form": settings_form or RecommenderSettingsForm(initial=_settings_initial(), prefix="rs"),
            "schedule_form": schedule_form or ScheduleForm(initial=schedule, prefix="sch"),
            "schedule": schedule,
        },
        status=status,
    )


@staff_required
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request)
    form = RecommenderSettingsForm(request.POST, prefix="rs")
    if form.is_valid():
        try:
            recommender_settings_update(**form.cleaned_data)
        except SettingsInvalid as exc:
            form.add_error(exc.field, exc.message)
        else:
            merchandiser_time_zone_forget()
            messages.success(request, "Recommender settings saved.")
            return redirect("dashboard:settings")
    return _page(request, settings_form=form, status=400)


@staff_required
@require_POST
def schedule_update(request: HttpRequest) -> HttpResponse:
    form = ScheduleForm(request.POST, prefix="sch")
    if form.is_valid():
        try:
            schedule = schedule_set(**form.cleaned_data)
        except ScheduleInvalid as exc:
            form.add_error(exc.field, exc.message)
        else:
            state = "enabled" if schedule["enabled"] else "disabled"
            messages.success(request, f"Weekly retraining {state}: {schedule['description']}.")
            return redirect("dashboard:settings")
    return _page(request, schedule_form=form, status=400)
