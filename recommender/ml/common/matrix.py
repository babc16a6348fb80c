"""float32 matrix helpers for cosine search."""
from __future__ import annotations

import numpy as np


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Row-wise L2 normalisation into a new float32 array; all-zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        n = float(np.linalg.norm(x))
        return (x / n).astype(np.float32) if n > eps else x.copy()
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.where(norms > eps, x / np.maximum(norms, eps), 0.0).astype(np.float32)


def top_k_unordered(values: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest values of a 1-d array, in no particular order.

    A full partition of ~100k scores costs ~0.5 ms; a threshold from a strided sample first
    cuts the array to a few thousand contenders. If the sample's threshold is too high
    (fewer than k survive) the full partition answers, so the result is always exact."""
    values = np.asarray(values)
    n = len(values)
    k = max(0, min(int(k), n))
    if k == 0:
        return np.zeros(0, np.int64)
    if k == n:
        return np.arange(n)
    if n > 16 * k and n > 8192:
        sample = values[::16]
        # a rank with room for sampling noise: ~4x the expected count survives
        rank = min(len(sample) - 1, 4 * (k // 16 + 8))
        threshold = np.partition(sample, len(sample) - 1 - rank)[len(sample) - 1 - rank]
        contenders = np.flatnonzero(values >= threshold)
        if len(contenders) >= k:
            return contenders[np.argpartition(-values[contenders], k - 1)[:k]]
    return np.argpartition(-values, k - 1)[:k]


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the k largest entries of a 1-d score array, best first.

    O(n) for the usual k << n (``top_k_unordered``, then a sort of k); ties break by lower
    index so the result is deterministic."""
    scores = np.asarray(scores)
    part = top_k_unordered(scores, k)
    if not len(part):
        return part.astype(np.int64), np.empty(0, dtype=scores.dtype)
    # Ties at the k-th value: the partition may have kept any of them; take the lowest indices.
    kth = scores[part].min()
    if len(part) < len(scores) and np.count_nonzero(scores >= kth) > len(part):
        above = np.flatnonzero(scores > kth)
        ties = np.flatnonzero(scores == kth)[: len(part) - len(above)]
        part = np.concatenate([above, ties])
    order = np.lexsort((part, -scores[part]))
    idx = part[order].astype(np.int64)
    return idx, scores[idx]


def top_k_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Column positions of the k largest entries of each row of a 2-d array, best first
    (ties within a row in no guaranteed order): the batch form for offline evaluation."""
    scores = np.asarray(scores)
    k = max(0, min(int(k), scores.shape[1]))
    if k == 0:
        return np.zeros((scores.shape[0], 0), np.int64)
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)
