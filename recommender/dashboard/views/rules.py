"""Merchandising rules: list, create, edit, delete. Validation lives in rule_services."""
from __future__ import annotations

from django.contrib import messages
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from dataclasses import replace

from django.views.decorators.http import require_GET, require_http_methods, require_POST

from recommender.models import Item, ItemImage, MerchandisingRule
from recommender.serving import scenarios
from recommender.serving.rule_services import RuleInvalid, rule_create, rule_delete, rule_draft, rule_update
from recommender.serving.rules import rules_drafted

from .. import selectors
from ..access import staff_required
from ..forms import RULE_SCENARIOS, RuleForm
from .preview import Column, mark_differences, run_columns

PREVIEW_K = 12
PREVIEW_SCENARIOS = {"home": "Home", "feed": "Feed (first page)"}

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


def _form_context(form: RuleForm, rule: MerchandisingRule | None) -> dict:
    return {"section": "rules", "form": form, "rule": rule, "choices": selectors.rule_value_choices(),
            "preview_scenarios": PREVIEW_SCENARIOS.items()}


@staff_required
@require_POST
def rule_preview(request: HttpRequest) -> HttpResponse:
    """The unsaved rule's effect: one scenario now, and with the rule, side by side. Writes nothing."""
    form = RuleForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(f"{form.fields[f].label or f}: {' '.join(e)}" if f in form.fields else " ".join(e)
                           for f, e in form.errors.items())
        # 200: an answer for the form's preview box (a 4xx fetch also logs a console error).
        return render(request, "dashboard/preview/_empty.html", {"message": f"Fix the form first -- {errors}", "error": True})
    try:
        draft = rule_draft(**form.cleaned_data)
    except RuleInvalid as exc:
        return render(request, "dashboard/preview/_empty.html", {"message": f"Fix the form first -- {exc.message}", "error": True})
    notes = []
    scenario = request.POST.get("preview_scenario") if request.POST.get("preview_scenario") in PREVIEW_SCENARIOS else "home"
    if draft.scenarios and scenario not in draft.scenarios:
        notes.append(f"This rule does not apply to {PREVIEW_SCENARIOS[scenario]}: both lists are the same.")
    if draft.starts_at or draft.ends_at:
        notes.append("Shown as if the rule's time window were open now.")
        draft = replace(draft, starts_at=None, ends_at=None)
    if not form.cleaned_data.get("is_enabled"):
        notes.append("The rule is not enabled: saved like this, it changes nothing. Shown as if enabled.")
    rule_id = request.POST.get("rule_id", "")
    replacing = {int(rule_id)} if rule_id.isdigit() else set()
    customer = (request.POST.get("preview_customer") or "").strip() or None
    req = scenarios.Request(customer_id=customer, k=PREVIEW_K)

    def answer(_version):
        if scenario == "feed":
            return scenarios.feed_page(req, PREVIEW_K, None)
        return scenarios.recommend_home(req)

    before, after = Column("Now", ""), Column("With this rule", "")
    run_columns([before], answer)  # what shoppers get now, the saved version of an edited rule included
    with rules_drafted([draft], replacing=replacing):
        run_columns([after], answer)
    columns = [before, after]
    mark_differences(columns)
    return render(request, "dashboard/rules/_preview.html",
                  {"columns": columns, "notes": notes, "scenario": PREVIEW_SCENARIOS[scenario], "customer": customer})


@staff_required
@require_http_methods(["GET", "POST"])
def rule_new(request: HttpRequest) -> HttpResponse:
    form = RuleForm(request.POST or None)
    if request.method == "POST":
        rule = _save(request, form, None)
        if rule is not None:
            messages.success(request, f"Rule “{rule.name}” created.")
            return redirect("dashboard:rules")
    return render(request, "dashboard/rules/form.html", _form_context(form, None))


@staff_required
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(MerchandisingRule, pk=rule_id)
    form = RuleForm(request.POST or None, initial=RuleForm.initial_from(rule))
    if request.method == "POST":
        if _save(request, form, rule) is not None:
            messages.success(request, f"Rule “{rule.name}” saved.")
            return redirect("dashboard:rules")
    return render(request, "dashboard/rules/form.html", _form_context(form, rule))


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
