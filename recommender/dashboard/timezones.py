"""The merchandisers' time zone: dashboard pages show and read times in it.

Kept in the cache so a page view costs no query; saving the setting replaces the cached value
(``merchandiser_time_zone_forget``), and a stale cache lives at most ``CACHE_SECONDS``.
"""
from __future__ import annotations

import zoneinfo

from django.core.cache import cache
from django.db import DatabaseError
from django.utils import timezone

from recommender.models import RecommenderSettings

CACHE_KEY = "jr:merchandiser-tz"
CACHE_SECONDS = 60


def merchandiser_time_zone_name() -> str:
    name = cache.get(CACHE_KEY)
    if name is None:
        try:
            name = RecommenderSettings.objects.filter(pk=1).values_list("time_zone", flat=True).first() or "UTC"
        except DatabaseError:
            # Read in a middleware, outside the view: a database restart must reach the view,
            # whose 503 page says "try again", not fail the page here with a 500. Not cached.
            return "UTC"
        cache.set(CACHE_KEY, name, CACHE_SECONDS)
    return name


def merchandiser_time_zone_forget() -> None:
    cache.delete(CACHE_KEY)


def time_zone_choices() -> list[tuple[str, str]]:
    return [("UTC", "UTC")] + [(n, n.replace("_", " ")) for n in sorted(zoneinfo.available_timezones()) if "/" in n]


class MerchandiserTimeZoneMiddleware:
    """Activate the merchandisers' time zone for dashboard and admin pages (never the API)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            return self.get_response(request)
        try:
            timezone.activate(zoneinfo.ZoneInfo(merchandiser_time_zone_name()))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
