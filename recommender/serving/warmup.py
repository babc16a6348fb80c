"""Build a serving process's state before it takes traffic.

The catalog snapshot and the active model are built on first use in each process: at 100k
items that is seconds of work (and the GIL held), and the first requests to a new worker
waited for it -- after every deploy, worker restart or crash. The web server calls
``serving_warm`` in each worker before the worker accepts a request (``gunicorn.conf.py``).
"""
from __future__ import annotations

import logging
import time

logger = logging.getLogger(__name__)


def serving_warm() -> dict[str, float]:
    """Build the catalog snapshot, load the active model and map it onto the catalog, read
    the rules and settings; returns seconds per step. Never raises but for a refused
    nearest-neighbour index file (``AnnIndexError``: the process must not start on it); a
    worker that cannot warm for another reason (the database briefly down) still starts, and
    builds on first use."""
    from recommender.ml.search.ann import AnnIndexError

    from .catalog import serving_catalog
    from .model_store import active_ranker
    from .rules import rules_active
    from .scenarios import recommender_settings

    timings: dict[str, float] = {}
    started = time.perf_counter()
    try:
        catalog = serving_catalog()
        timings["catalog"] = time.perf_counter() - started
        ranker = active_ranker()
        prepare = getattr(ranker, "prepare", None)
        if prepare is not None:
            prepare(catalog)
        timings["model"] = time.perf_counter() - started - timings["catalog"]
        recommender_settings()
        rules_active("home")  # loads the rules snapshot every scenario reads
        from .search import search_warm

        search_warm()
        timings["search"] = time.perf_counter() - started - timings["catalog"] - timings["model"]
        logger.info("serving warmed in %.1f s (%d items, model %s)", time.perf_counter() - started, len(catalog),
                    getattr(ranker, "version", "none"))
    except AnnIndexError:
        raise
    except Exception:  # noqa: BLE001 - the first requests build what is missing
        logger.exception("could not warm serving state; it will be built on first use")
    timings["total"] = time.perf_counter() - started
    return timings


def serving_warm_before_fork() -> dict[str, float]:
    """Warm the web server's master process once, before it forks its workers (gunicorn's
    ``preload_app``): catalog snapshot, index, model tables and rules are then built once and
    shared read-only by every worker (copy-on-write pages), instead of built and held by each.

    Nothing that must not cross a fork is left behind: the housekeeping thread (a thread does
    not survive a fork, and the master must not rebuild snapshots nobody reads; each worker
    starts its own), the database connections and the cache clients. The objects alive now are
    frozen out of the cyclic collector (``gc.freeze``): a collection in a worker would otherwise
    write to every shared object's header and copy its page.
    """
    import gc

    from django.core.cache import caches
    from django.db import connections

    from .housekeeping import housekeeper

    timings = serving_warm()
    housekeeper.stop()
    connections.close_all()
    for cache in caches.all(initialized_only=True):
        cache.close()
    gc.collect()
    gc.freeze()
    return timings
