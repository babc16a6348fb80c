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

from recommender.jobs.services import job_request_cancel
from recommender.models import Job

from ..access import staff_required, staff_required_json

JOBS_PER_PAGE = 50
STATUS_LOG_TAIL = 200


def job_status_payload(job: Job) -> dict:
    return {
        "id": job.pk,
        "kind": job.kind,
        "kind_label": job.get_kind_display(),
        "status": job.status,
        "status_label": job.get_status_display(),
        "progress": round(job.progress, 4),
        "message": job.message,
        "error": job.error,
        "cancel_requested": job.cancel_requested,
        "is_finished": job.is_finished,
        "duration_seconds": job.duration_seconds,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "log": list(job.log)[-STATUS_LOG_TAIL:],
        "result": job.result,
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
            "params_json": json.dumps(job.params, indent=2, sort_keys=True, default=str),
            "result_json": json.dumps(job.result, indent=2, sort_keys=True, default=str),
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
