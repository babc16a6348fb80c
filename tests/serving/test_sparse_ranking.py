"""A large catalogue ranks the anchors' neighbours and the head of the popularity order only
(``SparseScores``); every answer must equal the one from scoring every row."""
import gc
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from recommender.models import Customer, Event, Item, MembershipTier, MerchandisingRule
from recommender.serving import catalog as catalog_mod
from recommender.serving import scenarios
from recommender.serving.catalog import serving_catalog, serving_catalog_invalidate
from recommender.serving.rankers import PopularityContentRanker, SparseScores
from tests.factories import item_vectors_clustered


@pytest.fixture
def big(monkeypatch, tiers):
    """900 items above the lowered large-catalogue threshold: 3 types, 4 colours, vectors in 9
    clusters, some member-only and inactive rows, and skewed purchases (a popularity head, and
    most items never bought)."""
    monkeypatch.setattr(catalog_mod, "LARGE_CATALOG", 100)
    rng = np.random.default_rng(7)
    gold = MembershipTier.objects.get(code="gold")
    types, colours = ["Ring", "Necklace", "Bracelet"], ["Gold", "Silver", "Rose", "Black"]
    Item.objects.bulk_create([
        Item(external_id=f"S{i:04d}", title=f"Item {i}", product_type=types[i % 3], colour=colours[i % 4],
             is_jewelry=True, price=10 + i % 50, is_active=i % 37 != 0, in_stock=i % 41 != 0,
             exclusive_tier=gold if i % 23 == 0 else None)
        for i in range(900)
    ])
    items = list(Item.objects.filter(external_id__startswith="S").order_by("id"))
    centres = rng.standard_normal((9, 512)).astype(np.float32)
    item_vectors_clustered(items, centres, 0.3, rng)
    buyers = Customer.objects.bulk_create([Customer(external_id=f"b{c}") for c in range(40)])
    now = timezone.now()
    popular = rng.zipf(1.4, size=600) % 300  # the first 300 items can be bought, skewed
    Event.objects.bulk_create([
        Event(customer=buyers[n % 40], item=items[int(p)], event_type="purchase",
              timestamp=now - timedelta(hours=int(n % 200)))
        for n, p in enumerate(popular)
    ])
    shoppers = []
    for c in range(12):
        shopper = Customer.objects.create(external_id=f"shopper-{c}", tier=gold if c % 3 == 0 else None)
        for j in range(c % 5):  # 0 to 4 viewed items
            Event.objects.create(customer=shopper, item=items[int(rng.integers(900))], event_type="view",
                                 timestamp=now - timedelta(minutes=j))
        shoppers.append(shopper.external_id)
    serving_catalog_invalidate()
    yield items, shoppers
    serving_catalog_invalidate()
    gc.unfreeze()


def _answers(shoppers):
    out = []
    for c in shoppers + [None]:
        for ptype in (None, "necklace"):
            for k in (1, 10, 40):
                req = scenarios.Request(customer_id=c, k=k, product_type=ptype)
                out.append(scenarios.recommend_home(req))
        out.append(scenarios.recommend_cross_sell(scenarios.Request(customer_id=c, k=8), ["S0004", "S0010"]))
        if c is not None and Customer.objects.get(external_id=c).tier_id:
            out.append(scenarios.recommend_member_exclusive(scenarios.Request(customer_id=c, k=5)))
    for anchor in ("S0001", "S0005", "S0302"):
        for ptype in (None, "ring"):
            out.append(scenarios.recommend_similar(anchor, scenarios.Request(k=10, product_type=ptype)))
    return [[(i.id, i.score, i.reason) for i in r.items] for r in out]


def _dense_answers(monkeypatch, shoppers):
    with monkeypatch.context() as m:
        m.setattr(scenarios, "_rank_sparse", lambda *a: None)  # every row scored and ranked
        return _answers(shoppers)


RULE_SETS = {
    "none": [],
    "boost and bury": [dict(action="boost", target="colour", value="silver", weight=0.5),
                       dict(action="bury", target="type", value="ring", weight=2.0)],
    "rare boost": [dict(action="boost", target="item", value="S0777", weight=3.0)],
    "exclude and pin": [dict(action="exclude", target="colour", value="gold"),
                        dict(action="pin", target="item", value="S0899", position=2)],
}


@pytest.mark.parametrize("rule_set", list(RULE_SETS))
def test_sparse_ranking_answers_exactly_what_scoring_every_row_answers(big, monkeypatch, rule_set):
    _, shoppers = big
    for n, rule in enumerate(RULE_SETS[rule_set]):
        MerchandisingRule.objects.create(name=f"r{n}", **rule)
    taken = []
    real = scenarios._rank_sparse

    def spy(*args):
        ranked = real(*args)
        taken.append(ranked is not None)
        return ranked

    monkeypatch.setattr(scenarios, "_rank_sparse", spy)
    sparse = _answers(shoppers)
    assert sparse == _dense_answers(monkeypatch, shoppers)
    assert sum(taken) > len(taken) // 2, taken  # the sparse path answered most requests itself
    assert any(len(a) == 40 for a in sparse)


def test_the_walk_goes_deeper_when_the_head_is_not_enough_and_gives_up_at_its_limit(big, monkeypatch):
    _, shoppers = big
    MerchandisingRule.objects.create(name="rare", action="boost", target="item", value="S0777", weight=3.0)
    monkeypatch.setattr(scenarios, "SPARSE_WALK_START", 4)
    exact = _dense_answers(monkeypatch, shoppers)
    assert _answers(shoppers) == exact  # several rounds of the walk, same answers
    catalog = serving_catalog()
    scores = PopularityContentRanker().score_sparse(catalog, scenarios.customer_context(None), cart_rows=[],
                                                   scenario="home")
    rules = scenarios.rules_active("home")
    eligible = scenarios.eligibility(catalog, scenarios.customer_context(None))
    assert scenarios._rank_sparse(rules, catalog, scores, eligible, 10) is not None
    monkeypatch.setattr(scenarios, "SPARSE_WALK_MAX", 4)  # S0777 is unpopular: never reached in 4 rows
    assert scenarios._rank_sparse(rules, catalog, scores, eligible, 10) is None
    assert _answers(shoppers) == exact  # and the dense ranking answers instead


def test_sparse_scores_name_every_rows_score_as_the_dense_form_does(big):
    catalog = serving_catalog()
    ctx = scenarios.customer_context("shopper-4")
    ranker = PopularityContentRanker()
    sparse = ranker.score_sparse(catalog, ctx, cart_rows=[], scenario="home")
    assert isinstance(sparse, SparseScores) and len(sparse.rows) > 0
    assert np.all(np.diff(sparse.rows) > 0)  # ascending and unique
    dense = ranker.score(catalog, ctx, cart_rows=[], scenario="home")
    assert dense.shape == (len(catalog),)
    np.testing.assert_array_equal(sparse.dense(catalog), dense)
    rows = np.array([0, int(sparse.rows[0]), len(catalog) - 1])
    np.testing.assert_array_equal(sparse.at(catalog, rows), dense[rows])
    # a small catalogue has no sparse form: every row is compared there
    catalog_mod.LARGE_CATALOG = 10_000
    serving_catalog_invalidate()
    assert ranker.score_sparse(serving_catalog(), ctx, cart_rows=[], scenario="home") is None
