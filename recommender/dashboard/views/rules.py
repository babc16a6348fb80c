"""Merchandising rules: list, create, edit, delete. Validation lives in rule_services."""
from __future__ import annotations

from django.contrib import messages
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from recommender.models import Item, ItemImage, MerchandisingRule
from recommender.serving.rule_services import RuleInvalid, rule_create, rule_delete, rule_update

from ..access import staff_required
from ..forms import RULE_SCENARIOS, RuleForm

SCENARIO_LABELS = dict(RULE_SCENARIOS)


def _rule_state(rule: MerchandisingRule, now) -> str:
    if not rule.is_enabled:
        return "disabled"
    if rule.starts_at and rule.starts_at > now:
        return "scheduled"
    if rule.ends_at and rule.ends_at <= now:
        return "ended"
    return "active"


@staff_required
@require_GET
def rule_list(request: HttpRequest) -> HttpResponse:
    rules = list(MerchandisingRule.objects.all())
    item_ids = {r.value for r in rules if r.target == MerchandisingRule.Target.ITEM}
    items = {
        item.external_id: item
        for item in Item.objects.filter(external_id__in=item_ids).prefetch_related(
            Prefetch("images", queryset=ItemImage.objects.order_by("position", "id"))
        )
    }
    now = timezone.now()
    rows = [
        {
            "rule": r,
            "state": _rule_state(r, now),
            "item": items.get(r.value) if r.target == MerchandisingRule.Target.ITEM else None,
            "scenarios": [SCENARIO_LABELS.get(s, s) for s in r.scenarios or []],
        }
        for r in rules
    ]
    return render(request, "dashboard/rules/list.html", {"section": "rules", "rows": rows})


def _save(request: HttpRequest, form: RuleForm, rule: MerchandisingRule | None) -> MerchandisingRule | None:
    if not form.is_valid():
        return None
    try:
        if rule is None:
            return rule_create(**form.cleaned_data)
        return rule_update(rule, **form.cleaned_data)
    except RuleInvalid as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return None


@staff_required
@require_http_methods(["GET", "POST"])
def rule_new(request: HttpRequest) -> HttpResponse:
    form = RuleForm(request.POST or None)
    if request.method == "POST":
        rule = _save(request, form, None)
        if rule is not None:
            messages.success(request, f"Rule “{rule.name}” created.")
            return redirect("dashboard:rules")
    return render(request, "dashboard/rules/form.html", {"section": "rules", "form": form, "rule": None})


@staff_required
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(MerchandisingRule, pk=rule_id)
    form = RuleForm(request.POST or None, initial=RuleForm.initial_from(rule))
    if request.method == "POST":
        if _save(request, form, rule) is not None:
            messages.success(request, f"Rule “{rule.name}” saved.")
            return redirect("dashboard:rules")
    return render(request, "dashboard/rules/form.html", {"section": "rules", "form": form, "rule": rule})


@staff_required
@require_http_methods(["GET", "POST"])
def rule_delete_view(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(MerchandisingRule, pk=rule_id)
    if request.method == "GET":
        return render(
            request,
            "dashboard/confirm.html",
            {
                "section": "rules",
                "title": f"Delete rule “{rule.name}”?",
                "body": "Recommendations stop applying it at once. To pause a rule instead, edit it and untick “Enabled”.",
                "confirm_label": "Delete rule",
                "back_url": reverse("dashboard:rules"),
            },
        )
    name = rule.name
    rule_delete(rule)
    messages.success(request, f"Rule “{name}” deleted.")
    return redirect("dashboard:rules")
