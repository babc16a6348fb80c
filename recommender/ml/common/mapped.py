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
from collections.abc import Callable
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


def folder_save(directory: str | os.PathLike, write: Callable[[Path], dict]) -> Path:
    """Save a folder atomically: ``write`` fills a temporary folder beside ``directory`` and
    returns the meta to store as meta.json, then one rename publishes it, so a reader sees the
    whole folder or none of it. If another process saved the same folder first, theirs is
    kept (a folder's name is its content's key: it holds the same bytes)."""
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        (tmp / META_FILE).write_text(json.dumps(write(tmp)))
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


def folder_meta_checked(directory: Path, *, format: str, key: str | None, files: dict[str, str],
                        error: type[Exception], kind: str, foreign: str) -> dict:
    """The meta.json of a folder saved by ``folder_save``, after checking its format, its key
    (unless None) and, for each ``files`` name -> meta field, that the file exists and its
    digest is that field. Raises ``error`` naming the folder and the fault: ``kind`` says what
    the folder should be ("an ANN index"), ``foreign`` what a wrong key means."""
    try:
        meta = json.loads((directory / META_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise error(f"{directory}: unreadable {META_FILE} ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != format:
        raise error(f"{directory}: not {kind} (format {meta.get('format') if isinstance(meta, dict) else None!r})")
    if key is not None and meta.get("key") != key:
        raise error(f"{directory}: {foreign} (key {meta.get('key')!r}, expected {key!r})")
    for name, field in files.items():
        path = directory / name
        if not path.is_file():
            raise error(f"{directory}: {name} is missing")
        if file_digest(path) != meta.get(field):
            raise error(f"{directory}: {name} is corrupt (its digest does not match {META_FILE})")
    return meta


def mapped_save(array: np.ndarray, directory: str | os.PathLike, key: str) -> Path:
    """Write ``array`` and a meta.json (key, dtype, shape, file digest) into ``directory``
    (``folder_save``: atomically, first writer kept)."""
    array = np.ascontiguousarray(array)

    def write(tmp: Path) -> dict:
        np.save(tmp / ARRAY_FILE, array, allow_pickle=False)
        return {"format": MAPPED_FORMAT, "key": key, "dtype": array.dtype.str, "shape": list(array.shape),
                "digest": file_digest(tmp / ARRAY_FILE)}

    return folder_save(directory, write)


def mapped_load(directory: str | os.PathLike, key: str | None = None) -> np.ndarray:
    """The array saved in ``directory``, mapped read-only; with ``key``, it must be that array.

    The digest is checked by reading the file (not through the mapping), so checking leaves
    the pages in the shared page cache without counting them in this process's memory.
    """
    d = Path(directory)
    meta = folder_meta_checked(d, format=MAPPED_FORMAT, key=key, files={ARRAY_FILE: "digest"},
                               error=MappedArrayError, kind="a mapped array", foreign="holds another array")
    try:
        array = np.load(d / ARRAY_FILE, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError) as exc:
        raise MappedArrayError(f"{d}: cannot map {ARRAY_FILE} ({exc})") from exc
    if array.dtype.str != meta.get("dtype") or list(array.shape) != meta.get("shape"):
        raise MappedArrayError(f"{d}: {ARRAY_FILE} is {array.dtype.str} {list(array.shape)}, {META_FILE} says "
                               f"{meta.get('dtype')} {meta.get('shape')}")
    return array
