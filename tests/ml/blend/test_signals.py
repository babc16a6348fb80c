"""The blend's candidate sources on hand-made purchases: exact values and evidence."""
import numpy as np
import pytest

from recommender.ml.blend.model import BlendRecommender, default_weights
from recommender.ml.blend.signals import IX, RECENCY_DECAY, SOURCES, SignalTables
from recommender.ml.data import CHANNEL_CODES, InteractionData, ItemTable, RecData, UserContext, UserTable

DAY = 86_400
ONLINE, STORE = CHANNEL_CODES["online"], CHANNEL_CODES["store"]

# items 0-2 garments (dept 1 "denim", dept 2 "dresses"), 3-7 jewelry
#   3 gold ring, 4 gold ring, 5 silver necklace, 6 silver earring, 7 gold earring (never bought)
ATTRS = {
    "product_type": np.array([1, 1, 1, 2, 2, 3, 4, 4]),
    "colour": np.array([1, 1, 2, 3, 3, 4, 4, 3]),
    "colour_master": np.array([1, 1, 2, 3, 3, 4, 4, 3]),
    "department": np.array([1, 1, 2, 3, 3, 3, 3, 3]),
    "index_group": np.array([1, 1, 1, 1, 1, 1, 1, 1]),
    "section": np.array([1, 1, 1, 2, 2, 2, 2, 2]),
}
VOCAB = {"product_type": ["garment", "ring", "necklace", "earring"], "colour": ["blue", "red", "gold", "silver"],
         "colour_master": ["blue", "red", "gold", "silver"], "department": ["denim", "dresses", "jewelry"],
         "index_group": ["ladies"], "section": ["garments", "accessories"]}


def _data(rows):
    """rows: (user, item, day, channel)."""
    u, i, d, c = (np.array(x) for x in zip(*rows))
    vectors = np.zeros((8, 3), np.float32)
    vectors[3] = vectors[4] = [1, 0, 0]  # the two gold rings look alike
    vectors[5] = [0, 1, 0]
    vectors[6] = [0, 0.6, 0.8]
    vectors[7] = [0.9, 0.1, 0]
    items = ItemTable(ids=[f"i{k}" for k in range(8)], is_target=np.arange(8) >= 3, attributes=dict(ATTRS),
                      vocabularies=VOCAB, vectors=vectors, vector_mask=np.array([False] * 3 + [True] * 5))
    users = UserTable(ids=[f"u{k}" for k in range(int(u.max()) + 1)], tier=np.zeros(int(u.max()) + 1, np.int64))
    inter = InteractionData(u, i, d * DAY, np.ones(len(u), np.float32), np.full(len(u), 3, np.int8), c)
    return RecData(users, items, inter)


ROWS = [
    # ring 3: three online buyers on day 10, ring 4 with it twice (co-bought)
    (0, 3, 10, ONLINE), (0, 4, 10, ONLINE), (1, 3, 10, ONLINE), (1, 4, 10, ONLINE), (2, 3, 10, ONLINE),
    # necklace 5: four store buyers on day 10, who also bought denim (item 0)
    (3, 5, 10, STORE), (3, 0, 10, STORE), (4, 5, 10, STORE), (4, 0, 10, STORE), (5, 5, 10, STORE), (6, 5, 10, STORE),
    # earring 6: bought with a dress (item 2) long before
    (7, 6, 1, ONLINE), (7, 2, 1, ONLINE),
]


@pytest.fixture
def tables():
    data = _data(ROWS)
    return data, SignalTables.fit(data, data.interactions, shrink=0.0, half_life_days=1.0)


def _f(tables, **ctx):
    _, t = tables
    feats, evidence = t.features(UserContext(**ctx))
    return feats, evidence


def test_channel_popularity_reads_the_shoppers_channel_and_day(tables):
    online, _ = _f(tables, online_share=1.0, at=10 * DAY)
    store, _ = _f(tables, online_share=0.0, at=10 * DAY)
    col = IX["channel_popularity"]
    # target positions: 0 = ring 3, 1 = ring 4, 2 = necklace 5, 3 = earring 6, 4 = earring 7
    assert online[0, col] == pytest.approx(np.log1p(3.0))
    assert online[2, col] == pytest.approx(0.0)
    assert store[2, col] == pytest.approx(np.log1p(4.0))
    assert store[0, col] == pytest.approx(0.0)
    # nine days before day 10, at a half-life of one day: 2**-9 of a sale
    assert online[3, col] == pytest.approx(np.log1p(2.0 ** -9))
    # never bought, never popular
    assert online[4, col] == 0.0 and store[4, col] == 0.0


def test_jewelry_co_occurrence_names_the_shoppers_own_item(tables):
    feats, evidence = _f(tables, history=np.array([3]))
    col = IX["co_jewelry"]
    # rings 3 and 4 share two buyers; with no shrinkage 2 / sqrt(3 * 2)
    assert feats[1, col] == pytest.approx(2 / np.sqrt(6), rel=1e-5)
    assert feats[2, col] == 0.0 and feats[3, col] == 0.0
    assert evidence[col][1] == 3 and evidence[col][2] == -1


