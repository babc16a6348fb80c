"""Live metrics and A/B experiments: thin views over the impressions and experiments services."""
from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from recommender.experiments.selectors import experiment_report
from recommender.experiments.services import (
    ArmInput,
    ExperimentError,
    experiment_create,
    experiment_promote,
    experiment_stop,
)
from recommender.impressions.selectors import live_metrics
from recommender.models import Experiment, ModelVersion
from recommender.serving.experiments import EXPERIMENT_SCENARIOS

from ..access import staff_required
from ..forms import ExperimentForm

LIVE_DAYS = 14


def _form(data=None) -> ExperimentForm:
    versions = list(ModelVersion.objects.filter(status=ModelVersion.Status.READY).values_list("name", flat=True)[:50])
    return ExperimentForm(data, scenarios=EXPERIMENT_SCENARIOS, versions=versions)


def _page(request: HttpRequest, form: ExperimentForm, status: int = 200) -> HttpResponse:
    return render(request, "dashboard/experiments/list.html", {
        "section": "experiments",
        "live": live_metrics(LIVE_DAYS),
        "live_days": LIVE_DAYS,
        "experiments": Experiment.objects.prefetch_related("arms")[:50],
        "form": form,
    }, status=status)


@staff_required
@require_GET
def experiment_list(request: HttpRequest) -> HttpResponse:
    return _page(request, _form())


@staff_required
@require_POST
def experiment_new(request: HttpRequest) -> HttpResponse:
    form = _form(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    data = form.cleaned_data
    try:
        experiment = experiment_create(
            name=data["name"], scenario=data["scenario"], starts_at=data.get("starts_at"), ends_at=data.get("ends_at"),
            min_effect=data["min_effect"],
            arms=[ArmInput(version, weight) for version, weight in data["arm_list"]])
    except ExperimentError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return _page(request, form, status=400)
    messages.success(request, f"Experiment '{experiment.name}' is {experiment.status} on {experiment.scenario}.")
    return redirect("dashboard:experiment_detail", experiment_id=experiment.pk)


@staff_required
@require_GET
def experiment_detail(request: HttpRequest, experiment_id: int) -> HttpResponse:
    experiment = get_object_or_404(Experiment.objects.prefetch_related("arms__version"), pk=experiment_id)
    return render(request, "dashboard/experiments/detail.html", {
        "section": "experiments", "report": experiment_report(experiment), "experiment": experiment,
    })


@staff_required
@require_POST
def experiment_stop_view(request: HttpRequest, experiment_id: int) -> HttpResponse:
    experiment = get_object_or_404(Experiment, pk=experiment_id)
    try:
        experiment_stop(experiment, reason=f"stopped by {request.user.get_username()}")
        messages.success(request, f"Experiment '{experiment.name}' stopped; everyone gets the active version.")
    except ExperimentError as exc:
        messages.error(request, exc.message)
    return redirect("dashboard:experiment_detail", experiment_id=experiment.pk)


@staff_required
@require_POST
def experiment_promote_view(request: HttpRequest, experiment_id: int) -> HttpResponse:
    experiment = get_object_or_404(Experiment, pk=experiment_id)
    try:
        version = experiment_promote(experiment, request.POST.get("arm", ""), user=request.user)
        messages.success(request, f"{version.name} is now active and the experiment is stopped.")
    except ExperimentError as exc:
        messages.error(request, exc.message)
    return redirect("dashboard:experiment_detail", experiment_id=experiment.pk)
