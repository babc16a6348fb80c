"""Approximate nearest neighbours over unit vectors, through faiss (HNSW, inner product).

Serving's per-request similarity (the shopper's recent items against a large catalogue). It
replaced a hand-written IVF index here, as ``mips.py`` (faiss IVF) later did for the xDeepFM
scorer's inner-product retrieval. faiss was chosen by measurement (``bench/ann_choice.py``,
``docs/benchmarks.md``): against hnswlib and usearch at the same graph size it gave the same
recall@10 with the lowest query time, and it is maintained and packaged for every platform.

An index is a pure function of its vectors, so it is keyed by their digest
(``vectors_digest``) and saved once beside that key: every web worker, and every restart,
loads the file instead of spending seconds building the graph; the vectors inside it are
memory-mapped, so all of them share one copy. ``load`` checks the key, the
file's own digest and its shape before trusting a byte of it, and raises ``AnnIndexError``
(with the path and what was wrong) otherwise: a damaged index is refused, never served.
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np

from recommender.ml.common.mapped import META_FILE, file_digest, folder_meta_checked, folder_save

ANN_FORMAT = "jewelrec.ann/1"
INDEX_FILE = "index.faiss"
ROWS_FILE = "rows.npy"
# Graph degree and search breadth: recall@10 >= 0.99 on catalogue-like vectors at 100k x 64
# (bench/ann_choice.py) at ~0.1 ms a query. efSearch grows with k (it must be >= k).
HNSW_M = 16
EF_CONSTRUCTION = 100
EF_SEARCH = 64


class AnnIndexError(Exception):
    """An index file is missing, damaged or belongs to other vectors."""


def faiss_module():
    """The faiss module, imported on first use: a C++ extension, loaded by the processes that
    build or search an index only (this package's ``mips`` shares it)."""
    import faiss  # noqa: PLC0415

    return faiss


def vectors_digest(vectors: np.ndarray, rows: np.ndarray) -> str:
    """The key of the index over ``vectors[rows]``: changes when any indexed vector does."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{ANN_FORMAT}|{vectors.shape}|{HNSW_M}|{EF_CONSTRUCTION}|".encode())
    h.update(np.ascontiguousarray(rows, np.int64).tobytes())
    h.update(np.ascontiguousarray(vectors, np.float32).tobytes())
    return h.hexdigest()


def _best_per_row(rows: np.ndarray, sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct row once (ascending) with its largest similarity; -1 rows dropped."""
    keep = rows >= 0
    rows, sims = rows[keep], sims[keep]
    order = np.lexsort((-sims, rows))  # by row, best similarity first within a row
    rows, sims = rows[order], sims[order]
    first = np.ones(len(rows), bool)
    first[1:] = rows[1:] != rows[:-1]
    return rows[first], sims[first]


class AnnIndex:
    def __init__(self, index, rows: np.ndarray, key: str = "") -> None:
        self.index = index  # faiss IndexHNSWFlat; its ids are positions in ``rows``
        self.rows = rows  # catalogue row of each indexed vector
        self.key = key
        self.dim = int(index.d)

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def build(cls, vectors: np.ndarray, rows: np.ndarray | None = None, *, threads: int | None = None) -> "AnnIndex":
        """An HNSW graph over ``vectors[rows]`` (all rows by default); vectors are unit rows."""
        vectors = np.asarray(vectors, np.float32)
        rows = np.arange(len(vectors), dtype=np.int64) if rows is None else np.asarray(rows, np.int64)
        if vectors.ndim != 2 or len(rows) == 0:
            raise ValueError("cannot build an index over no rows")
        faiss = faiss_module()
        index = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = EF_CONSTRUCTION
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(threads or os.cpu_count() or 1)  # a build is off the request path
        try:
            index.add(np.ascontiguousarray(vectors[rows]))
        finally:
            faiss.omp_set_num_threads(before)
        index.hnsw.efSearch = EF_SEARCH
        return cls(index, rows, vectors_digest(vectors, rows))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, similarities), each (queries, k): every query's ``k`` nearest indexed rows,
        best first; -1 / -inf pad a row when fewer than ``k`` are indexed."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), np.float32)
        k = max(1, min(int(k), len(self.rows)))
        params = faiss_module().SearchParametersHNSW()
        params.efSearch = max(EF_SEARCH, k)
        sims, ids = self.index.search(queries, k, params=params)
        found = ids >= 0
        return np.where(found, self.rows[np.maximum(ids, 0)], -1), np.where(found, sims, -np.inf).astype(np.float32)

    def max_similarity(self, anchors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, similarity): the union of each anchor's ``k`` nearest rows and, for each, its
        largest cosine with any anchor that found it (serving's "like what you looked at")."""
        rows, sims = self.search(anchors, k)
        return _best_per_row(rows.ravel(), sims.ravel())

    def save(self, directory: str | os.PathLike) -> Path:
        """Write the index, its rows and a meta.json with the key and the files' digests into
        ``directory``, atomically: a reader sees the whole folder or none of it."""
        def write(tmp: Path) -> dict:
            faiss_module().write_index(self.index, str(tmp / INDEX_FILE))
            np.save(tmp / ROWS_FILE, self.rows, allow_pickle=False)
            return {"format": ANN_FORMAT, "key": self.key, "dim": self.dim, "count": len(self.rows),
                    "index_digest": file_digest(tmp / INDEX_FILE), "rows_digest": file_digest(tmp / ROWS_FILE)}

        return folder_save(directory, write)

    @classmethod
    def load(cls, directory: str | os.PathLike, key: str | None = None) -> "AnnIndex":
        """The index saved in ``directory``; with ``key``, it must be the index of those vectors.
        Raises ``AnnIndexError`` naming the folder and the fault if anything does not check."""
        d = Path(directory)
        meta = folder_meta_checked(d, format=ANN_FORMAT, key=key,
                                   files={INDEX_FILE: "index_digest", ROWS_FILE: "rows_digest"},
                                   error=AnnIndexError, kind="an ANN index", foreign="index of other vectors")
        faiss = faiss_module()
        try:
            # The vectors stay in the file, mapped: every process that loads this index shares
            # one copy of them in the page cache (the graph's links are read into memory).
            index = faiss.read_index(str(d / INDEX_FILE), faiss.IO_FLAG_MMAP_IFC)
            rows = np.load(d / ROWS_FILE, allow_pickle=False, mmap_mode="r")
        except (RuntimeError, ValueError, OSError) as exc:
            raise AnnIndexError(f"{d}: cannot read the index ({exc})") from exc
        if index.ntotal != meta.get("count") or len(rows) != index.ntotal or index.d != meta.get("dim"):
            raise AnnIndexError(f"{d}: index holds {index.ntotal} x {index.d}, {META_FILE} says "
                                f"{meta.get('count')} x {meta.get('dim')} ({len(rows)} rows)")
        index.hnsw.efSearch = EF_SEARCH
        if rows.dtype != np.int64:
            raise AnnIndexError(f"{d}: rows are {rows.dtype}, not int64")
        return cls(index, rows, meta.get("key", ""))


class RowNeighbours:
    """Each catalogue row's ``k`` nearest rows through an ``AnnIndex``, searched once per row and
    kept (least recently used first out).

    A shopper's anchors (recent items, cart) repeat across requests and shoppers -- the popular
    jewels most of all -- and an anchor's neighbours only change with the snapshot that owns
    this object, so searching the graph again per request is wasted: a hit costs a dict
    lookup instead of ~0.15 ms of HNSW search (docs/benchmarks.md). The answer is exactly
    ``AnnIndex.max_similarity`` over the anchors' vectors (each query's result does not depend
    on the others in its batch).
    """

    def __init__(self, index: AnnIndex, vectors: np.ndarray, k: int, capacity: int = 20_000) -> None:
        self.index, self.vectors, self.k, self.capacity = index, vectors, int(k), int(capacity)
        self._lists: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()  # gthread workers serve several requests at once
        self.hits = self.misses = 0

    def max_similarity(self, anchor_rows: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(rows, similarity) like ``AnnIndex.max_similarity(vectors[anchor_rows], k)``."""
        found: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        with self._lock:
            for row in anchor_rows:
                hit = self._lists.get(row)
                if hit is not None:
                    self._lists.move_to_end(row)
                    found[row] = hit
            self.hits += len(found)
        missing = [int(r) for r in dict.fromkeys(anchor_rows) if r not in found]
        if missing:
            rows, sims = self.index.search(self.vectors[missing], self.k)
            with self._lock:
                self.misses += len(missing)
                for i, row in enumerate(missing):
                    found[row] = self._lists[row] = (rows[i], sims[i])
                while len(self._lists) > self.capacity:
                    self._lists.popitem(last=False)
        parts = [found[r] for r in anchor_rows]
        return _best_per_row(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
