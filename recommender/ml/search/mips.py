"""Approximate maximum-inner-product search (MIPS) through faiss: the xDeepFM scorer's retrieval.

A ranker's first stage asks for the rows with the largest inner product with one query, over
rows of any norm (projected item vectors). A full scan of a 100k-row matrix costs a
millisecond of memory traffic per request; an inverted-file index (faiss ``IndexIVFFlat``)
scans only the rows in the ``n_probe`` cells whose centroids score best against the query.
Recall is traded for speed through ``n_probe``; probing every cell is the exact answer.

This replaced a hand-written IVF (numpy k-means cells, ``ml/search/ivf.py`` until its removal);
faiss is already the catalogue's similarity index (``ann.py``).
"""
from __future__ import annotations

import os

import numpy as np

from .ann import faiss_module

# Rows k-means trains on per cell at most: a seeded sample beyond that. faiss's own cap is 256;
# at 100k x 33 (k=500, the scorer's probes) that built in 3.5 s (1M rows: 46 s) for recall@500
# 0.80, 64 in 1.1-1.7 s (15 s) for 0.77-0.78, against 0.7 s (7.7 s) and 0.735 for the
# hand-written IVF it replaced (2 busy cores). Every serving process builds its own index when
# its catalogue changes, so the cheaper training wins.
TRAIN_ROWS_PER_CELL = 64


def default_cells(n: int) -> int:
    """~2 sqrt(n) cells balance the centroid scan against the rows scanned per probe."""
    return max(1, min(4096, round(2 * np.sqrt(n))))


class MipsIndex:
    """Approximate maximum-inner-product search over rows of any norm.

    Inner products are turned into cosines (Bachrach et al. 2014): each row x becomes the
    unit vector [x, sqrt(M^2 - |x|^2)] / M (M the largest norm) and a query q becomes [q, 0],
    so x.q / M is the cosine of the two and ranks rows exactly as x.q does. faiss could cluster
    the raw rows under METRIC_INNER_PRODUCT, but inner-product cells over rows of varied norm
    are ill-behaved: a long row (or centroid) wins the assignment of rows that point elsewhere,
    so a few cells swallow most rows and a cell's centroid says little about what its rows
    score against a query. On unit rows the largest inner product is the nearest neighbour,
    the (spherical) k-means cells are proper Voronoi cells of similar size, and ranking the cells
    by centroid . query finds the cells that hold the best rows.

    A search probes the ``n_probe`` best cells (faiss ``SearchParametersIVF``, per call, so
    concurrent searches never share a setting) and returns the ids of the top k it scanned."""

    def __init__(self, index, dim: int) -> None:
        self.index = index  # faiss IndexIVFFlat (IndexFlatIP quantizer) over the augmented rows
        self.dim = int(dim)  # the rows' own dimension (the index holds dim + 1)

    @property
    def n_cells(self) -> int:
        return int(self.index.nlist)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def build(cls, vectors: np.ndarray, *, n_cells: int | None = None, seed: int = 0,
              threads: int | None = None) -> "MipsIndex":
        """Spherical k-means cells (faiss, clustering seeded by ``seed``: the same rows and seed
        give the same index) over the augmented rows, then every row in its nearest cell."""
        vectors = np.asarray(vectors, np.float32)
        if vectors.ndim != 2 or len(vectors) == 0:
            raise ValueError("cannot build an index over no rows")
        n, dim = vectors.shape
        norms = np.linalg.norm(vectors, axis=1)
        top = float(norms.max()) or 1.0
        lift = np.sqrt(np.maximum(top * top - norms * norms, 0.0))[:, None]
        augmented = np.ascontiguousarray(np.concatenate([vectors, lift], axis=1) / top, np.float32)
        n_cells = min(int(n_cells or default_cells(n)), n)

        faiss = faiss_module()
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(threads or os.cpu_count() or 1)  # a build is off the request path
        try:
            quantizer = faiss.IndexFlatIP(dim + 1)
            index = faiss.IndexIVFFlat(quantizer, dim + 1, n_cells, faiss.METRIC_INNER_PRODUCT)
            index.cp.seed = seed  # k-means' initial centroids (and any sampling of its own)
            train_rows = TRAIN_ROWS_PER_CELL * n_cells
            train = augmented if n <= train_rows else \
                augmented[np.sort(np.random.default_rng(seed).choice(n, train_rows, replace=False))]
            index.train(train)
            # Each row's cell, once: k-means leaves a cell empty where many rows are identical
            # (items without a vector all land in one). An empty cell is dropped, so a probe is
            # never spent on it; dropping a centroid no row chose moves no row.
            _, assign = quantizer.search(augmented, 1)
            assign = assign.ravel()
            used = np.bincount(assign, minlength=n_cells) > 0
            if not used.all():
                centroids = quantizer.reconstruct_n(0, n_cells)[used]
                quantizer = faiss.IndexFlatIP(dim + 1)
                quantizer.add(centroids)
                index = faiss.IndexIVFFlat(quantizer, dim + 1, len(centroids), faiss.METRIC_INNER_PRODUCT)
                assign = (np.cumsum(used) - 1)[assign]
            assign = np.ascontiguousarray(assign, np.int64)
            index.add_core(n, faiss.swig_ptr(augmented), None, faiss.swig_ptr(assign))
        finally:
            faiss.omp_set_num_threads(before)
        return cls(index, dim)

    def search(self, query: np.ndarray, k: int, n_probe: int) -> np.ndarray:
        """Row ids (unordered, unique) of the ``k`` largest inner products among the rows of the
        ``n_probe`` probed cells; fewer only when those cells hold fewer than ``k`` rows."""
        k = min(int(k), len(self))
        if k <= 0:
            return np.zeros(0, np.int64)
        q = np.zeros((1, self.dim + 1), np.float32)
        q[0, :self.dim] = query
        params = faiss_module().SearchParametersIVF(nprobe=max(1, min(int(n_probe), self.n_cells)))
        _, ids = self.index.search(q, k, params=params)
        ids = ids[0]
        return ids[ids >= 0]  # faiss pads with -1 when the probed cells hold fewer than k
