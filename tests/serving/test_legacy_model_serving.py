"""A version trained before the blend (its folder holds the xDeepFM alone) still serves, and
jewelry added after its training is scored by a copy of the model, never by growing the
trained one in place."""
import numpy as np
import pytest
import torch

from recommender.ml.config import TrainConfig
from recommender.ml.data import ITEM_ATTRIBUTES
from recommender.ml.models.xdeepfm import XDeepFMNet, XDeepFMRecommender
from recommender.models import Item, ModelVersion
from recommender.serving import scenarios
from recommender.serving.catalog import serving_catalog, serving_catalog_invalidate
from recommender.serving.model_ranker import ModelRanker
from recommender.serving.model_store import active_ranker, model_store_reset

TRAINED = ["J001", "J002", "J003", "J004", "J005", "J101", "J102", "J103", "J900", "J901"]


def legacy_model(folder) -> XDeepFMRecommender:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    vocab = {"product_type": ["Earring", "Necklace", "Ring", "Bracelet"], "colour": ["Gold", "Silver"]}
    sizes = [len(vocab.get(a, [])) + 1 for a in ITEM_ATTRIBUTES]
    m = XDeepFMRecommender(TrainConfig(embed_dim=8, cin_layers=[4], dnn_layers=[8]), use_item_vector=False)
    m.net = XDeepFMNet(n_items=len(TRAINED), attr_vocab_sizes=sizes, vector_dim=0, n_tiers=4, n_scenarios=8,
                       embed_dim=8, cin_layers=[4], dnn_layers=[8], dropout=0.0, use_item_vector=False)
    for p in m.net.parameters():
        torch.nn.init.normal_(p, std=0.2)
    m.net.set_item_features(np.stack([rng.integers(0, n, len(TRAINED)) for n in sizes], 1), None, None,
                            np.ones(len(TRAINED), bool))
    m.item_ids, m.vocabularies = list(TRAINED), vocab
    m.target_items = np.arange(len(TRAINED))
    m.save(folder)
    return m


@pytest.fixture
def legacy_version(shop, tmp_path):
    legacy_model(tmp_path / "transfer-only")
    version = ModelVersion.objects.create(name="pre-blend", status="ready", is_active=True,
                                          artifact_dir=str(tmp_path / "transfer-only"))
    model_store_reset()
    yield version
    model_store_reset()


@pytest.mark.django_db
def test_a_pre_blend_version_serves_and_scores_jewelry_added_after_training(shop, legacy_version):
    result = scenarios.recommend_home(scenarios.Request(customer_id="c-none", k=5))
    assert result.model_version == "pre-blend"
    assert len(result.items) == 5 and all(np.isfinite(i.score) for i in result.items)
    ranker = active_ranker()
    assert isinstance(ranker, ModelRanker)

    Item.objects.create(external_id="J777", title="Gold hoop new", product_type="Earring", colour="Gold",
                        is_jewelry=True, price=10)
    serving_catalog_invalidate()
    result = scenarios.recommend_home(scenarios.Request(customer_id="c-none", k=20))
    shown = {i.id: i.score for i in result.items}
    assert "J777" in shown and np.isfinite(shown["J777"])
    # the trained model is as loaded; the copy that knows J777 belongs to this catalog snapshot
    assert ranker.model.item_ids == TRAINED and ranker.model.net.n_items == len(TRAINED)
    prepared = ranker.prepared_for(serving_catalog())
    assert prepared.model is not ranker.model and prepared.model.item_ids == TRAINED + ["J777"]
    assert prepared.index["J777"] == len(TRAINED)
    # items the model was trained on score as the trained model scores them
    catalog = serving_catalog()
    trained_rows = [catalog.row_of[e] for e in TRAINED if e in catalog.row_of]
    scores = ranker.score(catalog, scenarios.customer_context("c-none"), cart_rows=[], scenario="home")
    from recommender.ml.data import UserContext
    expected = ranker.model.score(UserContext(tier=0), np.array([TRAINED.index(catalog.external_ids[r]) for r in trained_rows]))
    np.testing.assert_allclose(scores[trained_rows], expected, rtol=1e-5, atol=1e-5)
