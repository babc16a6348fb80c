"""The catalogue's nearest-neighbour index, built once per set of vectors and shared by file.

Every web worker used to build its own index at every catalogue rebuild (seconds of CPU with
the GIL held at 100k items). The index is a function of the vectors alone, so it is saved
under their digest (``artifacts/ann/<digest>/``) by the first process that needs it and
loaded by every other one, and by the next start.

A folder that exists but does not check (a truncated or altered file, a missing part, another
vectors' index) is refused: ``AnnIndexError`` with one clear log line. The catalogue build
that asked fails, so a worker starting up refuses to start and a running worker keeps the
snapshot (and index) it already serves; deleting the folder lets the next build make it again.
"""
from __future__ import annotations

import logging
import shutil

import numpy as np

from recommender.artifacts import ann_root
from recommender.ml.search.ann import AnnIndex, AnnIndexError, vectors_digest

logger = logging.getLogger(__name__)
KEEP_FOLDERS = 3  # the indexes of the last few catalogues: a rollback or a lagging worker finds its own


def similarity_index_load_or_build(vectors: np.ndarray, rows: np.ndarray) -> AnnIndex:
    key = vectors_digest(vectors, rows)
    folder = ann_root() / key
    if folder.exists():
        try:
            return AnnIndex.load(folder, key)
        except AnnIndexError as exc:
            logger.error("refusing the nearest-neighbour index: %s; keeping the current catalogue snapshot "
                         "(delete %s to rebuild it)", exc, folder)
            raise
    built = AnnIndex.build(vectors, rows)
    built.save(folder)
    _prune(keep=folder.name)
    logger.info("built the nearest-neighbour index %s (%d vectors)", folder, len(built))
    return AnnIndex.load(folder, key)  # mapped from the file like every other process's copy


def _prune(keep: str) -> None:
    folders = sorted((p for p in ann_root().iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in folders[KEEP_FOLDERS:]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)
