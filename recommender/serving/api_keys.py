"""Storefront API keys: create, revoke, authenticate. Only a SHA-256 of the secret is stored.

A key looks like ``jr_<prefix>_<secret>``; the prefix finds the row, the hash proves it.
Secrets carry 192 bits of entropy, so a fast hash is safe here (no password stretching).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from recommender.models import ApiKey

VALID_SCOPES = {choice for choice, _ in ApiKey.Scope.choices}
LAST_USED_GRANULARITY = timedelta(minutes=1)


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
        raise ValueError("A key needs a name.")
    scopes = sorted(set(scopes))
    unknown = set(scopes) - VALID_SCOPES
    if not scopes or unknown:
        raise ValueError(f"Scopes must be a non-empty subset of {sorted(VALID_SCOPES)}; got {sorted(scopes)}.")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValueError("The expiry must be in the future.")
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
    key = ApiKey.objects.filter(prefix=parts[1]).first()
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


def api_keys_list():
    return ApiKey.objects.select_related("created_by").order_by("-created_at")
