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
    the rules and settings; returns seconds per step. Never raises: a worker that cannot
    warm (the database briefly down) still starts, and builds on first use."""
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
    except Exception:  # noqa: BLE001 - the first requests build what is missing
        logger.exception("could not warm serving state; it will be built on first use")
    timings["total"] = time.perf_counter() - started
    return timings
