"""The one home of top-k selection: every ranker, the evaluation and serving use these."""
import numpy as np
import pytest

from recommender.ml.common.matrix import top_k, top_k_rows, top_k_unordered


@pytest.mark.parametrize("n,k", [(100_000, 300), (100_000, 1), (20_000, 5000), (50, 10), (10, 10), (10, 0), (5, 9)])
def test_top_k_unordered_is_exactly_the_k_largest(n, k):
    values = np.random.default_rng(3).normal(size=n).astype(np.float32)
    got = top_k_unordered(values, k)
    assert len(got) == min(k, n) and len(set(got.tolist())) == len(got)
    assert set(got.tolist()) == set(np.argsort(-values)[:k].tolist())


def test_top_k_unordered_falls_back_when_the_sample_threshold_is_too_high():
    skewed = np.zeros(100_000, np.float32)
    skewed[:3] = 1.0  # the strided sample sees only zeros: too few contenders survive its threshold
    got = top_k_unordered(skewed, 300)
    assert len(got) == 300 and {0, 1, 2} <= set(got.tolist())


def test_top_k_is_best_first_with_ties_broken_by_lower_index():
    scores = np.array([0.5, 0.9, 0.5, 0.1, 0.9, 0.5, 0.5])
    idx, vals = top_k(scores, 4)
    assert idx.tolist() == [1, 4, 0, 2]
    assert vals.tolist() == [0.9, 0.9, 0.5, 0.5]
    # a large array of ties: the partition may keep any of them, top_k keeps the lowest indices
    flat = np.zeros(50_000, np.float32)
    flat[[7, 40_000]] = 2.0
    assert top_k(flat, 5)[0].tolist() == [7, 40_000, 0, 1, 2]


def test_top_k_edges():
    assert top_k(np.array([3.0, 1.0]), 0)[0].tolist() == []
    assert top_k(np.array([3.0, 1.0, 2.0]), 10)[0].tolist() == [0, 2, 1]
    assert top_k(np.array([]), 3)[0].tolist() == []


def test_top_k_rows_matches_top_k_per_row():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(20, 300))
    rows = top_k_rows(scores, 10)
    assert rows.shape == (20, 10)
    for r in range(20):
        assert rows[r].tolist() == top_k(scores[r], 10)[0].tolist()
    assert top_k_rows(scores, 1000).shape == (20, 300)
    assert top_k_rows(scores, 0).shape == (20, 0)
