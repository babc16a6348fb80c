"""Who may see the merchandiser pages: active staff only, on every page and endpoint."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse

# Anonymous and non-staff users go to the site login (not the admin's), then come back.
staff_required = staff_member_required(login_url="login")


def staff_required_json(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For endpoints polled by scripts: a 403 JSON body instead of a login redirect page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            return JsonResponse({"error": "staff login required"}, status=403)
        return view(request, *args, **kwargs)

    return wrapper
