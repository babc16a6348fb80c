import numpy as np
import pytest

from recommender.ml.data import DatasetTooSmall, load_hm_interactions
from recommender.ml.evaluation.splits import cross_sell_split, intent_split, temporal_split, validation_split
from tests.ml.models.toydata import toy_data


def _check_cross_sell(data, split):
    is_tgt = data.items.is_target
    train_users = set(split.train.user_idx.tolist())
    # test customers are unseen in training
    assert not train_users & set(split.test_users.tolist())
    for h, rel in zip(split.test_histories, split.test_relevant):
        assert len(h) > 0 and len(rel) > 0
        assert not is_tgt[h].any()  # hidden target items never appear in the input
        assert is_tgt[rel].all()
    # full target catalog, never sampled
    np.testing.assert_array_equal(split.candidates, np.flatnonzero(is_tgt))


def test_cross_sell_split_properties_toy():
    data = toy_data(n_users=50)
    split = cross_sell_split(data, test_fraction=0.2, seed=0)
    assert split.n_test == 10
    _check_cross_sell(data, split)
    # every interaction of non-test customers stays trainable
    n_test_rows = np.isin(data.interactions.user_idx, split.test_users).sum()
    assert len(split.train) == len(data.interactions) - n_test_rows
    val = validation_split(data, split, seed=1)
    assert not set(val.test_users.tolist()) & set(split.test_users.tolist())
    assert "cross_sell" in split.notes and "full target catalog" in split.notes


def test_cross_sell_split_is_deterministic():
    data = toy_data()
    a, b = cross_sell_split(data, seed=3), cross_sell_split(data, seed=3)
    np.testing.assert_array_equal(a.test_users, b.test_users)


def test_temporal_split_toy():
    data = toy_data(n_users=30)
    split = temporal_split(data, test_days=1)  # last day = day 6: item 12 buyers
    assert (split.train.timestamp < 6 * 86400).all()
    for rel in split.test_relevant:
        np.testing.assert_array_equal(rel, [12])
    assert split.n_test == 10


def test_too_small_raises_clear_error():
    data = toy_data(n_users=6)
    with pytest.raises(DatasetTooSmall, match="cross-sell protocol needs at least 5"):
        cross_sell_split(data, test_fraction=0.2)


@pytest.mark.slow
def test_cross_sell_split_on_real_sample(hm_dir):
    data = load_hm_interactions(hm_dir, with_content_vectors=False)
    assert int(data.items.is_target.sum()) == 2171
    split = cross_sell_split(data, test_fraction=0.2, seed=0)
    _check_cross_sell(data, split)
    assert len(split.candidates) == 2171


def test_intent_split_hides_one_jewel_and_keeps_everything_else_as_input():
    data = toy_data(n_users=60)
    split = intent_split(data, test_fraction=0.2, seed=0)
    is_tgt = data.items.is_target
    assert split.n_test == 12 and split.exclude_history
    assert not set(split.train.user_idx.tolist()) & set(split.test_users.tolist())
    inter = data.interactions
    for u, h, rel in zip(split.test_users, split.test_histories, split.test_relevant):
        assert len(rel) == 1 and is_tgt[rel[0]]
        assert rel[0] not in h  # the hidden jewel is never in the input
        bought = set(inter.item_idx[inter.user_idx == u].tolist())
        assert set(h.tolist()) == bought - {int(rel[0])}  # everything else, other jewelry included
    # the same seed gives the same split; channel mix and moment come with each input
    again = intent_split(data, test_fraction=0.2, seed=0)
    assert [r.tolist() for r in again.test_relevant] == [r.tolist() for r in split.test_relevant]
    assert len(split.test_at) == split.n_test and (split.test_at > 0).all()


def test_folds_partition_the_eligible_customers():
    data = toy_data(n_users=60)
    parts = [set(intent_split(data, seed=3, fold=(i, 3)).test_users.tolist()) for i in range(3)]
    assert not (parts[0] & parts[1]) and not (parts[1] & parts[2]) and not (parts[0] & parts[2])
    assert len(parts[0] | parts[1] | parts[2]) == 60
    with pytest.raises(ValueError, match="fold must be"):
        intent_split(data, fold=(3, 3))
