import math

import numpy as np

from recommender.ml.search.fusion import reciprocal_rank_fusion
from recommender.ml.search.lexical import BM25Index, tokenize


def test_tokenize_lowercases_splits_and_singularises():
    assert tokenize("Gold HOOP-earrings, glass pearls") == ["gold", "hoop", "earring", "glass", "pearl"]


def test_bm25_matches_the_formula_by_hand():
    docs = ["gold hoop", "gold ring ring", "silver ring"]
    index = BM25Index(docs, k1=1.2, b=0.75)
    scores = index.scores("ring")
    avg = 7 / 3
    idf = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))

    def term(tf, length):
        return idf * tf * 2.2 / (tf + 1.2 * (1 - 0.75 + 0.75 * length / avg))

    assert scores[0] == 0.0
    assert np.isclose(scores[1], term(2, 3)) and np.isclose(scores[2], term(1, 2))
    assert index.scores("necklace").tolist() == [0.0, 0.0, 0.0]
    assert index.scores("").tolist() == [0.0, 0.0, 0.0]


def test_rrf_by_hand_with_unranked_rows_and_ties():
    lexical = (np.array([3.0, 1.0, 2.0, 0.0]), np.array([True, True, True, False]))
    vector = (np.array([0.1, 0.9, 0.5, 0.2]), np.ones(4, dtype=bool))
    fused = reciprocal_rank_fusion([lexical, vector], np.arange(4), k=0)
    assert fused.tolist() == [1 + 1 / 4, 1 / 3 + 1, 1 / 2 + 1 / 2, 1 / 3]
    tied = reciprocal_rank_fusion([(np.array([1.0, 1.0, 0.5]), np.ones(3, dtype=bool))], np.arange(3), k=60)
    assert tied[0] == tied[1] == 1 / 61 and tied[2] == 1 / 63
    assert reciprocal_rank_fusion([vector], np.array([1, 3]), k=0).tolist() == [1.0, 1 / 2]  # ranks among the rows asked


def test_rrf_weights():
    a = (np.array([2.0, 1.0]), np.ones(2, dtype=bool))
    b = (np.array([1.0, 2.0]), np.ones(2, dtype=bool))
    assert reciprocal_rank_fusion([a, b], np.arange(2), k=0, weights=[1.0, 0.5]).tolist() == [1 + 0.25, 0.5 + 0.5]
    import pytest

    with pytest.raises(ValueError):
        reciprocal_rank_fusion([a, b], np.arange(2), weights=[1.0])


def test_synonym_scores_treat_the_tokens_as_one_term():
    index = BM25Index(["plastic earring", "acetate earring", "plastic resin earring", "metal earring"])
    one = index.synonym_scores({"plastic": 1.0, "acetate": 0.5, "resin": 0.5})
    # df of the union is 3: every matching document gets the same idf, frequencies weighted
    idf = math.log(1 + (4 - 3 + 0.5) / (3 + 0.5))
    avg = 9 / 4

    def bm25(tf, length):
        return idf * tf * 2.2 / (tf + 1.2 * (1 - 0.75 + 0.75 * length / avg))

    assert np.allclose(one, [bm25(1.0, 2), bm25(0.5, 2), bm25(1.5, 3), 0.0])
    assert one[0] > one[1]  # the rare synonym no longer outweighs the common word
    assert index.synonym_scores({"gold": 1.0}).tolist() == [0.0] * 4
