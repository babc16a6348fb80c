"""The cached single-user scoring path and the retrieval stage score exactly like the batch path."""
import json

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from recommender.ml.common.artifacts import WEIGHTS_FILE, load_artifact
from recommender.ml.data import UserContext
from recommender.ml.models.xdeepfm import XDeepFMNet, XDeepFMRecommender, extend_catalog
from recommender.ml.config import TrainConfig

N_ITEMS = 300
VOCABS = [5, 7, 4]


def random_model(use_item_vector: bool = True, cin=(8, 8, 4), seed: int = 0) -> XDeepFMRecommender:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cfg = TrainConfig(embed_dim=8, cin_layers=list(cin), dnn_layers=[16, 8])
    m = XDeepFMRecommender(cfg, use_item_vector=use_item_vector)
    m.net = XDeepFMNet(n_items=N_ITEMS, attr_vocab_sizes=VOCABS, vector_dim=12 if use_item_vector else 0, n_tiers=3,
                       n_scenarios=8, embed_dim=8, cin_layers=list(cin), dnn_layers=[16, 8], dropout=0.1,
                       use_item_vector=use_item_vector)
    for p in m.net.parameters():  # non-zero everywhere, so every term of the score matters
        torch.nn.init.normal_(p, std=0.2)
    m.net.set_item_features(np.stack([rng.integers(0, v, N_ITEMS) for v in VOCABS], 1),
                            rng.normal(size=(N_ITEMS, 12)).astype(np.float32), rng.random(N_ITEMS) > 0.2,
                            rng.random(N_ITEMS) > 0.3)
    m.net.set_item_prior(np.log1p(rng.random(N_ITEMS) * 9), 0.7)
    m.item_ids = [f"i{i}" for i in range(N_ITEMS)]
    m.net.eval()
    return m


USERS = [UserContext(history=np.array([3, 17, 250, 4]), tier=2), UserContext(history=np.array([9]), cart=np.array([11])),
         UserContext()]


@pytest.mark.parametrize("use_item_vector,cin", [(True, (8, 8, 4)), (True, (8, 6)), (False, (6,)), (True, ())])
def test_cached_score_equals_uncached(use_item_vector, cin):
    m = random_model(use_item_vector, cin)
    cands = np.arange(100, N_ITEMS)
    sub = np.array([299, 100, 150, 151, 230])
    for u in USERS:
        ref = m.score_many([u], cands)[0]  # batch path: item fields recomputed, textbook pair scores
        np.testing.assert_allclose(m.score(u, cands), ref, rtol=1e-5, atol=1e-5)
        # a subset of the cached universe is gathered from the cache, in the caller's order
        np.testing.assert_allclose(m.score(u, sub), m.score_many([u], sub)[0], rtol=1e-5, atol=1e-5)
    scorer = m._serving[0]
    assert len(scorer.items) == len(cands)
    assert (scorer.xx is not None) == (len(cin) > 1)  # a small universe keeps layer 2's pair products


