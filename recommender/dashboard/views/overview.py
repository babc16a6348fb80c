"""Merchandiser pages. Views are thin: they call selectors and services."""
from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from recommender.catalog.selectors import catalog_summary


@staff_member_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/home.html", {"summary": catalog_summary()})
