import json

import numpy as np
import pytest

from recommender.ml.data import UserContext
from recommender.ml.common.artifacts import META_FILE, WEIGHTS_FILE
from recommender.ml.models.baselines import (
    ALSRecommender,
    ContentRecommender,
    DotProductRetriever,
    ItemKNNRecommender,
    PopularityRecommender,
    RecencyPopularityRecommender,
)
from tests.ml.models.toydata import toy_data


@pytest.fixture(scope="module")
def data():
    return toy_data(n_users=40)


def test_popularity_ranks_most_bought_first(data):
    m = PopularityRecommender().fit(data)
    # item 10 and 13: 20 buyers each; item 12: 14 buyers; 11, 14, 15: none
    top = m.recommend(UserContext(), k=3)
    assert set(top[:2].tolist()) == {10, 13} and top[2] == 12
    # only target items are recommended by default, and exclude works
    assert 12 not in m.recommend(UserContext(), k=6, exclude=[12])
    assert set(m.recommend(UserContext(), k=6).tolist()) <= set(range(10, 16))


def test_recency_popularity_prefers_recent(data):
    # item 12 is bought on the last day, 10 and 13 three days earlier: a 0.5-day half-life puts 12 first
    m = RecencyPopularityRecommender(half_life_days=0.5).fit(data)
    assert m.recommend(UserContext(), k=1)[0] == 12
    with pytest.raises(ValueError, match="half_life_days"):
        RecencyPopularityRecommender(half_life_days=0)


def test_item_knn_recommends_the_co_purchased_item(data):
    m = ItemKNNRecommender().fit(data)
    assert m.recommend(UserContext(history=[0, 1]), k=1)[0] == 10
    assert m.recommend(UserContext(history=[5]), k=1)[0] == 13
    # an empty history falls back to popularity instead of arbitrary order
    assert m.recommend(UserContext(), k=2).tolist() in ([10, 13], [13, 10])


def test_als_learns_the_groups(data):
    m = ALSRecommender(factors=8, iterations=10, num_threads=1, regularization=0.01).fit(data)
    assert m.recommend(UserContext(history=[0, 1]), k=1)[0] == 10
    assert m.recommend(UserContext(history=[5, 6]), k=1)[0] == 13


def test_content_uses_item_vectors(data):
    m = ContentRecommender().fit(data)
    # menswear history (section 2 vectors) -> a section-2 target item first
    top = m.recommend(UserContext(history=[5, 6]), k=1)[0]
    assert data.items.attributes["section"][top] == 2


@pytest.mark.parametrize("cls,kwargs", [
    (PopularityRecommender, {}), (RecencyPopularityRecommender, {}), (ItemKNNRecommender, {}),
    (ALSRecommender, {"factors": 4, "iterations": 3, "num_threads": 1}), (ContentRecommender, {}),
])
def test_save_load_round_trip(data, tmp_path, cls, kwargs):
    m = cls(**kwargs).fit(data)
    m.save(tmp_path)
    loaded = cls.load(tmp_path)
    user = UserContext(history=[0, 5, 2])
    cands = data.items.target_items
    np.testing.assert_allclose(loaded.score(user, cands), m.score(user, cands), rtol=1e-6)
    raw = (tmp_path / WEIGHTS_FILE).read_bytes()
    json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])  # safetensors header, not a pickle
    assert json.loads((tmp_path / META_FILE).read_text())["kind"] == cls.model_type


def test_dot_product_retriever(data):
    r = DotProductRetriever(data.items.vectors, data.items.vector_mask, data.items.target_items)
    got = r.retrieve(UserContext(history=[5, 6]), 2)
    assert len(got) == 2 and all(data.items.attributes["section"][got] == 2)
