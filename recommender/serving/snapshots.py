"""Per-process snapshots of small serving configuration (rules, recommender settings).

Every storefront request needs the merchandising rules and the recommender settings; a
query for each costs more than scoring a candidate pool. Each process keeps what it read
for ``JEWELREC_SERVING_CONFIG_SECONDS`` (2 s by default): a change made in this process
(dashboard, admin, API) is seen at once through the model signals below, one made in
another process within that many seconds. Tests set it to 0 (always read). While the
process's housekeeping thread runs, it reloads them and requests never wait for a query.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Generic, TypeVar

from django.conf import settings
from django.db.models.signals import post_delete, post_save

from .housekeeping import Housekeeper, housekeeper

T = TypeVar("T")


class ProcessSnapshot(Generic[T]):
    """A value loaded by ``loader`` at most every few seconds; ``invalidate`` forces a reload."""

    def __init__(self, loader: Callable[[], T], keeper: Housekeeper = housekeeper) -> None:
        self._loader = loader
        self._value: T | None = None
        self._loaded_at = float("-inf")
        self._generation = 0
        self._lock = threading.Lock()
        self._keeper = keeper
        keeper.register(f"snapshot-{id(self)}", self._reload_in_background, _ttl)

    def get(self) -> T:
        value, loaded_at = self._value, self._loaded_at
        if value is not None and (time.monotonic() - loaded_at < _ttl() or self._keeper.running()):
            return value
        return self._load()

    def _reload_in_background(self) -> None:
        if self._value is not None:  # after an invalidation, the next reader loads
            self._load()

    def _load(self) -> T:
        generation = self._generation
        fresh = self._loader()
        with self._lock:
            # An invalidation that raced with this load wins: keep the value unpublished.
            if generation == self._generation:
                self._value, self._loaded_at = fresh, time.monotonic()
        return fresh

    def invalidate(self, *args, **kwargs) -> None:
        with self._lock:
            self._generation += 1
            self._value, self._loaded_at = None, float("-inf")


def _ttl() -> float:
    return float(getattr(settings, "JEWELREC_SERVING_CONFIG_SECONDS", 2.0))


def snapshot_on_change(snapshot: ProcessSnapshot, *models) -> None:
    """Invalidate ``snapshot`` whenever a row of one of ``models`` is saved or deleted here."""
    for model in models:
        uid = f"serving-snapshot-{id(snapshot)}-{model._meta.label}"
        post_save.connect(snapshot.invalidate, sender=model, weak=False, dispatch_uid=uid + "-save")
        post_delete.connect(snapshot.invalidate, sender=model, weak=False, dispatch_uid=uid + "-delete")
