"""API-key authentication with scopes, and per-key throttling."""
from __future__ import annotations

import logging

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework.settings import api_settings

from jewelrec_site.cache import window_increment
from recommender.models import ApiKey
from recommender.serving.api_keys import ApiKeyError, api_key_authenticate

logger = logging.getLogger(__name__)


class StorefrontClient:
    """The authenticated caller: a storefront holding an API key (not a Django user)."""

    is_authenticated = True
    is_staff = False

    def __init__(self, key: ApiKey) -> None:
        self.key = key
        self.scopes = set(key.scopes)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0] != self.keyword:
            raise exceptions.AuthenticationFailed("Use the header 'Authorization: Token <key>'.", code="invalid_token")
        try:
            key = api_key_authenticate(parts[1])
        except ApiKeyError as exc:
            raise exceptions.AuthenticationFailed(exc.message, code=exc.code) from exc
        return (StorefrontClient(key), key)

    def authenticate_header(self, request):
        return self.keyword


def scope_permission(scope: str) -> type[permissions.BasePermission]:
    class HasScope(permissions.BasePermission):
        message = f"This API key lacks the '{scope}' scope."
        code = "missing_scope"

        def has_permission(self, request, view):
            client = request.user
            if not isinstance(client, StorefrontClient):
                raise exceptions.NotAuthenticated()
            if scope not in client.scopes:
                raise exceptions.PermissionDenied(self.message, code="missing_scope")
            return True

    HasScope.__name__ = f"HasScope_{scope}"
    return HasScope


HasReadScope = scope_permission("read")
HasEventsScope = scope_permission("events")


class ApiKeyThrottle(throttling.SimpleRateThrottle):
    """Per-key request limit: a counter per window that starts at the key's first request.

    DRF's SimpleRateThrottle keeps every request time of the window in one cache entry and
    re-pickles it on each request: with one storefront key at 100 requests/s (the default
    6000/min) that is a 6,000-item list read and written per request. Here each request is
    one atomic increment (one round trip on Redis); like any fixed window it can admit up to
    twice the rate across a window's end, which a rate limit of this kind tolerates."""

    scope = "api_key"

    def get_rate(self):
        # DRF copies the rates into a class attribute at import; read them per request so a
        # changed setting (an override, a reload) takes effect.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        client = request.user
        if not isinstance(client, StorefrontClient):
            return None
        return self.cache_format % {"scope": self.scope, "ident": client.key.prefix}

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        try:
            count, left = window_increment(self.cache, self.key, self.duration)
        except Exception as exc:  # noqa: BLE001 - a cache outage must not take the storefront API down
            logger.warning("API throttle cache unavailable, request allowed: %s", exc)
            return True
        if count <= self.num_requests:
            return True
        self._wait = max(1.0, left)
        return False

    def wait(self):
        return getattr(self, "_wait", None)


class ApiKeySchemeExtension(OpenApiAuthenticationExtension):
    """The schema states that every operation needs ``Authorization: Token <key>`` (without it,
    schemathesis' ignored_auth check has nothing to hold the API to)."""

    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Token <key>`; keys carry the scopes `read` and/or `events`."}
