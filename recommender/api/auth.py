"""API-key authentication with scopes, and per-key throttling."""
from __future__ import annotations

from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework.settings import api_settings

from recommender.models import ApiKey
from recommender.serving.api_keys import ApiKeyError, api_key_authenticate


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
