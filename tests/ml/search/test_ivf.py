"""The IVF candidate index: exact within the cells it probes, high recall on clustered data."""
import numpy as np
import pytest

from recommender.ml.common.matrix import l2_normalize
from recommender.ml.search.ivf import IvfIndex


def clustered(n=6000, d=64, clusters=40, noise=0.25, seed=0):
    rng = np.random.default_rng(seed)
    centres = l2_normalize(rng.standard_normal((clusters, d)))
    labels = rng.integers(clusters, size=n)
    return l2_normalize(centres[labels] + noise * rng.standard_normal((n, d)) / np.sqrt(d) * 4), labels


def test_every_row_is_in_exactly_one_cell():
    x, _ = clustered(n=1000)
    rows = np.arange(0, 1000, 2)  # an index over a subset of rows (items with vectors)
    index = IvfIndex.build(x, rows, n_cells=20)
    assert sorted(index.order.tolist()) == rows.tolist()
    assert index.offsets[0] == 0 and index.offsets[-1] == len(rows)
    assert np.allclose(index.sorted_vectors, x[index.order])


def test_similarities_are_exact_for_returned_rows_and_probing_all_cells_is_exhaustive():
    x, _ = clustered(n=2000)
    index = IvfIndex.build(x, n_cells=30)
    anchors = x[[3, 500, 1500]]
    rows, sims = index.max_similarity(anchors, n_probe=30)
    assert sorted(rows.tolist()) == list(range(2000))
    exact = (anchors @ x.T).max(axis=0)
    assert np.allclose(sims, exact[rows], atol=1e-5)


def test_recall_of_the_nearest_items_on_clustered_vectors():
    x, _ = clustered()
    index = IvfIndex.build(x)
    rng = np.random.default_rng(1)
    hits = total = 0
    for _ in range(50):
        anchors = x[rng.choice(len(x), size=4, replace=False)]
        exact = (anchors @ x.T).max(axis=0)
        want = set(np.argsort(-exact)[:20].tolist())
        rows, sims = index.max_similarity(anchors, n_probe=8)
        got = set(rows[np.argsort(-sims)[:20]].tolist())
        hits += len(want & got)
        total += len(want)
    assert hits / total >= 0.95, hits / total
    assert len(rows) < len(x) / 3  # and it scanned only part of the matrix


def test_build_rejects_an_empty_row_set():
    x, _ = clustered(n=100)
    with pytest.raises(ValueError):
        IvfIndex.build(x, np.zeros(0, np.int64))


def _mips_data(n=5000, d=16, seed=0):
    """Clustered directions with norms spread over a decade: inner product is not cosine."""
    x, _ = clustered(n=n, d=d, clusters=30, seed=seed)
    norms = np.random.default_rng(seed + 1).uniform(0.1, 1.0, size=(n, 1)).astype(np.float32)
    return x * norms


def test_mips_probing_every_cell_is_the_exact_top_k_by_inner_product():
    from recommender.ml.search.ivf import MipsIndex

    x = _mips_data(n=1500)
    index = MipsIndex.build(x, n_cells=25)
    rng = np.random.default_rng(3)
    for _ in range(10):
        q = rng.standard_normal(x.shape[1]).astype(np.float32)
        got = index.search(q, 40, n_probe=25)
        assert sorted(got.tolist()) == sorted(np.argsort(-(x @ q))[:40].tolist())


def test_mips_recall_with_few_cells_probed():
    from recommender.ml.search.ivf import MipsIndex

    x = _mips_data()
    index = MipsIndex.build(x)  # ~141 cells
    rng = np.random.default_rng(4)
    hits = 0
    for _ in range(30):
        q = x[rng.integers(len(x))] + 0.1 * rng.standard_normal(x.shape[1]).astype(np.float32)
        want = set(np.argsort(-(x @ q))[:50].tolist())
        hits += len(want & set(index.search(q, 50, n_probe=28).tolist()))
    assert hits / (30 * 50) >= 0.85, hits / (30 * 50)
    assert 28 / index.ivf.n_cells < 0.25  # and it probed under a quarter of the cells


def test_mips_returns_what_the_probed_cells_hold_when_they_hold_fewer_than_k():
    from recommender.ml.search.ivf import MipsIndex

    x = _mips_data(n=300)
    index = MipsIndex.build(x, n_cells=30)
    got = index.search(np.ones(x.shape[1], np.float32), 250, n_probe=1)
    cell_sizes = np.diff(index.ivf.offsets)
    assert len(got) <= cell_sizes.max() and len(set(got.tolist())) == len(got)
    with pytest.raises(ValueError):
        MipsIndex.build(np.zeros((0, 4), np.float32))


def test_mips_never_probes_an_empty_cell():
    """k-means can leave cells empty (identical rows, such as items without a vector, all
    land in one): a one-cell probe must go to a cell that holds rows, even when an empty
    cell's centroid points straight at the query."""
    from recommender.ml.search.ivf import MipsIndex

    rows = np.tile(np.array([[0.6, 0.8]], np.float32), (5, 1))  # already unit length
    centroids = np.array([[1.0, 0.0], [0.6, 0.8]], np.float32)  # cell 0 empty, cell 1 all rows
    ivf = IvfIndex(centroids, np.arange(5), np.array([0, 0, 5]), rows)
    index = MipsIndex(ivf)
    got = index.search(np.array([1.0], np.float32), 3, n_probe=1)  # the query [1, 0] favours cell 0
    assert len(got) == 3
