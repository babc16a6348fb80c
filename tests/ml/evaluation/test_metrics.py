import math

import numpy as np
import pytest

from recommender.ml.evaluation.metrics import (
    bootstrap_difference,
    catalog_coverage,
    cold_recall_at_k,
    hit_rate_at_k,
    ndcg_at_k,
    ranking_metrics,
    recall_at_k,
)


def test_recall_hand_computed():
    # relevant {2, 7, 9}; top-3 = [7, 1, 2] hits 7 and 2 -> 2/3
    assert recall_at_k([7, 1, 2, 9], {2, 7, 9}, 3) == pytest.approx(2 / 3)
    assert recall_at_k([7, 1, 2, 9], {2, 7, 9}, 4) == pytest.approx(1.0)
    assert recall_at_k([1, 2], set(), 2) == 0.0


def test_hit_rate_hand_computed():
    assert hit_rate_at_k([5, 6, 7], {7}, 3) == 1.0
    assert hit_rate_at_k([5, 6, 7], {7}, 2) == 0.0


def test_ndcg_hand_computed():
    # hits at ranks 1 and 3: DCG = 1 + 1/log2(4) = 1.5; IDCG (2 relevant) = 1 + 1/log2(3)
    expected = 1.5 / (1 + 1 / math.log2(3))
    assert ndcg_at_k([4, 0, 8, 3], {4, 8}, 3) == pytest.approx(expected)
    # single relevant at rank 2: 1/log2(3)
    assert ndcg_at_k([1, 2, 3], {2}, 10) == pytest.approx(1 / math.log2(3))
    # perfect ranking
    assert ndcg_at_k([1, 2], {1, 2}, 2) == pytest.approx(1.0)
    # more relevant than K: IDCG uses only K positions
    assert ndcg_at_k([1], {1, 2, 3}, 1) == pytest.approx(1.0)


def test_k_must_be_positive():
    with pytest.raises(ValueError, match="k must be a positive integer"):
        ndcg_at_k([1], {1}, 0)


def test_coverage_and_cold_recall():
    recs = [[1, 2, 3], [1, 4, 5]]
    assert catalog_coverage(recs, range(10), 2) == pytest.approx(3 / 10)  # {1, 2, 4}
    # user A: cold relevant {3} found in top-3; user B has no cold relevant item (ignored)
    assert cold_recall_at_k(recs, [{3, 9}, {4}], cold_items={3, 9}, k=3) == pytest.approx(0.5)
    assert cold_recall_at_k(recs, [{1}, {4}], cold_items={9}, k=3) is None


def test_ranking_metrics_keys_and_values():
    out = ranking_metrics([[1, 2], [3, 4]], [{2}, {9}], catalog=range(5), cold_items=[], ks=(2,))
    assert out["recall@2"] == pytest.approx(0.5)
    assert out["hit_rate@2"] == pytest.approx(0.5)
    assert out["ndcg@2"] == pytest.approx(0.5 / math.log2(3))
    assert out["coverage@2"] == pytest.approx(4 / 5)
    assert out["cold_recall@2"] is None


def test_bootstrap_difference_is_paired_and_reproducible():
    a = np.array([1.0, 1.0, 0.0, 1.0])
    b = np.array([0.0, 1.0, 0.0, 0.0])
    r1 = bootstrap_difference(a, b, n_resamples=200, seed=3)
    r2 = bootstrap_difference(a, b, n_resamples=200, seed=3)
    assert r1 == r2
    assert r1["difference"] == pytest.approx(0.5)
    assert r1["relative_improvement"] == pytest.approx(2.0)
    assert r1["difference_ci_low"] <= 0.5 <= r1["difference_ci_high"]
    with pytest.raises(ValueError):
        bootstrap_difference(a, b[:2])
