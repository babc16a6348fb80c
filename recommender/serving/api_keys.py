"""Storefront API keys: create, revoke, authenticate. Only a SHA-256 of the secret is stored.

A key looks like ``jr_<prefix>_<secret>``; the prefix finds the row, the hash proves it.
Secrets carry 192 bits of entropy, so a fast hash is safe here (no password stretching).

Every storefront request authenticates, and the key's row was a database round trip per
request (a fifth of a recommendation request's time under load). Each process keeps the
rows it read for ``JEWELREC_API_KEY_CACHE_SECONDS`` (5 s by default); the hash, the expiry
and the revocation are still checked on every request against that row. A key revoked or
changed in this process (dashboard, admin, command) is dropped from its cache at once;
other processes stop accepting a revoked key within those seconds.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from recommender.models import ApiKey

from .errors import DomainError

VALID_SCOPES = {choice for choice, _ in ApiKey.Scope.choices}
LAST_USED_GRANULARITY = timedelta(minutes=1)
_KEY_CACHE_MAX = 1024  # storefront keys are few; bounded against floods of made-up prefixes
_key_cache: dict[str, tuple[ApiKey, float]] = {}  # prefix -> (row, read at)


class ApiKeyError(Exception):
    """Why a presented key is not accepted; ``code`` feeds the API error body."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    secret: str  # shown once, never stored


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(*, name: str, scopes: list[str], user=None, expires_at: datetime | None = None) -> CreatedKey:
    name = (name or "").strip()
    if not name:
        raise DomainError("A key needs a name.", field="name")
    scopes = sorted(set(scopes))
    unknown = set(scopes) - VALID_SCOPES
    if not scopes or unknown:
        raise DomainError(f"Scopes must be a non-empty subset of {sorted(VALID_SCOPES)}; got {sorted(scopes)}.",
                          field="scopes")
    if expires_at is not None and expires_at <= timezone.now():
        raise DomainError("The expiry must be in the future.", field="expires_at")
    prefix = secrets.token_hex(4)
    while ApiKey.objects.filter(prefix=prefix).exists():
        prefix = secrets.token_hex(4)
    secret = f"jr_{prefix}_{secrets.token_urlsafe(24)}"
    key = ApiKey.objects.create(
        name=name[:128], prefix=prefix, key_hash=_hash(secret), scopes=scopes, created_by=user, expires_at=expires_at
    )
    return CreatedKey(key=key, secret=secret)


def api_key_revoke(key: ApiKey) -> ApiKey:
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().get(pk=key.pk)
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
    return key


def api_key_authenticate(raw: str) -> ApiKey:
    """Return the active key for a presented secret, or raise ``ApiKeyError``."""
    parts = raw.split("_", 2)  # the secret part may itself contain "_"
    if len(parts) != 3 or parts[0] != "jr" or not parts[1] or not parts[2]:
        raise ApiKeyError("invalid_token", "The API key is malformed.")
    key = _key_row(parts[1])
    if key is None or not hmac.compare_digest(key.key_hash, _hash(raw)):
        raise ApiKeyError("invalid_token", "The API key is not valid.")
    now = timezone.now()
    if key.revoked_at is not None:
        raise ApiKeyError("revoked_token", "The API key has been revoked.")
    if key.expires_at is not None and key.expires_at <= now:
        raise ApiKeyError("expired_token", "The API key has expired.")
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_GRANULARITY:
        # At most one write a minute per key keeps the hot path read-only.
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def _key_row(prefix: str) -> ApiKey | None:
    seconds = float(getattr(settings, "JEWELREC_API_KEY_CACHE_SECONDS", 5.0))
    cached = _key_cache.get(prefix)
    if cached is not None and time.monotonic() - cached[1] < seconds:
        return cached[0]
    key = ApiKey.objects.filter(prefix=prefix).first()
    if key is not None and seconds > 0:
        if len(_key_cache) >= _KEY_CACHE_MAX:
            _key_cache.clear()
        _key_cache[prefix] = (key, time.monotonic())
    return key


def _on_key_change(sender, instance: ApiKey, **kwargs) -> None:
    _key_cache.pop(instance.prefix, None)


post_save.connect(_on_key_change, sender=ApiKey, dispatch_uid="api-key-cache-save")
post_delete.connect(_on_key_change, sender=ApiKey, dispatch_uid="api-key-cache-delete")


def api_keys_list():
    return ApiKey.objects.select_related("created_by").order_by("-created_at")
