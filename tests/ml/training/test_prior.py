"""The popularity prior: its values, how its weight is chosen, and that it reaches the scores."""
import numpy as np
import pytest

from recommender.ml.data import InteractionData, UserContext
from recommender.ml.evaluation.splits import ProtocolSplit
from recommender.ml.models.xdeepfm import XDeepFMRecommender
from recommender.ml.config import ConfigError, TrainConfig
from recommender.ml.training.transfer import PRIOR_BETAS, fit_prior, popularity_prior
from tests.ml.models.toydata import toy_data

DAY = 86400


def test_popularity_prior_is_log1p_of_recency_weighted_counts():
    inter = InteractionData(user_idx=[0, 1, 2], item_idx=[1, 1, 2], timestamp=[10 * DAY, 8 * DAY, 10 * DAY],
                            weight=[1.0, 1.0, 2.0], event_type=[0, 0, 0])
    p = popularity_prior(inter, 4, half_life_days=2.0)
    np.testing.assert_allclose(p, np.log1p([0.0, 1.0 + 0.5, 2.0, 0.0]), rtol=1e-6)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), True, "1"])
def test_prior_beta_must_be_null_or_a_small_non_negative_number(bad):
    with pytest.raises(ConfigError, match="prior_beta"):
        TrainConfig(prior_beta=bad)


def _built(prior_beta=None):
    data = toy_data(n_users=40)
    model = XDeepFMRecommender(TrainConfig(embed_dim=8, cin_layers=[4], dnn_layers=[8], prior_beta=prior_beta))
    model.build(data, data.interactions)
    return data, model


def test_fixed_beta_and_no_validation():
    data, model = _built(prior_beta=1.5)
    rec = fit_prior(model, data, data.interactions)
    assert rec[-1]["beta"] == 1.5 and float(model.net.prior_beta) == 1.5
    expected = popularity_prior(data.interactions, len(data.items), 2.0)
    np.testing.assert_allclose(model.net.item_prior[:-1].numpy(), expected, rtol=1e-6)
    data, model = _built()
    assert fit_prior(model, data, data.interactions)[-1]["beta"] == 0.0  # nothing to tune on: no prior


def test_beta_is_tuned_on_validation_and_changes_the_ranking_as_chosen():
    data, model = _built()
    counts = popularity_prior(data.interactions, len(data.items), 2.0)
    tgt = data.items.target_items
    top = tgt[np.argmax(counts[tgt])]
    # validation customers who all bought the target item with the highest prior: a prior can only help
    val = ProtocolSplit("v", data.interactions, np.arange(5), [np.array([0])] * 5, [np.array([top])] * 5, tgt, "")
    recs = fit_prior(model, data, data.interactions, validation=val)
    tried = [r for r in recs if r["epoch"] != "chosen"]
    assert [r["beta"] for r in tried] == list(PRIOR_BETAS)
    best = max(r["val_ndcg@10"] for r in tried)
    chosen = recs[-1]["beta"]
    assert chosen == min(r["beta"] for r in tried if r["val_ndcg@10"] == best)
    assert float(model.net.prior_beta) == chosen
    assert recs[-1]["val_ndcg@10"] == best and best >= tried[0]["val_ndcg@10"]
    rank = lambda: int((model.score(UserContext(history=[0]), tgt) > model.score(UserContext(history=[0]), [top])[0]).sum())
    with_prior = rank()
    model.net.set_item_prior(model.net.item_prior[:-1].numpy(), 0.0)
    assert with_prior <= rank()


def test_prior_residual_sets_the_prior_before_fine_tuning():
    with pytest.raises(ConfigError, match="prior_residual"):
        TrainConfig(prior_residual="yes")
    from recommender.ml.training.transfer import fit_transfer

    data = toy_data(n_users=40)
    model = XDeepFMRecommender(TrainConfig(embed_dim=8, cin_layers=[4], dnn_layers=[8], epochs_pretrain=1,
                                           epochs_finetune=1, batch_size=16, finetune_batch_size=16, negatives=4,
                                           prior_residual=True))
    records = fit_transfer(model, data)
    assert float(model.net.prior_beta) == 1.0 and "prior" not in [r["phase"] for r in records]
    np.testing.assert_allclose(model.net.item_prior[:-1].numpy(), popularity_prior(data.interactions, len(data.items), 2.0), rtol=1e-6)
