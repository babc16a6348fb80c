"""Overview: catalog and traffic at a glance, the active model and the latest jobs."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from recommender.catalog.selectors import catalog_summary
from recommender.models import Job, ModelVersion

from ..access import staff_required
from ..selectors import dashboard_cached


@staff_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "dashboard/home.html",
        {
            "section": "overview",
            # Counting 100k+ rows on every visit is wasteful; a minute-old overview is fine.
            "summary": dashboard_cached("overview_summary", catalog_summary, seconds=60),
            "active_model": ModelVersion.objects.filter(is_active=True).only("name", "activated_at", "model_type").first(),
            "recent_jobs": Job.objects.defer("log", "result", "params", "error")[:8],
        },
    )
