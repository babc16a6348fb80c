"""Site-wide error pages: JSON in the one error shape under ``/api/``, HTML elsewhere.

The storefront API's own exception handler (recommender/api/errors.py) answers everything
raised inside a DRF view. These cover what never reaches one: an unknown path, a bad Host
header, a failure in middleware. Django uses them only with DEBUG off, which is the default
(DJANGO_DEBUG=1 turns the debug pages on for development).
"""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.views import defaults

from recommender.api.errors import error_body

API_PREFIX = "/api/"


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def api_error(status: int, code: str, message: str, field: str | None = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, field), status=status)


def api_not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """Every unknown path under /api/, in every DEBUG mode (the last /api/ route)."""
    message = f"No API operation at {request.path}."
    trimmed = request.path.rstrip("/")
    if trimmed != request.path:
        try:
            if resolve(trimmed).func is not api_not_found:
                message += f" Paths have no trailing slash: {trimmed}"
        except Resolver404:
            pass
    return api_error(404, "not_found", message)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api(request):
        return api_error(400, "bad_request", "Bad request.")
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api(request):
        return api_error(403, "forbidden", "Forbidden.")
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api(request):
        return api_not_found(request)
    # Our views raise Http404 with a message naming what is missing ("No item #12"); the URL
    # resolver's own message is for developers, so an unknown path gets a plain sentence.
    message = None
    if not isinstance(exception, Resolver404) and exception.args and isinstance(exception.args[0], str):
        message = exception.args[0]
    return render(request, "404.html", {"message": message, "request_path": request.path}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api(request):
        return api_error(500, "server_error", "Internal error; it has been logged.")
    return defaults.server_error(request)
