"""Inverted-file (IVF) candidate index: k-means cells over unit vectors.

The catalogue's similarity index is faiss now (``ann.py``, chosen by recall@10 beside speed in
``bench/ann_choice.py``); these cells remain the retrieval stage of ``MipsIndex`` below.

Serving needs, per request, the catalog items close to a handful of anchor vectors (the
customer's recent items). A full scan of a 100k-row matrix costs milliseconds of memory
traffic per request; this index scans only the rows in the few cells whose centroids are
nearest to each anchor (rows are stored cell by cell, so a cell is one contiguous slice).
Recall is traded for speed through ``n_probe``; the exact scan stays the answer for small
catalogs, where it is cheaper than any index.

``MipsIndex`` answers the other question serving asks, the largest inner products with one
query over vectors of any length (a ranker's retrieval stage), through the same cells.
"""
from __future__ import annotations

import numpy as np

from ..common.matrix import l2_normalize


class IvfIndex:
    def __init__(self, centroids: np.ndarray, order: np.ndarray, offsets: np.ndarray, vectors: np.ndarray) -> None:
        self.centroids = centroids  # (cells, d), unit rows
        self.order = order  # row ids sorted by cell
        self.offsets = offsets  # cell c holds order[offsets[c]:offsets[c + 1]]
        self.sorted_vectors = vectors  # vectors[order]: one cell is one contiguous block

    @property
    def n_cells(self) -> int:
        return len(self.centroids)

    @classmethod
    def build(cls, vectors: np.ndarray, rows: np.ndarray | None = None, *, n_cells: int | None = None,
              iterations: int = 8, sample: int = 20_000, seed: int = 0) -> "IvfIndex":
        """Spherical k-means on a sample of ``vectors[rows]`` (all rows by default), then every
        such row is assigned to its nearest centroid."""
        vectors = np.ascontiguousarray(vectors, np.float32)
        rows = np.arange(len(vectors)) if rows is None else np.asarray(rows, np.int64)
        if len(rows) == 0:
            raise ValueError("cannot build an index over no rows")
        # ~sqrt(n) cells balance the centroid scan against the rows scanned per probe.
        n_cells = int(n_cells or max(1, min(4096, round(2 * np.sqrt(len(rows))))))
        n_cells = min(n_cells, len(rows))
        rng = np.random.default_rng(seed)
        train = vectors[rng.choice(rows, size=min(sample, len(rows)), replace=False)]
        centroids = train[rng.choice(len(train), size=n_cells, replace=False)].copy()
        for _ in range(iterations):
            assign = np.argmax(train @ centroids.T, axis=1)
            sums = np.zeros_like(centroids)
            np.add.at(sums, assign, train)
            empty = np.bincount(assign, minlength=n_cells) == 0
            # An empty cell restarts at a random training point instead of dying.
            sums[empty] = train[rng.choice(len(train), size=int(empty.sum()))]
            centroids = l2_normalize(sums)
        assign = np.empty(len(rows), np.int64)
        for start in range(0, len(rows), 16_384):  # bounded memory for the (rows x cells) product
            chunk = rows[start:start + 16_384]
            assign[start:start + len(chunk)] = np.argmax(vectors[chunk] @ centroids.T, axis=1)
        by_cell = np.argsort(assign, kind="stable")
        order = rows[by_cell]
        offsets = np.zeros(n_cells + 1, np.int64)
        np.cumsum(np.bincount(assign, minlength=n_cells), out=offsets[1:])
        return cls(centroids.astype(np.float32), order, offsets, np.ascontiguousarray(vectors[order]))

    def max_similarity(self, anchors: np.ndarray, n_probe: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """(rows, similarity): the rows in the ``n_probe`` cells nearest each anchor and, for
        each, its largest cosine with any anchor. Rows outside the probed cells are not returned."""
        anchors = np.atleast_2d(np.asarray(anchors, np.float32))
        n_probe = max(1, min(int(n_probe), self.n_cells))
        near = np.argpartition(-(anchors @ self.centroids.T), n_probe - 1, axis=1)[:, :n_probe]
        cells = np.unique(near)
        blocks = [(self.offsets[c], self.offsets[c + 1]) for c in cells]
        positions = np.concatenate([np.arange(a, b) for a, b in blocks]) if blocks else np.zeros(0, np.int64)
        if len(positions) == 0:
            return positions, np.zeros(0, np.float32)
        sims = (anchors @ self.sorted_vectors[positions].T).max(axis=0)
        return self.order[positions], sims


class MipsIndex:
    """Approximate maximum-inner-product search over rows of any norm.

    Inner products are turned into cosines (Bachrach et al. 2014): each row x becomes the
    unit vector [x, sqrt(M^2 - |x|^2)] / M (M the largest norm) and a query q becomes [q, 0],
    so x.q / M is the cosine of the two and the cosine cells of ``IvfIndex`` apply. A
    search ranks the cells by their centroid against the query, scans the ``n_probe``
    best (contiguous blocks of rows) exactly, and keeps the top k of what it scanned."""

    def __init__(self, ivf: IvfIndex) -> None:
        self.ivf = ivf
        self.dim = ivf.sorted_vectors.shape[1] - 1
        # k-means can leave cells empty (many identical rows, e.g. items without a vector):
        # they rank last, so probing never spends a probe on a cell with nothing in it
        self._empty_penalty = np.where(np.diff(ivf.offsets) > 0, 0.0, -np.inf).astype(np.float32)

    @classmethod
    def build(cls, vectors: np.ndarray, *, n_cells: int | None = None, seed: int = 0) -> "MipsIndex":
        vectors = np.asarray(vectors, np.float32)
        if vectors.ndim != 2 or len(vectors) == 0:
            raise ValueError("cannot build an index over no rows")
        norms = np.linalg.norm(vectors, axis=1)
        top = float(norms.max()) or 1.0
        lift = np.sqrt(np.maximum(top * top - norms * norms, 0.0))[:, None]
        augmented = np.concatenate([vectors, lift], axis=1) / top
        return cls(IvfIndex.build(augmented, n_cells=n_cells, seed=seed))

    def search(self, query: np.ndarray, k: int, n_probe: int) -> np.ndarray:
        """Rows (unordered) of the ``k`` largest inner products among the probed cells; fewer
        only when the probed cells hold fewer than ``k`` rows."""
        ivf = self.ivf
        if k <= 0:
            return np.zeros(0, np.int64)
        q = np.zeros(self.dim + 1, np.float32)
        q[:self.dim] = query
        n_probe = max(1, min(int(n_probe), ivf.n_cells))
        cells = np.argpartition(-(ivf.centroids @ q + self._empty_penalty), n_probe - 1)[:n_probe] \
            if n_probe < ivf.n_cells else np.arange(ivf.n_cells)
        # a cell is a contiguous block: scan the blocks' rows, and map only the k winners back
        # from their place in the scanned rows to their row ids
        starts, stops = ivf.offsets[cells], ivf.offsets[cells + 1]
        block = np.concatenate([ivf.sorted_vectors[a:b] for a, b in zip(starts.tolist(), stops.tolist())])
        dots = block @ q
        k = min(int(k), len(dots))
        best = np.argpartition(-dots, k - 1)[:k] if k < len(dots) else np.arange(len(dots))
        first = np.cumsum(stops - starts) - (stops - starts)  # where each probed cell starts in the scan
        cell = np.searchsorted(first, best, side="right") - 1
        return ivf.order[starts[cell] + best - first[cell]]
