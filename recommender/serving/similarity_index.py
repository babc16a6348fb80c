"""The catalogue's nearest-neighbour index and its vectors, built once and shared by file.

Every web worker used to build its own index at every catalogue rebuild (seconds of CPU with
the GIL held at 100k items). The index is a function of the vectors alone, so it is saved
under their digest (``artifacts/ann/<digest>/``) by the first process that needs it and
loaded by every other one, and by the next start.

A folder that exists but does not check (a truncated or altered file, a missing part, another
vectors' index) is refused: ``AnnIndexError`` with one clear log line. The catalogue build
that asked fails, so a worker starting up refuses to start and a running worker keeps the
snapshot (and index) it already serves; deleting the folder lets the next build make it again.

A large catalogue's vectors go the same way (``shared_array_as``): saved once under their digest
and memory-mapped, so every worker reads one copy in the page cache, even after each worker has
rebuilt its own snapshot (what ``--preload`` shares is only what the master built).
"""
from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from recommender.artifacts import ann_root, mapped_root
from recommender.ml.common.mapped import MappedArrayError, mapped_load, mapped_save
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
    _prune(ann_root(), keep=folder.name, count=KEEP_FOLDERS)
    logger.info("built the nearest-neighbour index %s (%d vectors)", folder, len(built))
    return AnnIndex.load(folder, key)  # mapped from the file like every other process's copy


def shared_array_as(key: str, make: Callable[[], np.ndarray]) -> np.ndarray:
    """The array saved under ``key``, mapped read-only; ``make`` makes it when no process has
    saved it yet. Every process then reads the first maker's bytes: a derived array (a
    projection through BLAS, whose last bits depend on its thread count) is the same
    everywhere, and so is anything keyed by its digest (the index).

    A damaged copy is refused like a damaged index (``MappedArrayError``, one log line)."""
    folder = mapped_root() / key
    if not folder.exists():
        mapped_save(make(), folder, key)
        # A snapshot maps two arrays (full and projected vectors): keep the last few snapshots'.
        _prune(mapped_root(), keep=key, count=2 * KEEP_FOLDERS)
    try:
        return mapped_load(folder, key)
    except MappedArrayError as exc:
        logger.error("refusing the shared catalogue vectors: %s; keeping the current catalogue snapshot "
                     "(delete %s to write them again)", exc, folder)
        raise


def _prune(root: Path, keep: str, count: int) -> None:
    """Remove all but the ``count`` newest folders. A process still mapping a removed file keeps
    reading it: the file's pages live until the last mapping goes."""
    folders = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in folders[count:]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)
