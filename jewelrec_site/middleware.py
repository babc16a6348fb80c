"""Site-wide middleware."""
from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5


class DatabaseUnavailableMiddleware:
    """A page that needs the database while it is down (restart, failover, network) answers
    503 "try again in a moment" instead of a 500 error page. The storefront API has its own
    JSON 503 (recommender/api/errors.py); this covers the dashboard and the admin.

    The page is rendered without the request, so no context processor touches the database.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        logger.warning("database unavailable for %s %s: %s", request.method, request.path, exception)
        response = HttpResponse(render_to_string("503.html", {"retry_after": RETRY_AFTER_SECONDS}), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


# Every page's scripts and styles come from this origin (plotly and Swagger UI included, no
# CDN). Inline style attributes are used by the templates and by plotly, so styles allow them;
# scripts never run inline.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# A JSON (or any non-HTML) answer has nothing to load.
CONTENT_SECURITY_POLICY_NONE = "default-src 'none'; frame-ancestors 'none'"


# Pages that must compile scripts at run time: plotly's WebGL traces (the item map's
# ``scattergl``) generate their shaders' code with ``Function``. Only these get 'unsafe-eval'.
CSP_EVAL_VIEWS = frozenset({"dashboard:charts"})


class SecurityHeadersMiddleware:
    """A Content-Security-Policy on every response (Django 5.2 has none built in)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            if response.get("Content-Type", "").startswith("text/html"):
                policy = CONTENT_SECURITY_POLICY
                match = getattr(request, "resolver_match", None)
                if match is not None and match.view_name in CSP_EVAL_VIEWS:
                    policy = policy.replace("script-src 'self'", "script-src 'self' 'unsafe-eval'")
            else:
                policy = CONTENT_SECURITY_POLICY_NONE
            response["Content-Security-Policy"] = policy
        return response


class ApiRequestLimitsMiddleware:
    """A request line or header too long for the API answers 414/431 in the one JSON error
    shape. The limits sit below the web server's own (gunicorn.conf.py), which would answer
    with its plain page; a feed cursor (at most 6,000 characters) fits the URL limit."""

    MAX_URL_LENGTH = 7168
    MAX_HEADER_LENGTH = 4096

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            from jewelrec_site.handlers import api_error

            if len(request.get_full_path()) > self.MAX_URL_LENGTH:
                return api_error(414, "uri_too_long", f"The URL is longer than {self.MAX_URL_LENGTH} characters.")
            for name, value in request.META.items():
                if name.startswith("HTTP_") and len(value) > self.MAX_HEADER_LENGTH:
                    header = name[5:].replace("_", "-").title()
                    return api_error(431, "header_too_large",
                                     f"The {header} header is longer than {self.MAX_HEADER_LENGTH} characters.")
        return self.get_response(request)
