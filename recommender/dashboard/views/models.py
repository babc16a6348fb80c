"""Models: the registry of trained versions, their offline metrics, promotion and rollback."""
from __future__ import annotations

import json

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from recommender.models import ModelVersion
from recommender.training import selectors
from recommender.training.heuristic import heuristic_blend_current
from recommender.training.registry import RegistryError, model_version_promote, model_version_rollback

from .. import model_reports
from ..access import staff_required
from ..figures import epoch_loss_figure
from ..forms import CompareForm

VERSIONS_PER_PAGE = 50


def _pretty(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


@staff_required
@require_GET
def model_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.model_versions_for_list(), VERSIONS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [{"version": v, "verdict": model_reports.verdict(v.metrics)} for v in page.object_list]
    active = selectors.model_version_active_name()
    can_roll_back = selectors.promotion_last_with_previous(active) is not None
    return render(
        request,
        "dashboard/models/list.html",
        {
            "section": "models",
            "page": page,
            "rows": rows,
            "active": active,
            "can_roll_back": can_roll_back,
            "heuristic": None if active else heuristic_blend_current(),
            "promotions": selectors.promotions_recent(),
            "compare_form": CompareForm(versions=selectors.model_versions_for_compare(),
                                        initial=_compare_initial(page.object_list)),
            "query_prefix": "",
        },
    )


def _compare_initial(versions) -> dict:
    ids = [v.pk for v in versions]
    return {"a": ids[1], "b": ids[0]} if len(ids) >= 2 else {}


@staff_required
@require_GET
def model_detail(request: HttpRequest, version_id: int) -> HttpResponse:
    version = selectors.model_version_with_job(version_id)
    if version is None:
        raise Http404("No such model version.")
    series = model_reports.loss_series(version.epoch_losses)
    figure = epoch_loss_figure(series)
    metrics = version.metrics or {}
    return render(
        request,
        "dashboard/models/detail.html",
        {
            "section": "models",
            "version": version,
            "headline": model_reports.headline(metrics),
            "verdict": model_reports.verdict(metrics),
            "metric_help": model_reports.METRIC_HELP,
            "seeded_columns": [(model_reports.metric_label(m), model_reports.METRIC_HELP[m])
                               for m in ("ndcg@10", "recall@10", "coverage@10")],
            "tables": model_reports.metric_tables(metrics),
            "loss_figure": figure,
            "progress_lines": model_reports.progress_lines(version.epoch_losses),
            "config_json": _pretty(version.config),
            "snapshot_json": _pretty(version.data_snapshot),
            "timings": sorted((metrics.get("timings") or {}).items()),
            "served_note": metrics.get("served_model_note", ""),
            "fast": metrics.get("fast", False),
            "promotions": version.promotions.select_related("previous", "user")[:10],
            "others": selectors.model_version_others(version),
        },
    )


@staff_required
@require_http_methods(["GET", "POST"])
def model_promote(request: HttpRequest, version_id: int) -> HttpResponse:
    version = get_object_or_404(ModelVersion, pk=version_id)
    back = reverse("dashboard:model_detail", args=[version.pk])
    verdict = model_reports.verdict(version.metrics)
    # A version that did not beat the baselines is promoted only after an explicit second "yes".
    needs_yes = (version.status == ModelVersion.Status.READY and not verdict.passes
                 and request.POST.get("confirm") != "worse")
    if request.method == "GET" or needs_yes:
        active = selectors.model_version_active_name()
        current = active.name if active else "the heuristic blend (no trained version is active)"
        body = (f"Every storefront scenario switches from {current} to {version.name} within a few seconds. "
                f"You can roll back afterwards.")
        warning = "" if verdict.passes else f"This version did not earn its place: {verdict.reason} Promote it anyway?"
        return render(
            request,
            "dashboard/confirm.html",
            {
                "section": "models",
                "title": f"Promote {version.name}?",
                "body": body,
                "warning": warning,
                "details": verdict.details,
                "hidden": {} if verdict.passes else {"confirm": "worse"},
                "confirm_label": "Promote" if verdict.passes else "Promote anyway",
                "confirm_class": "primary" if verdict.passes else "danger",
                "back_url": back,
            },
        )
    try:
        model_version_promote(version, user=request.user,
                              note="" if verdict.passes else "promoted by hand although it did not pass the gate")
    except RegistryError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{version.name} is now the active model.")
    return redirect(back)


@staff_required
@require_http_methods(["GET", "POST"])
def model_rollback(request: HttpRequest) -> HttpResponse:
    back = reverse("dashboard:models")
    if request.method == "GET":
        active = selectors.model_version_active_name()
        last = selectors.promotion_last_with_previous(active)
        body = (f"{active.name} is active. Rolling back re-activates {last.previous.name}, the version active before it."
                if last else "There is no earlier active version to roll back to.")
        return render(request, "dashboard/confirm.html",
                      {"section": "models", "title": "Roll back the active model?", "body": body,
                       "confirm_label": "Roll back", "back_url": back})
    try:
        restored = model_version_rollback(user=request.user)
    except RegistryError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Rolled back: {restored.name} is the active model again.")
    return redirect(back)


@staff_required
@require_GET
def model_compare(request: HttpRequest) -> HttpResponse:
    versions = selectors.model_versions_for_compare()
    form = CompareForm(request.GET or None, versions=versions, initial=_compare_initial(versions))
    context = {"section": "models", "form": form}
    if form.is_bound and form.is_valid():
        a = selectors.model_version_with_job(form.cleaned_data["a"])
        b = selectors.model_version_with_job(form.cleaned_data["b"])
        context.update(
            a=a,
            b=b,
            headline_a=model_reports.headline(a.metrics),
            headline_b=model_reports.headline(b.metrics),
            deltas=model_reports.metric_deltas(a.metrics, b.metrics),
            config_diff=model_reports.config_diff(a.config, b.config),
        )
    return render(request, "dashboard/models/compare.html", context)
