"""The jewelry image adapter and its evaluation helpers, on small synthetic features with
known answers (the real photos are exercised by the embedding job's tests)."""
import numpy as np
import pytest
from PIL import Image

from recommender.ml.encoders.adaptation import (
    chance_accuracy,
    dhash,
    heldout_mask,
    loo_knn_accuracy,
    near_duplicate_groups,
    nn_type_accuracy,
)
from recommender.ml.encoders.image_adapter import ImageAdapter, type_aware_scores

CLASSES = ["bracelet", "earring", "necklace"]


def _clusters(n_per: int = 30, dim: int = 16, seed: int = 0):
    """Three well-separated clusters of raw features, one per type."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, dim)) * 4
    x = np.concatenate([centres[c] + rng.normal(size=(n_per, dim)) for c in range(3)]).astype(np.float32)
    y = np.repeat(np.arange(3), n_per)
    return x, y


def test_the_adapter_learns_types_and_round_trips(tmp_path):
    x, y = _clusters()
    adapter = ImageAdapter(in_dim=16, out_dim=8, hidden=32, classes=CLASSES)
    epochs_seen = []
    adapter.fit(x, y, epochs=30, batch_size=32, seed=0, on_epoch=lambda done, total: epochs_seen.append((done, total)))
    assert epochs_seen[0] == (1, 30) and epochs_seen[-1] == (30, 30)
    z = adapter.transform(x)
    assert z.shape == (90, 8) and np.allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)
    assert (adapter.predict_proba(x).argmax(axis=1) == y).mean() == 1.0
    # in the adapted space, every photo's nearest other photo has its type
    assert loo_knn_accuracy(z, y) == 1.0
    adapter.save(tmp_path / "a")
    again = ImageAdapter.load(tmp_path / "a")
    np.testing.assert_allclose(again.transform(x), z, atol=1e-6)
    assert again.version == adapter.version and again.classes == CLASSES


def test_fit_refuses_features_of_the_wrong_shape():
    adapter = ImageAdapter(in_dim=16, out_dim=8, hidden=32, classes=CLASSES)
    with pytest.raises(ValueError, match="expected features"):
        adapter.fit(np.zeros((4, 15), np.float32), np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="expected"):
        adapter.transform(np.zeros((2, 3), np.float32))


def test_type_aware_scores_add_the_probability_of_each_items_type():
    x, y = _clusters()
    adapter = ImageAdapter(in_dim=16, out_dim=8, hidden=32, classes=CLASSES).fit(x, y, epochs=30, batch_size=32)
    gallery = adapter.transform(x[[0, 30, 60]])  # one item per type
    plain = type_aware_scores(adapter, x[:1], gallery, CLASSES, weight=0.0)
    typed = type_aware_scores(adapter, x[:1], gallery, CLASSES, weight=1.0)
    probs = adapter.predict_proba(x[:1])
    np.testing.assert_allclose(typed - plain, probs, atol=1e-5)
    # an item whose type the adapter does not know gets no type bonus
    unknown = type_aware_scores(adapter, x[:1], gallery[:1], ["tiara"], weight=1.0)
    np.testing.assert_allclose(unknown, plain[:, :1], atol=1e-6)


def test_accuracies_by_hand():
    q = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    g = np.array([[0.9, 0.1], [0.1, 0.9], [0.0, 1.0]], np.float32)
    assert nn_type_accuracy(q, np.array([0, 1]), g, np.array([0, 1, 1])) == 1.0
    assert nn_type_accuracy(q, np.array([1, 1]), g, np.array([0, 1, 1])) == 0.5
    # queries: half type 0, half type 1; gallery: one of three is type 0
    assert chance_accuracy(np.array([0, 1]), np.array([0, 1, 1])) == pytest.approx(0.5 * 1 / 3 + 0.5 * 2 / 3)
    # two near-identical pairs; excluding a query's own group leaves only the other type
    x = np.array([[1, 0], [1, 0.01], [0, 1], [0.01, 1]], np.float32)
    labels = np.array([0, 0, 1, 1])
    assert loo_knn_accuracy(x, labels) == 1.0
    assert loo_knn_accuracy(x, labels, groups=np.array([0, 0, 1, 1])) == 0.0


def test_near_duplicates_need_close_hashes_and_close_features():
    gradient = Image.fromarray(np.tile(np.arange(0, 256, 4, dtype=np.uint8), (64, 1)))
    flipped = gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    hashes = np.array([dhash(gradient), dhash(gradient), dhash(flipped)], dtype=np.uint64)
    assert hashes[0] == hashes[1] and hashes[0] != hashes[2]
    groups = near_duplicate_groups(hashes)
    assert groups[0] == groups[1] != groups[2]
    # the same hash but unrelated features (plain white product shots): not duplicates
    features = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
    groups = near_duplicate_groups(hashes, features=features)
    assert len(set(groups.tolist())) == 3


def test_heldout_mask_keeps_groups_whole_and_is_stable():
    paths = [f"/data/jewelry-photos/web-train/ring/p{i}.jpg" for i in range(40)]
    groups = np.repeat(np.arange(20), 2)
    mask = heldout_mask(paths, groups, fraction=0.2)
    assert np.array_equal(mask, heldout_mask(paths, groups, fraction=0.2))
    for g in range(20):
        assert mask[2 * g] == mask[2 * g + 1]  # a group is held out whole or not at all
    assert 0 < mask.sum() < len(mask)
