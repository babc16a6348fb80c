"""Storefront API keys: create (secret shown once), list, revoke."""
from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from recommender.models import ApiKey
from recommender.serving.api_keys import api_key_create, api_key_revoke, api_keys_list
from recommender.serving.errors import DomainError

from ..access import staff_required
from ..forms import ApiKeyCreateForm

# The secret travels from the create POST to the result page in the session and is removed
# when that page is rendered: a reload or a second visit never shows it again.
SESSION_SECRET_KEY = "dashboard_new_api_key_secret"


@staff_required
@require_GET
def api_key_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "dashboard/api_keys/list.html",
        {"section": "api_keys", "keys": api_keys_list(), "form": ApiKeyCreateForm(), "now": timezone.now()},
    )


@staff_required
@require_http_methods(["GET", "POST"])
def api_key_new(request: HttpRequest) -> HttpResponse:
    form = ApiKeyCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created = api_key_create(
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                user=request.user,
                expires_at=form.cleaned_data["expires_at"],
            )
        except DomainError as exc:
            form.add_error(exc.field, exc.message)
        else:
            request.session[SESSION_SECRET_KEY] = {"id": created.key.pk, "secret": created.secret}
            return redirect("dashboard:api_key_created", key_id=created.key.pk)
    return render(request, "dashboard/api_keys/new.html", {"section": "api_keys", "form": form})


@staff_required
@require_GET
def api_key_created(request: HttpRequest, key_id: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=key_id)
    stash = request.session.pop(SESSION_SECRET_KEY, None)
    secret = stash["secret"] if stash and stash.get("id") == key.pk else None
    response = render(request, "dashboard/api_keys/created.html", {"section": "api_keys", "key": key, "secret": secret})
    response["Cache-Control"] = "no-store"
    return response


@staff_required
@require_http_methods(["GET", "POST"])
def api_key_revoke_view(request: HttpRequest, key_id: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=key_id)
    if request.method == "GET":
        return render(
            request,
            "dashboard/confirm.html",
            {
                "section": "api_keys",
                "title": f"Revoke key “{key.name}”?",
                "body": f"Requests using {key.prefix}… will be refused at once. This cannot be undone.",
                "confirm_label": "Revoke key",
                "back_url": reverse("dashboard:api_keys"),
            },
        )
    if key.revoked_at is not None:
        messages.warning(request, f"Key “{key.name}” was already revoked.")
    else:
        api_key_revoke(key)
        messages.success(request, f"Key “{key.name}” ({key.prefix}…) was revoked.")
    return redirect("dashboard:api_keys")
