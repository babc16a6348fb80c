"""Learning the blend's weights: the metric by hand, the search on planted signals, and
that tuning never looks at test customers."""
import numpy as np
import pytest

from recommender.ml.blend.model import SHAPES
from recommender.ml.blend.signals import SOURCES
from recommender.ml.blend.tuning import FoldFeatures, coordinate_ascent, fit_blend, ndcg_per_user
from recommender.ml.evaluation.splits import intent_split
from tests.ml.models.toydata import toy_data


def test_ndcg_per_user_by_hand():
    scores = np.array([[0.9, 0.5, 0.1, 0.0],
                       [0.9, 0.5, 0.1, 0.0],
                       [0.9, 0.5, 0.1, 0.0]])
    relevant = [np.array([0]), np.array([1]), np.array([1, 2])]
    exclude = np.zeros_like(scores, bool)
    exclude[2, 0] = True  # item 0 is in the third shopper's input: not ranked
    out = ndcg_per_user(scores, relevant, exclude, k=2)
    assert out[0] == pytest.approx(1.0)
    assert out[1] == pytest.approx(1 / np.log2(3))
    # ranked: 1, 2 -> both relevant at ranks 1 and 2: ideal
    assert out[2] == pytest.approx(1.0)
    assert ndcg_per_user(scores[:1], [np.array([], np.int64)], exclude[:1], k=2)[0] == 0.0


def test_coordinate_ascent_finds_the_planted_signal_and_leaves_noise_at_zero():
    rng = np.random.default_rng(0)
    users, items = 300, 50
    relevant = [np.array([int(rng.integers(items))]) for _ in range(users)]
    anchor = rng.normal(size=(users, items))  # channel popularity: pure noise here
    signal = np.zeros((users, items))
    for u, r in enumerate(relevant):
        signal[u, r] = 5.0  # knows the answer
    noise = rng.normal(size=(users, items))
    feats = np.stack([anchor, signal, noise], axis=2).astype(np.float32)
    fold = FoldFeatures(feats, relevant, np.zeros((users, items), bool))
    names = ("channel_popularity", "co_jewelry", "trending")
    weights, score = coordinate_ascent([fold], names, {"channel_popularity": 1.0})
    assert weights["channel_popularity"] == 1.0  # the anchor never moves
    assert weights["co_jewelry"] > 0 and weights["trending"] == 0.0
    assert score > 0.9


def test_fit_blend_tunes_each_shape_on_training_customers_only():
    data = toy_data(n_users=120)
    split = intent_split(data, seed=0)
    blend = fit_blend(data, split.train, folds=3, seed=0)
    assert set(blend.weights) == set(SHAPES)
    for shape in SHAPES:
        assert set(blend.weights[shape]) == set(SOURCES)
        assert blend.weights[shape]["channel_popularity"] == 1.0
        assert blend.tuning[shape]["folds"] == 3 and blend.tuning[shape]["customers"] > 0
    # the statistics are the training interactions' only: test customers' purchases are absent
    train_sales = blend.require().counts.sum()
    target = data.items.is_target[split.train.item_idx]
    assert train_sales == pytest.approx(float(target.sum()))
    assert train_sales < data.items.is_target[data.interactions.item_idx].sum()
    assert set(blend.scales) >= set(SOURCES) and all(v > 0 for v in blend.scales.values())