@pytest.mark.parametrize("cin", [(8, 8, 4), (6, 6)])  # the general layers and the two-layer sums
def test_large_catalog_path_without_the_pair_cache_scores_the_same(monkeypatch, cin):
    import recommender.ml.models.xdeepfm_scorer as xs

    monkeypatch.setattr(xs, "XX_CACHE_MAX_FLOATS", 0)
    m = random_model(cin=cin)
    cands = np.arange(N_ITEMS)
    for u in USERS:
        np.testing.assert_allclose(m.score(u, cands), m.score_many([u], cands)[0], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(m.score(u, cands[::7]), m.score_many([u], cands[::7])[0], rtol=1e-5, atol=1e-5)
    assert m._serving[0].xx is None


def test_cache_is_invalidated_by_weight_updates_prior_and_catalog_growth():
    m = random_model()
    cands = np.arange(N_ITEMS)
    u = USERS[0]
    before = m.score(u, cands)
    with torch.no_grad():
        m.net.attr_emb[0].weight.mul_(2.0)  # an in-place update, as an optimizer step does
    after = m.score(u, cands)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, m.score_many([u], cands)[0], rtol=1e-5, atol=1e-5)
    m.net.set_item_prior(np.zeros(N_ITEMS), 0.0)
    np.testing.assert_allclose(m.score(u, cands), m.score_many([u], cands)[0], rtol=1e-5, atol=1e-5)
    before = m.score(u, cands)
    m.net.dnn_user = torch.nn.Linear(m.net.dnn_user.in_features, m.net.dnn_user.out_features)  # a replaced module
    after = m.score(u, cands)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, m.score_many([u], cands)[0], rtol=1e-5, atol=1e-5)
    trained = m.score(u, cands)
    g, new = extend_catalog(m, ["n1", "n2"], np.array([[1, 2, 3], [0, 0, 0]]), np.ones((2, 12), np.float32),
                            np.array([True, False]))
    assert new.tolist() == [N_ITEMS, N_ITEMS + 1] and g.item_ids[-2:] == ["n1", "n2"]
    grown = np.arange(N_ITEMS + 2)
    s = g.score(u, grown)
    np.testing.assert_allclose(s, g.score_many([u], grown)[0], rtol=1e-5, atol=1e-5)
    assert s.shape == (N_ITEMS + 2,) and np.isfinite(s[new]).all()
    np.testing.assert_allclose(s[:N_ITEMS], trained, rtol=1e-5, atol=1e-5)  # known items score as before
    # the trained model is untouched: same table sizes, ids and scores
    assert m.net.n_items == N_ITEMS and len(m.item_ids) == N_ITEMS
    np.testing.assert_array_equal(m.score(u, cands), trained)
    with pytest.raises(ValueError):
        m.score(u, grown)


def test_two_stage_scores_retrieved_items_exactly_and_keeps_the_most_popular():
    m = random_model()
    cands = np.arange(N_ITEMS)
    m.prepare_candidates(cands)
    for u in USERS:
        s = m.score_two_stage(u, cands, n_retrieve=60, n_popular=10)
        ok = np.isfinite(s)
        assert 50 <= ok.sum() <= 60 and np.isneginf(s[~ok]).all()
        np.testing.assert_allclose(s[ok], m.score(u, cands)[ok], rtol=1e-5, atol=1e-5)
        lin = m.net.item_fields(torch.from_numpy(cands))[1].detach().numpy()
        assert ok[np.argsort(-lin)[:10]].all()
        # the nearest part is the exact top by the retrieval dot product
        scorer = m._serving[0]
        dots = scorer.retrieval @ scorer.user_fields(u)[scorer.retrieval_user_fields].reshape(-1)
        assert ok[np.argsort(-dots)[:50]].all()
    # at or below n_retrieve there is no retrieval: every candidate is ranked
    assert np.isfinite(m.score_two_stage(USERS[0], cands[:50], n_retrieve=60)).all()


def test_serving_recognises_its_universe_by_identity_only_while_read_only():
    m = random_model()
    cands = np.arange(N_ITEMS)
    cands.flags.writeable = False
    m.prepare_candidates(cands)
    scorer = m._serving[0]
    m.score_retrieved(USERS[0], cands, n_retrieve=60, n_popular=10)
    assert m._serving[0] is scorer  # same array, same scorer: nothing rebuilt
    other = np.arange(N_ITEMS)[::-1].copy()  # another universe: a new scorer
    pos, s = m.score_retrieved(USERS[0], other, n_retrieve=60, n_popular=10)
    assert m._serving[0] is not scorer
    np.testing.assert_allclose(s, m.score_many([USERS[0]], other[pos])[0], rtol=1e-5, atol=1e-5)


