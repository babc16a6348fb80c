"""The heuristic blend: what serves before any trained version is active.

The blend's non-learned sources (channel popularity, co-occurrence, affinities, content)
fitted on the database's events with the default weights, published as an artefact with
its own version name. Building it takes seconds (no training), so ``bootstrap_demo`` builds
it on the first start and a daily beat task keeps its statistics fresh. Serving reads the
published artefact through its pointer, never this module.
"""
from __future__ import annotations

import logging
import shutil

import numpy as np
from django.utils import timezone

from recommender.artifacts import HEURISTIC_PREFIX, heuristic_root
from recommender.ml.blend.model import BlendRecommender, default_weights
from recommender.ml.common.artifacts import pointer_read, pointer_write
from recommender.ml.data import UserContext, user_histories

from .datasets import DatasetTooSmall, recdata_from_db

logger = logging.getLogger(__name__)
SCALE_SAMPLE = 500  # shoppers whose features set the sources' scales
KEEP = 3  # published builds kept on disk (older ones are removed)


def heuristic_blend_current() -> dict | None:
    return pointer_read(heuristic_root())


def heuristic_blend_refresh() -> dict:
    """Fit and publish the heuristic blend on every event in the database; return its pointer."""
    try:
        data, snapshot = recdata_from_db(min_target_interactions=1)
    except DatasetTooSmall as exc:
        raise DatasetTooSmall(f"The heuristic blend needs jewelry events to count: {exc}") from exc
    blend = BlendRecommender(default_weights(), name=HEURISTIC_PREFIX).fit(data)
    histories = user_histories(data.interactions, len(data.users), max_len=50)
    rng = np.random.default_rng(0)
    sample = [u for u in rng.permutation(len(histories)) if len(histories[u])][:SCALE_SAMPLE]
    blend.fit_scales([UserContext(history=histories[u]) for u in sample])
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    name = f"{HEURISTIC_PREFIX}-{stamp}"
    folder = heuristic_root() / name
    blend.name = name
    blend.save(folder)
    info = {"name": name, "path": str(folder), "built_at": timezone.now().isoformat(),
            "events": snapshot["events"], "jewelry_events": snapshot["jewelry_events"]}
    pointer_write(heuristic_root(), info)
    builds = sorted(p for p in heuristic_root().iterdir() if p.is_dir() and p.name.startswith(HEURISTIC_PREFIX))
    for old in builds[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    logger.info("published %s from %s events", name, snapshot["events"])
    return info
