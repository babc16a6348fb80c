"""The active model version, loaded once per process and swapped atomically.

Each process checks which version is active every ``CHECK_SECONDS`` (in its housekeeping
thread when that runs, else in the request that finds the check due); a newly promoted
version is loaded completely before one assignment makes it visible, so a request sees
either the old model or the new one, never half of either. Versions named
explicitly (the preview's side-by-side comparison) are kept in a small LRU.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path

from recommender.artifacts import BLEND_DIR, TRANSFER_DIR, heuristic_root
from recommender.ml.common.artifacts import pointer_read
from recommender.models import ModelVersion

from .blend_ranker import BlendRanker
from .catalog import serving_catalog
from .housekeeping import Housekeeper, housekeeper
from .rankers import Ranker

logger = logging.getLogger(__name__)
CHECK_SECONDS = 2.0
MAX_CACHED_VERSIONS = 3


class _ModelHolder:
    def __init__(self, keeper: Housekeeper = housekeeper) -> None:
        self._active: Ranker | None = None
        self._active_id: int | str | None = None  # a version's id, or "heuristic:<name>"
        self._checked_at = 0.0
        self._lock = threading.Lock()
        self._named: OrderedDict[str, Ranker] = OrderedDict()
        self._heuristic_pointer: dict | None = None  # the heuristic blend's CURRENT pointer, as last read
        self._heuristic_checked_at = float("-inf")
        self._keeper = keeper
        keeper.register(f"active-model-{id(self)}", self._check_in_background, lambda: CHECK_SECONDS)

    def active(self) -> Ranker | None:
        checked_at = self._checked_at
        if checked_at and self._keeper.running():
            return self._active
        if time.monotonic() - checked_at < CHECK_SECONDS:
            return self._active
        return self._check()

    def _check_in_background(self) -> None:
        if not self._checked_at:  # after a reset, the next request loads
            return
        ranker = self._check(force=True)
        prepare = getattr(ranker, "prepare", None)
        if prepare is not None:
            # a new version, or the new catalog snapshot the housekeeping thread built: get the
            # model ready for it here, not in the first request that uses it
            prepare(serving_catalog())

    def _check(self, force: bool = False) -> Ranker | None:
        with self._lock:
            if not force and self._checked_at and time.monotonic() - self._checked_at < CHECK_SECONDS:
                return self._active
            row = ModelVersion.objects.filter(is_active=True).only("id", "name", "artifact_dir", "model_type").first()
            if row is None:
                self._load_heuristic()
            elif row.id != self._active_id:
                try:
                    ranker = _load(row)
                except Exception:  # noqa: BLE001 - a broken artifact must not take serving down
                    logger.exception("could not load model version %s; keeping the previous one", row.name)
                else:
                    self._active, self._active_id = ranker, row.id  # the atomic swap
            self._checked_at = time.monotonic()
            return self._active

    def _load_heuristic(self) -> None:
        """No trained version is active: the published heuristic blend serves (or, before
        the first one is built, nothing, and the scenarios fall back to popularity)."""
        pointer = pointer_read(heuristic_root())
        key = f"heuristic:{pointer['name']}" if pointer else None
        if key is None:
            self._active, self._active_id = None, None
        elif key != self._active_id:
            try:
                ranker = BlendRanker.load(pointer["name"], pointer["path"])
            except Exception:  # noqa: BLE001 - a broken artefact must not take serving down
                logger.exception("could not load the heuristic blend %s", pointer.get("name"))
                if not isinstance(self._active_id, str):
                    self._active, self._active_id = None, None
            else:
                self._active, self._active_id = ranker, key

    def _cached(self, key: str) -> Ranker | None:
        """A loaded ranker by key (a version's name, or "heuristic:<name>"), or None."""
        with self._lock:
            if key in self._named:
                self._named.move_to_end(key)
                return self._named[key]
            if self._active_id == key and self._active is not None:
                return self._active
        return None

    def _remember(self, key: str, ranker: Ranker) -> Ranker:
        with self._lock:
            self._named[key] = ranker
            while len(self._named) > MAX_CACHED_VERSIONS:
                self._named.popitem(last=False)
        return ranker

    def named(self, name: str) -> Ranker | None:
        cached = self._cached(name)
        if cached is not None:
            return cached
        row = ModelVersion.objects.filter(name=name, status=ModelVersion.Status.READY).first()
        if row is None:
            return None
        return self._remember(name, _load(row))

    def heuristic(self) -> Ranker | None:
        """The published heuristic blend, whether or not a trained version is active (an A/B
        arm); cached with the named versions under its pointer's name. The pointer file is
        read at most every ``CHECK_SECONDS``, not on every request of the arm."""
        now = time.monotonic()
        if now - self._heuristic_checked_at >= CHECK_SECONDS:
            self._heuristic_pointer, self._heuristic_checked_at = pointer_read(heuristic_root()), now
        pointer = self._heuristic_pointer
        if not pointer:
            return None
        key = f"heuristic:{pointer['name']}"
        return self._cached(key) or self._remember(key, BlendRanker.load(pointer["name"], pointer["path"]))

    def reset(self) -> None:
        with self._lock:
            self._active, self._active_id, self._checked_at = None, None, 0.0
            self._named.clear()
            self._heuristic_pointer, self._heuristic_checked_at = None, float("-inf")


def _load(row: ModelVersion) -> Ranker:
    """A version's ranker: its blend (with the transfer model when the blend uses it), or for
    versions trained before the blend, the transfer model alone."""
    folder = Path(row.artifact_dir or "")
    if (folder / BLEND_DIR).is_dir():
        return BlendRanker.load(row.name, folder / BLEND_DIR, folder / TRANSFER_DIR)
    from .model_ranker import ModelRanker

    return ModelRanker.load(row)


_holder = _ModelHolder()


def active_ranker(version_name: str | None = None) -> Ranker | None:
    """The ranker of ``version_name`` (preview comparisons) or of the active version; None if none."""
    if version_name:
        from .errors import NotFoundError

        ranker = _holder.named(version_name)
        if ranker is None:
            raise NotFoundError(f"Unknown or unfinished model version '{version_name}'.", field="model_version")
        return ranker
    return _holder.active()


def heuristic_ranker() -> Ranker | None:
    """The heuristic blend's ranker (an A/B arm against trained versions); None before it is built."""
    return _holder.heuristic()


def model_store_reset() -> None:
    """Forget loaded models (tests; a promotion in this process)."""
    _holder.reset()
