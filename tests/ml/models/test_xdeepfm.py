import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from recommender.ml.data import UserContext
from recommender.ml.common.artifacts import WEIGHTS_FILE, ArtifactError
from recommender.ml.models.xdeepfm import XDeepFMRecommender
from recommender.ml.models.xdeepfm_net import FactorizedCIN, UserBatch
from recommender.ml.config import TrainConfig
from recommender.ml.training.transfer import fit_transfer
from tests.ml.models.toydata import toy_data

SMALL = dict(embed_dim=8, cin_layers=[8, 6], dnn_layers=[16], batch_size=16, negatives=4, epochs_pretrain=2,
             epochs_finetune=3, max_pretrain_examples=200, min_finetune_examples=5, seed=0)


def textbook_cin(x0: torch.Tensor, weights) -> torch.Tensor:
    """The CIN as the xDeepFM paper defines it, on concatenated fields x0 (N, m, D):
    X^k_h = Σ_{g,j} W^k_{h,g,j} X^{k-1}_g ∘ X^0_j, each layer sum-pooled over D."""
    pooled, x = [], x0
    for w in weights:
        z = torch.einsum("ngd,njd->ngjd", x, x0)
        x = torch.einsum("hgj,ngjd->nhd", w, z)
        pooled.append(x.sum(-1))
    return torch.cat(pooled, dim=-1)


def test_factorized_cin_equals_textbook_cin():
    torch.manual_seed(0)
    cin = FactorizedCIN(3, 2, [4, 5])
    xu, xi = torch.randn(2, 3, 6), torch.randn(7, 2, 6)
    fast = cin(xu, xi)  # (2, 7, 9)
    assert fast.shape == (2, 7, 9)
    for b in range(2):
        x0 = torch.cat([xu[b].expand(7, 3, 6), xi], dim=1)
        ref = textbook_cin(x0, list(cin.weights))
        torch.testing.assert_close(fast[b], ref, rtol=1e-4, atol=1e-5)


def test_aligned_cin_equals_textbook_cin_and_the_pair_layout():
    torch.manual_seed(1)
    cin = FactorizedCIN(3, 2, [4, 5, 3])
    xu, xi = torch.randn(7, 3, 6), torch.randn(7, 2, 6)
    aligned = cin.aligned(xu, xi)
    assert aligned.shape == (7, 12)
    torch.testing.assert_close(aligned, textbook_cin(torch.cat([xu, xi], dim=1), list(cin.weights)), rtol=1e-4, atol=1e-5)
    pairs = cin(xu, xi)  # every user against every item: its diagonal is the aligned pairs
    torch.testing.assert_close(aligned, pairs[torch.arange(7), torch.arange(7)], rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def fitted():
    data = toy_data(n_users=40)
    model = XDeepFMRecommender(TrainConfig(**{**SMALL, "epochs_finetune": 15, "lr": 0.01, "finetune_lr": 0.01}))
    fit_transfer(model, data)
    return data, model


def test_shapes_and_scores_without_user_id(fitted):
    data, model = fitted
    net = model.net
    ub = UserBatch.from_contexts([UserContext(history=[0, 1]), UserContext()], net.pad)
    assert net.user_fields(ub).shape == (2, net.n_user_fields, 8)
    logits = net(ub, torch.arange(10, 16))
    assert logits.shape == (2, 6)
    # a brand-new customer (no id, a couple of events) gets finite scores for the whole catalog
    s = model.score(UserContext(history=[5, 6]), data.items.target_items)
    assert s.shape == (6,) and np.isfinite(s).all()
    # an empty history also works (cold start)
    assert np.isfinite(model.score(UserContext(), data.items.target_items)).all()


def test_score_many_matches_score(fitted):
    data, model = fitted
    users = [UserContext(history=[0, 1]), UserContext(history=[5]), UserContext()]
    many = model.score_many(users, data.items.target_items, user_chunk=2)
    for i, u in enumerate(users):
        np.testing.assert_allclose(many[i], model.score(u, data.items.target_items), rtol=1e-5, atol=1e-6)


def test_learns_the_cross_category_signal(fitted):
    data, model = fitted
    # dress buyers bought 10 (never 13), menswear buyers bought 13 (never 10)
    women = model.score(UserContext(history=[0, 1]), np.array([10, 13]))
    men = model.score(UserContext(history=[5, 6]), np.array([10, 13]))
    assert women[0] > women[1] and men[1] > men[0]


def test_save_load_gives_identical_scores_and_no_pickle(fitted, tmp_path):
    data, model = fitted
    model.save(tmp_path)
    raw = (tmp_path / WEIGHTS_FILE).read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    json.loads(raw[8 : 8 + header_len])  # a safetensors header, not a pickle stream
    assert b"torch._utils" not in raw and b"__reduce__" not in raw
    load_file(str(tmp_path / WEIGHTS_FILE))  # plain safetensors, loadable without torch/pickle
    loaded = XDeepFMRecommender.load(tmp_path)
    for u in [UserContext(history=[0, 1, 3]), UserContext()]:
        np.testing.assert_array_equal(loaded.score(u, data.items.target_items), model.score(u, data.items.target_items))
    assert loaded.item_ids == data.items.ids.tolist()


def test_load_rejects_other_model_type(tmp_path):
    from recommender.ml.models.baselines import PopularityRecommender

    PopularityRecommender().fit(toy_data()).save(tmp_path)
    with pytest.raises(ArtifactError, match="expected 'xdeepfm'"):
        XDeepFMRecommender.load(tmp_path)


def test_without_item_vector(fitted):
    data, _ = fitted
    model = XDeepFMRecommender(TrainConfig(**{**SMALL, "epochs_pretrain": 0}), use_item_vector=False)
    fit_transfer(model, data)
    assert not model.net.use_item_vector
    assert np.isfinite(model.score(UserContext(history=[1]), data.items.target_items)).all()
