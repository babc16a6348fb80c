"""Arrays shared between processes through one memory-mapped file, keyed by their content.

A large catalogue's vectors (1M x 512 float32 is 2 GB) are the same in every web worker and
change only when the catalogue does. Held in each worker's heap they are copied per worker as
soon as a worker rebuilds its snapshot (``--preload`` shares only what the master built before
forking); saved once under their digest and mapped read-only, every process reads the same
pages of the page cache, and only the rows a request touches are ever paged in.

``mapped_load`` checks the format, the key, the file's digest, its dtype and its shape before
trusting a byte, and raises ``MappedArrayError`` naming the folder and the fault otherwise: a
damaged file is refused, never served.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

MAPPED_FORMAT = "jewelrec.mapped/1"
ARRAY_FILE = "array.npy"
META_FILE = "meta.json"


class MappedArrayError(Exception):
    """A mapped array's folder is missing a part, damaged, or holds another array."""


def file_digest(path: Path) -> str:
    """blake2b of a file's bytes, read in blocks (never the whole file in memory at once)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def array_digest(array: np.ndarray) -> str:
    """The key of an array's content: dtype, shape and bytes."""
    array = np.ascontiguousarray(array)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{MAPPED_FORMAT}|{array.dtype.str}|{array.shape}|".encode())
    h.update(memoryview(array).cast("B"))
    return h.hexdigest()


def mapped_save(array: np.ndarray, directory: str | os.PathLike, key: str) -> Path:
    """Write ``array`` and a meta.json (key, dtype, shape, file digest) into ``directory``,
    atomically: a reader sees the whole folder or none of it. If another process saved the
    same key first, theirs is kept (it holds the same bytes)."""
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    array = np.ascontiguousarray(array)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        np.save(tmp / ARRAY_FILE, array, allow_pickle=False)
        meta = {"format": MAPPED_FORMAT, "key": key, "dtype": array.dtype.str, "shape": list(array.shape),
                "digest": file_digest(tmp / ARRAY_FILE)}
        (tmp / META_FILE).write_text(json.dumps(meta))
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / META_FILE).exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def mapped_load(directory: str | os.PathLike, key: str | None = None) -> np.ndarray:
    """The array saved in ``directory``, mapped read-only; with ``key``, it must be that array.

    The digest is checked by reading the file (not through the mapping), so checking leaves
    the pages in the shared page cache without counting them in this process's memory.
    """
    d = Path(directory)
    try:
        meta = json.loads((d / META_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise MappedArrayError(f"{d}: unreadable {META_FILE} ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != MAPPED_FORMAT:
        raise MappedArrayError(f"{d}: not a mapped array (format {meta.get('format') if isinstance(meta, dict) else None!r})")
    if key is not None and meta.get("key") != key:
        raise MappedArrayError(f"{d}: holds another array (key {meta.get('key')!r}, expected {key!r})")
    path = d / ARRAY_FILE
    if not path.is_file():
        raise MappedArrayError(f"{d}: {ARRAY_FILE} is missing")
    if file_digest(path) != meta.get("digest"):
        raise MappedArrayError(f"{d}: {ARRAY_FILE} is corrupt (its digest does not match {META_FILE})")
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError) as exc:
        raise MappedArrayError(f"{d}: cannot map {ARRAY_FILE} ({exc})") from exc
    if array.dtype.str != meta.get("dtype") or list(array.shape) != meta.get("shape"):
        raise MappedArrayError(f"{d}: {ARRAY_FILE} is {array.dtype.str} {list(array.shape)}, {META_FILE} says "
                               f"{meta.get('dtype')} {meta.get('shape')}")
    return array