def test_garment_co_purchase_and_department_lift(tables):
    feats, evidence = _f(tables, history=np.array([0]))  # a denim shopper
    col = IX["co_purchase"]
    assert feats[2, col] > 0 and evidence[col][2] == 0  # the necklace bought with denim
    assert feats[0, col] == 0 and feats[3, col] == 0
    # denim buyers buy necklaces more than chance: the necklace type's lift is positive
    dept = IX["department_affinity"]
    assert feats[2, dept] > 0 and feats[2, dept] > feats[0, dept]


def test_type_colour_and_content_affinity_follow_the_jewelry_touched(tables):
    hist = np.array([5, 3])  # a silver necklace, then (most recent) a gold ring
    feats, evidence = _f(tables, history=hist, history_weight=np.array([1.0, 1.0], np.float32))
    w_old, w_new = RECENCY_DECAY, 1.0
    share_ring = w_new / (w_old + w_new)
    assert feats[1, IX["type_affinity"]] == pytest.approx(share_ring)  # ring 4
    assert feats[3, IX["type_affinity"]] == 0.0  # earrings: never touched
    assert evidence[IX["type_affinity"]][1] == 3
    # gold: ring 3 (history) -> gold items; earring 7 is gold too
    assert feats[4, IX["colour_affinity"]] == pytest.approx(share_ring)
    assert evidence[IX["colour_affinity"]][4] == 3
    # the never-bought gold earring 7 is reached by content alone (cosine 0.9 / |v| to ring 3)
    expected = 0.9 / np.linalg.norm([0.9, 0.1, 0])
    assert feats[4, IX["content"]] == pytest.approx(expected, rel=1e-5)
    assert evidence[IX["content"]][4] == 3


def test_an_empty_history_leaves_only_the_popularity_sources(tables):
    feats, _ = _f(tables)
    personal = [IX[s] for s in SOURCES if s not in ("channel_popularity", "trending")]
    assert not feats[:, personal].any()
    assert feats[:, IX["channel_popularity"]].any()


def test_indices_outside_the_tables_are_ignored(tables):
    feats, _ = _f(tables, history=np.array([3, 999]), cart=np.array([12345]))
    reference, _ = _f(tables, history=np.array([3]))
    np.testing.assert_allclose(feats, reference)


def test_blend_scores_explains_and_round_trips(tmp_path):
    data = _data(ROWS)
    blend = BlendRecommender(default_weights()).fit(data)
    shopper = UserContext(history=np.array([3]), online_share=1.0)
    scores = blend.score(shopper, data.items.target_items)
    assert np.isfinite(scores).all()
    # a non-target item is never a candidate
    assert blend.score(shopper, np.array([0, 4]))[0] == -np.inf
    # (the shopper's own ring scores high too: serving and evaluation exclude what was bought)
    others = data.items.target_items != 3
    top = int(data.items.target_items[others][np.argmax(scores[others])])
    assert top == 4  # the ring bought with the shopper's ring, popular online
    why = blend.explain(shopper, [4, 5])
    assert why[0].source in SOURCES and why[0].evidence_item in (3, None)
    blend.save(tmp_path / "b")
    again = BlendRecommender.load(tmp_path / "b")
    np.testing.assert_allclose(again.score(shopper, data.items.target_items), scores, rtol=1e-6)
    assert again.weights == blend.weights and again.item_ids == blend.item_ids


def test_shapes_use_their_own_weights():
    data = _data(ROWS)
    weights = default_weights()
    weights["cross_sell"] = {name: 0.0 for name in weights["cross_sell"]} | {"co_purchase": 1.0}
    blend = BlendRecommender(weights).fit(data)
    shopper = UserContext(history=np.array([0]))
    cross = blend.for_shape("cross_sell").score(shopper, data.items.target_items)
    assert int(np.argmax(cross)) == 2  # only the co-purchase source speaks: the necklace
    assert blend.shape == "intent"  # the view did not change the original
    with pytest.raises(ValueError, match="shape must be one of"):
        blend.for_shape("checkout")


def test_candidates_come_from_the_precomputed_lists_and_score_as_the_full_catalog(tables):
    data, t = tables
    shopper = UserContext(history=np.array([0, 3]), online_share=0.5, at=10 * DAY)
    cand = t.candidates(shopper)
    # best sellers of each channel, the ring's neighbour (ring 4), the denim's (necklace 5),
    # and the best sellers of the touched type (rings) and colour (gold)
    assert {0, 1, 2}.issubset(set(cand.tolist()))
    assert t.popular.shape[0] == 3 and t.type_top.shape[1] == t.colour_top.shape[1]
    full, full_ev = t.features(shopper)
    part, part_ev = t.features(shopper, cand=cand)
    np.testing.assert_allclose(part, full[cand], rtol=1e-6)
    for a, b in zip(part_ev, full_ev):
        np.testing.assert_array_equal(a, b[cand])
