"""Overview: catalog and traffic at a glance, the active model and the latest jobs."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from recommender.catalog.selectors import catalog_summary
from recommender.models import Job, ModelVersion

from ..access import staff_required


@staff_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "dashboard/home.html",
        {
            "section": "overview",
            "summary": catalog_summary(),
            "active_model": ModelVersion.objects.filter(is_active=True).only("name", "activated_at", "model_type").first(),
            "recent_jobs": Job.objects.defer("log", "result", "params", "error")[:8],
        },
    )
