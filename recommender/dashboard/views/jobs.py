"""Jobs: every long-running job with live progress, its log, and cancellation."""
from __future__ import annotations

import json
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from recommender.embeddings.services import catalog_embedding_start
from recommender.jobs.services import job_request_cancel
from recommender.models import Job, RecommenderSettings
from recommender.training.services import TrainingAlreadyRunning, TrainingConfigError, training_config, training_run_start

from ..access import staff_required, staff_required_json
from ..forms import EmbedCatalogForm, TrainModelForm

JOBS_PER_PAGE = 50
STATUS_LOG_TAIL = 200


def eta_text(seconds: float | None) -> str:
    """'about 4 min left' for people; '' while unknown."""
    if seconds is None:
        return ""
    if seconds < 60:
        return "less than a minute left"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min left"
    return f"about {minutes // 60} h {minutes % 60:02d} min left"


def steps_text(steps: list[dict]) -> str:
    """'epoch 3 of 10 · batch 120 of 400'."""
    return " · ".join(f"{s['unit']} {s['done']:,} of {s['total']:,}" for s in steps or [] if s.get("total"))


def without_server_paths(value):
    """Job params and results for the page: absolute file paths shortened to their last two parts.

    Where the server keeps its files is none of the page's business (and a long path made
    the page 2,400 px wide).
    """
    if isinstance(value, dict):
        return {k: without_server_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_server_paths(v) for v in value]
    if isinstance(value, str) and value.startswith("/") and "/" in value[1:] and " " not in value:
        parts = [p for p in value.split("/") if p]
        return "…/" + "/".join(parts[-2:])
    return value


def job_status_payload(job: Job) -> dict:
    return {
        "id": job.pk,
        "kind": job.kind,
        "kind_label": job.get_kind_display(),
        "status": job.status,
        "status_label": job.get_status_display(),
        "progress": round(job.progress, 4),
        "message": job.message,
        "steps": job.steps,
        "steps_text": steps_text(job.steps),
        "eta_seconds": None if job.eta_seconds is None else round(job.eta_seconds, 1),
        "eta_text": eta_text(job.eta_seconds) if not job.is_finished else "",
        "error": job.error,
        "cancel_requested": job.cancel_requested,
        "is_finished": job.is_finished,
        "duration_seconds": job.duration_seconds,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "log": list(job.log)[-STATUS_LOG_TAIL:],
        "result": without_server_paths(job.result),
    }


@staff_required
@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    kind = request.GET.get("kind", "")
    qs = Job.objects.select_related("created_by").defer("log", "result", "params", "error")
    if status in Job.Status.values:
        qs = qs.filter(status=status)
    if kind in Job.Kind.values:
        qs = qs.filter(kind=kind)
    page = Paginator(qs, JOBS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "dashboard/jobs/list.html",
        {
            "section": "jobs",
            "page": page,
            "status": status,
            "kind": kind,
            "statuses": Job.Status.choices,
            "kinds": Job.Kind.choices,
            "filter_query": urlencode({k: v for k, v in (("status", status), ("kind", kind)) if v}, doseq=False)
            + ("&" if status or kind else ""),
            "embed_form": EmbedCatalogForm(),
            "train_form": _train_form(request),
        },
    )


@staff_required
@require_GET
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(Job.objects.select_related("created_by"), pk=job_id)
    return render(
        request,
        "dashboard/jobs/detail.html",
        {
            "section": "jobs",
            "job": job,
            "params_json": json.dumps(without_server_paths(job.params), indent=2, sort_keys=True, default=str, ensure_ascii=False),
            "result_json": json.dumps(without_server_paths(job.result), indent=2, sort_keys=True, default=str, ensure_ascii=False),
            "steps_text": steps_text(job.steps),
            "eta_text": eta_text(job.eta_seconds) if not job.is_finished else "",
        },
    )


@staff_required_json
@require_GET
def job_status(request: HttpRequest, job_id: int) -> JsonResponse:
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        return JsonResponse({"error": f"job {job_id} does not exist"}, status=404)
    response = JsonResponse(job_status_payload(job))
    response["Cache-Control"] = "no-store"
    return response