def test_user_with_a_user_id_and_no_history_scores_like_the_batch_path():
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    cfg = TrainConfig(embed_dim=8, cin_layers=[6, 6], dnn_layers=[16], user_id_buckets=7)
    m = XDeepFMRecommender(cfg)
    m.net = XDeepFMNet(n_items=N_ITEMS, attr_vocab_sizes=VOCABS, vector_dim=12, n_tiers=3, n_scenarios=8,
                       embed_dim=8, cin_layers=[6, 6], dnn_layers=[16], dropout=0.0, user_id_buckets=7)
    for p in m.net.parameters():
        torch.nn.init.normal_(p, std=0.2)
    m.net.set_item_features(np.stack([rng.integers(0, v, N_ITEMS) for v in VOCABS], 1),
                            rng.normal(size=(N_ITEMS, 12)).astype(np.float32), rng.random(N_ITEMS) > 0.2,
                            rng.random(N_ITEMS) > 0.3)
    m.net.eval()
    cands = np.arange(N_ITEMS)
    for u in [UserContext(user_idx=12), UserContext(user_idx=3, history=np.array([5, 5, 7]),
                                                    history_weight=np.array([0.25, 1.0, 0.5]), cart=np.array([9, 9]))]:
        np.testing.assert_allclose(m.score(u, cands), m.score_many([u], cands)[0], rtol=1e-5, atol=1e-5)


def test_prior_is_saved_and_old_artifacts_load_without_it(tmp_path):
    m = random_model()
    cands = np.arange(N_ITEMS)
    m.target_items = cands
    m.save(tmp_path / "a")
    loaded = XDeepFMRecommender.load(tmp_path / "a")
    assert float(loaded.net.prior_beta) == pytest.approx(0.7)
    np.testing.assert_array_equal(loaded.score(USERS[0], cands), m.score(USERS[0], cands))
    arrays, meta = load_artifact(tmp_path / "a", "xdeepfm")
    del arrays["item_prior"], arrays["prior_beta"]
    # an artifact as written before the one layout: metadata.json with "model_type", no digest
    (tmp_path / "old").mkdir()
    save_file(arrays, str(tmp_path / "old" / WEIGHTS_FILE))
    legacy = {"model_type": "xdeepfm", **{k: v for k, v in meta.items() if k not in ("kind", "digest")}}
    (tmp_path / "old" / "metadata.json").write_text(json.dumps(legacy))
    old = XDeepFMRecommender.load(tmp_path / "old")
    assert float(old.net.prior_beta) == 0.0 and np.isfinite(old.score(USERS[0], cands)).all()


def test_candidate_out_of_range_is_rejected():
    m = random_model()
    with pytest.raises(ValueError, match="candidate item indices"):
        m.score(USERS[0], np.array([0, N_ITEMS]))


def test_large_universe_retrieves_through_the_inner_product_index(monkeypatch):
    import recommender.ml.models.xdeepfm_scorer as xs

    monkeypatch.setattr(xs, "RETRIEVAL_INDEX_MIN_ITEMS", 100)
    m = random_model()
    cands = np.arange(N_ITEMS)
    m.prepare_candidates(cands)
    scorer = m._serving[0]
    assert scorer.retrieval_index is not None
    for u in USERS:
        pos, s = m.score_retrieved(u, cands, n_retrieve=60, n_popular=10)
        assert 50 <= len(pos) <= 60
        # whatever is retrieved is scored exactly, and the popular ones are always there
        np.testing.assert_allclose(s, m.score(u, cands)[pos], rtol=1e-5, atol=1e-5)
        assert set(scorer.pop_order[:10].tolist()) <= set(pos.tolist())
    # scanning every cell (a large scan factor) is the exact top by the retrieval dot product
    monkeypatch.setattr(xs, "RETRIEVAL_SCAN_FACTOR", 10_000)
    for u in USERS:
        dots = scorer.retrieval @ scorer.user_fields(u)[scorer.retrieval_user_fields].reshape(-1)
        pos = scorer.retrieve(scorer.user_fields(u), 60, 10)
        assert set(np.argsort(-dots)[:50].tolist()) <= set(pos.tolist())
