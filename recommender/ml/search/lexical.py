"""BM25 over item names and descriptions, in numpy.

The catalogue is in memory already (the serving snapshot), so the index is built beside
it instead of in the database: the same code then serves SQLite and PostgreSQL, and a
query costs one pass over the postings of its few terms. Chinese queries reach it
through the vocabulary, which turns their terms into the catalogue's English words.
"""
from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

_TOKEN = re.compile(r"[a-z0-9]+")
_KEEP_S = ("ss", "us", "is")


def stem(token: str) -> str:
    """A plural's singular, no more: "earrings" -> "earring", "glass" stays."""
    if len(token) > 3 and token.endswith("s") and not token.endswith(_KEEP_S):
        return token[:-1]
    return token


def tokenize(text: str) -> list[str]:
    return [stem(t) for t in _TOKEN.findall((text or "").lower())]


class BM25Index:
    """Okapi BM25 (k1, b) with the Lucene idf, log(1 + (N - df + 0.5) / (df + 0.5))."""

    def __init__(self, documents: list[str], k1: float = 1.2, b: float = 0.75):
        self.n = len(documents)
        self.k1, self.b = float(k1), float(b)
        counts = [Counter(tokenize(d)) for d in documents]
        lengths = np.array([sum(c.values()) for c in counts], dtype=np.float32)
        avg = float(lengths.mean()) if self.n and lengths.sum() > 0 else 1.0
        norm = self.k1 * (1 - self.b + self.b * lengths / avg)
        rows: dict[str, list[int]] = {}
        tfs: dict[str, list[int]] = {}
        for i, c in enumerate(counts):
            for tok, tf in c.items():
                rows.setdefault(tok, []).append(i)
                tfs.setdefault(tok, []).append(tf)
        self._norm = norm.astype(np.float32)
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # token -> (rows, BM25 weight)
        self._tf: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # token -> (rows, term frequency)
        for tok, docs in rows.items():
            idx = np.asarray(docs, dtype=np.int32)
            tf = np.asarray(tfs[tok], dtype=np.float32)
            self._tf[tok] = (idx, tf)
            self._postings[tok] = (idx, (self._idf(len(docs)) * tf * (self.k1 + 1) / (tf + norm[idx])).astype(np.float32))

    def _idf(self, df: int) -> float:
        return math.log(1 + (self.n - df + 0.5) / (df + 0.5))

    def __len__(self) -> int:
        return self.n

    def __contains__(self, token: str) -> bool:
        return token in self._postings

    def synonym_scores(self, tokens: dict[str, float]) -> np.ndarray:
        """BM25 of the tokens as one term (Lucene's SynonymQuery): a document's frequency is
        the weighted sum of its tokens' frequencies, the idf is that of the documents with any
        of them. A rare synonym then counts like its common sibling, not more."""
        found = [(self._tf[stem(t)], float(w)) for t, w in tokens.items() if stem(t) in self._tf and w > 0]
        out = np.zeros(self.n, dtype=np.float32)
        if not found:
            return out
        tf = np.zeros(self.n, dtype=np.float32)
        for (idx, freq), weight in found:
            tf[idx] += weight * freq
        docs = np.flatnonzero(tf)
        out[docs] = self._idf(len(docs)) * tf[docs] * (self.k1 + 1) / (tf[docs] + self._norm[docs])
        return out

    def scores(self, query: str | list[str]) -> np.ndarray:
        """BM25 of every document for ``query`` (text, or tokens already made); 0 where no term matches."""
        tokens = tokenize(query) if isinstance(query, str) else [stem(t) for t in query]
        out = np.zeros(self.n, dtype=np.float32)
        for tok in set(tokens):
            hit = self._postings.get(tok)
            if hit is not None:
                out[hit[0]] += hit[1] * tokens.count(tok)
        return out
