"""Reciprocal rank fusion: one ranking out of several whose scores do not compare."""
from __future__ import annotations

import numpy as np

RRF_K = 60


def reciprocal_rank_fusion(rankings: list[tuple[np.ndarray, np.ndarray]], rows: np.ndarray, k: int = RRF_K,
                           weights: list[float] | None = None) -> np.ndarray:
    """Sum over ``rankings`` of weight / (k + rank) for each of ``rows`` (Cormack et al.,
    2009; weight 1 each unless given).

    Each ranking is ``(scores, ranked)``: scores for every row, and a bool per row saying
    whether that ranking ranks it at all (a row BM25 does not match gets nothing from BM25,
    not the last rank). Ties share the better rank, so equal scores stay equal."""
    rows = np.asarray(rows, dtype=np.int64)
    out = np.zeros(len(rows), dtype=np.float64)
    weights = [1.0] * len(rankings) if weights is None else weights
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    for (scores, ranked), weight in zip(rankings, weights):
        sub = np.asarray(ranked, dtype=bool)[rows]
        idx = np.flatnonzero(sub)
        if not len(idx):
            continue
        values = np.asarray(scores, dtype=np.float64)[rows[idx]]
        # rank = 1 + how many rows score strictly higher (competition ranking: ties share).
        ordered = np.sort(values)[::-1]
        rank = 1 + np.searchsorted(-ordered, -values, side="left")
        out[idx] += weight / (k + rank)
    return out
