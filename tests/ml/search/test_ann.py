"""The faiss nearest-neighbour index: recall against exact search, a file that round-trips,
and a damaged or foreign file refused."""
import json

import numpy as np
import pytest

from recommender.ml.common.matrix import l2_normalize
from recommender.ml.search.ann import (INDEX_FILE, META_FILE, ROWS_FILE, AnnIndex, AnnIndexError, RowNeighbours,
                                       vectors_digest)


def clustered(n=6000, d=32, clusters=60, seed=0):
    rng = np.random.default_rng(seed)
    centres = l2_normalize(rng.standard_normal((clusters, d)))
    labels = rng.integers(clusters, size=n)
    return l2_normalize(centres[labels] + 0.5 * rng.standard_normal((n, d)) / np.sqrt(d) * 2).astype(np.float32)


def test_recall_at_10_against_exact_search():
    x = clustered()
    index = AnnIndex.build(x)
    rng = np.random.default_rng(1)
    queries = x[rng.choice(len(x), 100, replace=False)]
    rows, sims = index.search(queries, 10)
    exact = np.argsort(-(queries @ x.T), axis=1)[:, :10]
    recall = np.mean([len(set(r) & set(e)) / 10 for r, e in zip(rows.tolist(), exact.tolist())])
    assert recall >= 0.95, recall
    # the similarities returned are the true cosines of the rows returned, best first
    assert np.allclose(sims, np.take_along_axis(queries @ x.T, rows, axis=1), atol=1e-5)
    assert (np.diff(sims, axis=1) <= 1e-6).all()


def test_an_index_over_a_subset_answers_catalogue_rows_and_max_similarity_merges_anchors():
    x = clustered(n=500)
    subset = np.arange(0, 500, 2)  # items with vectors only
    index = AnnIndex.build(x, subset)
    anchors = x[[10, 20]]
    rows, sims = index.max_similarity(anchors, k=len(subset))  # every indexed row: exhaustive
    assert sorted(rows.tolist()) == subset.tolist()
    assert np.allclose(sims, (anchors @ x[rows].T).max(axis=0), atol=1e-5)
    near, _ = index.max_similarity(anchors, k=5)
    assert {10, 20} <= set(near.tolist()) and len(near) <= 10 and len(set(near.tolist())) == len(near)


def test_row_neighbours_answer_as_the_index_does_and_search_each_anchor_once():
    x = clustered(n=3000)
    index = AnnIndex.build(x)
    cache = RowNeighbours(index, x, k=20, capacity=4)
    for anchors in ([5, 900, 5], [900, 17], [5, 900, 17, 2500], [1, 2, 3]):
        rows, sims = cache.max_similarity(anchors)
        ref_rows, ref_sims = index.max_similarity(x[anchors], k=20)
        assert rows.tolist() == ref_rows.tolist()
        np.testing.assert_allclose(sims, ref_sims, atol=1e-6)
    # searched: 5 and 900 (5 twice in one request, once), 17, 2500, then 1, 2, 3; read from
    # the cache: 900, then 5, 900 and 17. Four rows fit, so the least recently used went first.
    assert cache.misses == 2 + 1 + 1 + 3 and cache.hits == 1 + 3
    assert list(cache._lists) == [2500, 1, 2, 3]


def test_build_rejects_an_empty_row_set():
    with pytest.raises(ValueError):
        AnnIndex.build(clustered(n=50), np.zeros(0, np.int64))


def test_save_and_load_round_trip(tmp_path):
    x = clustered(n=2000)
    rows = np.arange(1, 2000)
    index = AnnIndex.build(x, rows)
    assert index.key == vectors_digest(x, rows)
    index.save(tmp_path / "ix")
    loaded = AnnIndex.load(tmp_path / "ix", index.key)
    assert loaded.key == index.key and len(loaded) == 1999 and loaded.rows.tolist() == rows.tolist()
    q = x[[5, 50, 500]]
    assert np.array_equal(loaded.search(q, 10)[0], index.search(q, 10)[0])
    # the key moves with any vector
    y = x.copy()
    y[7, 0] += 0.01
    assert vectors_digest(y, rows) != index.key


@pytest.fixture
def saved(tmp_path):
    x = clustered(n=800)
    index = AnnIndex.build(x)
    return index.save(tmp_path / "ix"), index.key


def test_a_corrupt_index_file_is_refused(saved):
    folder, key = saved
    data = bytearray((folder / INDEX_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / INDEX_FILE).write_bytes(bytes(data))
    with pytest.raises(AnnIndexError, match="index.faiss is corrupt"):
        AnnIndex.load(folder, key)


def test_a_truncated_rows_file_is_refused(saved):
    folder, key = saved
    (folder / ROWS_FILE).write_bytes((folder / ROWS_FILE).read_bytes()[:-8])
    with pytest.raises(AnnIndexError, match="rows.npy is corrupt"):
        AnnIndex.load(folder, key)


def test_a_missing_file_or_meta_is_refused(saved):
    folder, key = saved
    (folder / INDEX_FILE).unlink()
    with pytest.raises(AnnIndexError, match="index.faiss is missing"):
        AnnIndex.load(folder, key)
    (folder / META_FILE).unlink()
    with pytest.raises(AnnIndexError, match="unreadable meta.json"):
        AnnIndex.load(folder, key)


def test_the_index_of_other_vectors_is_refused(saved):
    folder, key = saved
    with pytest.raises(AnnIndexError, match="index of other vectors"):
        AnnIndex.load(folder, "0" * 32)
    meta = json.loads((folder / META_FILE).read_text())
    meta["count"] += 1
    (folder / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(AnnIndexError, match="meta.json says"):
        AnnIndex.load(folder, key)
