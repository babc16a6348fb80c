"""Exact cosine search over a normalised float32 matrix.

One matrix product + argpartition answers a query over 100k x 512 in a few ms, so an
ANN index is not worth its recall loss and build time below ~200k items. The interface
(upsert / remove / search / save / load) is what an ANN backend would implement too.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Hashable, Sequence

import numpy as np

from ..common.matrix import l2_normalize, top_k

INDEX_FORMAT = "jewelrec.vector_index/1"


class VectorIndex:
    def __init__(self, dim: int, version: str = ""):
        if int(dim) <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        self.dim = int(dim)
        self.version = version
        self._ids: list = []
        self._pos: dict = {}
        self._mat = np.zeros((0, self.dim), np.float32)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, item_id: Hashable) -> bool:
        return item_id in self._pos

    @property
    def ids(self) -> list:
        return list(self._ids)

    @property
    def matrix(self) -> np.ndarray:
        return self._mat

    def _check_vecs(self, vecs: np.ndarray, n: int) -> np.ndarray:
        vecs = np.asarray(vecs, np.float32)
        if vecs.ndim == 1:
            vecs = vecs[None]
        if vecs.shape != (n, self.dim):
            raise ValueError(f"expected vectors of shape ({n}, {self.dim}), got {vecs.shape}")
        if not np.isfinite(vecs).all():
            raise ValueError("vectors contain NaN or inf")
        return l2_normalize(vecs)

    def upsert(self, ids: Sequence[Hashable], vecs: np.ndarray) -> None:
        """Insert new ids, replace the vectors of known ones. Validates before changing anything."""
        ids = list(ids)
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate ids in one upsert")
        vecs = self._check_vecs(vecs, len(ids))
        new_rows = []
        for i, item_id in enumerate(ids):
            pos = self._pos.get(item_id)
            if pos is None:
                new_rows.append(i)
            else:
                self._mat[pos] = vecs[i]
        if new_rows:
            start = len(self._ids)
            self._mat = np.concatenate([self._mat, vecs[new_rows]], axis=0)
            for off, i in enumerate(new_rows):
                self._ids.append(ids[i])
                self._pos[ids[i]] = start + off

    def remove(self, ids: Sequence[Hashable]) -> int:
        """Remove ids that are present; returns how many were removed."""
        drop = {self._pos[i] for i in ids if i in self._pos}
        if not drop:
            return 0
        keep = np.array([p for p in range(len(self._ids)) if p not in drop], dtype=np.int64)
        self._mat = self._mat[keep]
        self._ids = [self._ids[p] for p in keep]
        self._pos = {item_id: p for p, item_id in enumerate(self._ids)}
        return len(drop)

    def get(self, item_id: Hashable) -> np.ndarray | None:
        pos = self._pos.get(item_id)
        return None if pos is None else self._mat[pos].copy()

    def search(self, query_vec: np.ndarray, k: int = 10, mask: np.ndarray | None = None, exclude: Sequence[Hashable] = ()) -> list[tuple[Hashable, float]]:
        """Top-k (id, cosine) for one query. ``mask``: bool per row (in ``ids`` order), True = allowed."""
        q = np.asarray(query_vec, np.float32).reshape(-1)
        if q.shape[0] != self.dim:
            raise ValueError(f"query has {q.shape[0]} dims, index has {self.dim}")
        if not len(self._ids):
            return []
        scores = self._mat @ l2_normalize(q)
        if mask is not None:
            mask = np.asarray(mask, bool)
            if mask.shape != (len(self._ids),):
                raise ValueError(f"mask must have shape ({len(self._ids)},), got {mask.shape}")
            scores = np.where(mask, scores, -np.inf)
        for item_id in exclude:
            pos = self._pos.get(item_id)
            if pos is not None:
                scores[pos] = -np.inf
        idx, vals = top_k(scores, k)
        return [(self._ids[i], float(v)) for i, v in zip(idx, vals) if np.isfinite(v)]

    def save(self, directory: str | os.PathLike) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        ids = [i if isinstance(i, (str, int)) else str(i) for i in self._ids]
        tmp = d / "vectors.tmp.npy"
        np.save(tmp, self._mat, allow_pickle=False)
        os.replace(tmp, d / "vectors.npy")
        (d / "index.json").write_text(json.dumps({"format": INDEX_FORMAT, "dim": self.dim, "version": self.version, "ids": ids}))

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "VectorIndex":
        d = Path(directory)
        meta = json.loads((d / "index.json").read_text())
        if meta.get("format") != INDEX_FORMAT:
            raise ValueError(f"{d}: not a vector index ({meta.get('format')!r})")
        mat = np.load(d / "vectors.npy", allow_pickle=False)
        if mat.shape != (len(meta["ids"]), meta["dim"]):
            raise ValueError(f"{d}: vectors {mat.shape} do not match {len(meta['ids'])} ids x {meta['dim']}")
        idx = cls(meta["dim"], meta.get("version", ""))
        idx._mat = np.ascontiguousarray(mat, np.float32)
        idx._ids = list(meta["ids"])
        idx._pos = {item_id: p for p, item_id in enumerate(idx._ids)}
        return idx