@staff_required
@require_http_methods(["GET", "POST"])
def job_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(Job, pk=job_id)
    if request.method == "GET":
        return render(
            request,
            "dashboard/confirm.html",
            {
                "section": "jobs",
                "title": f"Cancel job #{job.pk}?",
                "body": f"{job.get_kind_display()} is {job.get_status_display().lower()}. "
                "A queued job stops at once; a running one stops at its next progress report.",
                "confirm_label": "Cancel job",
                "back_url": job_url(job),
            },
        )
    if job.is_finished:
        messages.warning(request, f"Job #{job.pk} already {job.get_status_display().lower()}; nothing to cancel.")
        return redirect(job_url(job))
    job = job_request_cancel(job)
    if job.status == Job.Status.CANCELLED:
        messages.success(request, f"Job #{job.pk} was cancelled.")
    else:
        messages.success(request, f"Cancellation requested; job #{job.pk} stops at its next progress report.")
    return redirect(job_url(job))


def job_url(job: Job) -> str:
    return reverse("dashboard:job_detail", args=[job.pk])


# --- starting jobs ----------------------------------------------------------------------------


def _train_form(request: HttpRequest, data=None) -> TrainModelForm:
    """Pre-filled with the defaults a run would use: TrainConfig, then the Settings page's overrides."""
    from recommender.ml.config import TrainConfig

    try:
        # training_config() creates the settings row when missing; a page view should not write,
        # and without the row the defaults are exactly TrainConfig's.
        defaults = training_config() if RecommenderSettings.objects.filter(pk=1).exists() else TrainConfig()
    except TrainingConfigError as exc:
        # Broken defaults on the Settings page must not hide the form; say so and start from the code's defaults.
        if data is None:
            messages.warning(request, f"The default hyperparameters on the Settings page are invalid ({exc.message}); "
                                      "the form shows the built-in defaults.")
        defaults = TrainConfig()
    return TrainModelForm(data, initial=TrainModelForm.initial_from(defaults))


@staff_required
@require_http_methods(["GET", "POST"])
def embed_start(request: HttpRequest) -> HttpResponse:
    form = EmbedCatalogForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        before = Job.objects.filter(kind=Job.Kind.EMBED_CATALOG, status__in=Job.ACTIVE_STATUSES).values_list("pk", flat=True).first()
        job = catalog_embedding_start(user=request.user, **form.cleaned_data)
        if before == job.pk:
            messages.warning(request, f"Catalog embedding is already {job.get_status_display().lower()} (job #{job.pk}); "
                                      "showing it instead of starting another.")
        else:
            messages.success(request, f"Catalog embedding queued (job #{job.pk}).")
        return redirect(job_url(job))
    return render(request, "dashboard/jobs/start.html",
                  {"section": "jobs", "form": form, "title": "Embed catalog", "action": reverse("dashboard:embed_start"),
                   "submit": "Start embedding"})


@staff_required
@require_http_methods(["GET", "POST"])
def train_start(request: HttpRequest) -> HttpResponse:
    form = _train_form(request, request.POST if request.method == "POST" else None)
    running = None
    if request.method == "POST" and form.is_valid():
        try:
            version = training_run_start(config=form.config(), user=request.user, fast=form.cleaned_data["fast"])
        except TrainingConfigError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        except TrainingAlreadyRunning as exc:
            running = exc.job
            form.add_error(None, f"A training run is already in progress (job #{exc.job.pk}). "
                                 "Wait for it to finish or cancel it, then start again.")
        else:
            messages.success(request, f"Training run {version.name} queued (job #{version.job_id}).")
            return redirect(reverse("dashboard:job_detail", args=[version.job_id]))
    return render(request, "dashboard/jobs/start.html",
                  {"section": "jobs", "form": form, "title": "Train model", "action": reverse("dashboard:train_start"),
                   "submit": "Start training", "running": running})
