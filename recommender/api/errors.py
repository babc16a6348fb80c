"""One exception handler: every API error is ``{"error": {"code", "message", "field"}}``."""
from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DatabaseError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from recommender.serving.errors import DomainError, PayloadTooLargeError

logger = logging.getLogger(__name__)


def error_body(code: str, message: str, field: str | None = None) -> dict:
    return {"error": {"code": code, "message": message, "field": field}}


def _first_validation_error(detail, prefix: str = "") -> tuple[str | None, str, str]:
    """Flatten DRF's nested error detail to its first (field, message, code)."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = prefix if key in ("non_field_errors", "detail") else (f"{prefix}.{key}" if prefix else str(key))
            return _first_validation_error(value, name)
    if isinstance(detail, list) and detail:
        for index, value in enumerate(detail):
            if value:  # lists of per-item errors have empty dicts for valid items
                name = prefix
                if isinstance(value, (dict, list)):
                    name = f"{prefix}[{index}]" if prefix else f"[{index}]"
                return _first_validation_error(value, name)
    code = getattr(detail, "code", "invalid") or "invalid"
    return (prefix or None, str(detail), str(code))


def api_exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):  # Django's own limit: the same answer as the views' check
        exc = PayloadTooLargeError("The request body is too large.")
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.field), status=exc.status_code)
    if isinstance(exc, SuspiciousOperation):
        return Response(error_body("bad_request", str(exc) or "Bad request."), status=400)
    if isinstance(exc, Http404):
        return Response(error_body("not_found", "Not found."), status=404)
    if isinstance(exc, exceptions.ValidationError):
        field, message, code = _first_validation_error(exc.detail)
        return Response(error_body(code if code != "invalid" else "invalid", message, field), status=400)
    if isinstance(exc, exceptions.ParseError):
        return Response(error_body("malformed_json", f"The body is not valid JSON: {exc.detail}"), status=400)
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return Response(error_body("unsupported_media_type", str(exc.detail)), status=415)
    if isinstance(exc, exceptions.NotAuthenticated):
        return Response(error_body("not_authenticated", "Send 'Authorization: Token <key>'."), status=401,
                        headers={"WWW-Authenticate": "Token"})
    if isinstance(exc, exceptions.AuthenticationFailed):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "invalid_token"
        return Response(error_body(code, str(exc.detail)), status=401, headers={"WWW-Authenticate": "Token"})
    if isinstance(exc, exceptions.Throttled):
        wait = int(exc.wait or 1)
        return Response(error_body("throttled", f"Too many requests; retry in {wait} s."), status=429,
                        headers={"Retry-After": str(wait)})
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        return Response(error_body(code, str(exc.detail)), status=exc.status_code)
    if isinstance(exc, DatabaseError):
        # The database is down or restarting: a clean, retryable answer rather than a 500.
        logger.warning("database error in API request: %s", exc)
        return Response(error_body("unavailable", "The service is temporarily unavailable; retry shortly."),
                        status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "2"})
    return None
