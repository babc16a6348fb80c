"""The faiss MIPS index: exact within the cells it probes, high recall on clustered data."""
import numpy as np
import pytest

from recommender.ml.common.matrix import l2_normalize
from recommender.ml.search.mips import MipsIndex


def clustered(n=6000, d=64, clusters=40, noise=0.25, seed=0):
    rng = np.random.default_rng(seed)
    centres = l2_normalize(rng.standard_normal((clusters, d)))
    labels = rng.integers(clusters, size=n)
    return l2_normalize(centres[labels] + noise * rng.standard_normal((n, d)) / np.sqrt(d) * 4), labels


def _mips_data(n=5000, d=16, seed=0):
    """Clustered directions with norms spread over a decade: inner product is not cosine."""
    x, _ = clustered(n=n, d=d, clusters=30, seed=seed)
    norms = np.random.default_rng(seed + 1).uniform(0.1, 1.0, size=(n, 1)).astype(np.float32)
    return x * norms


def test_mips_probing_every_cell_is_the_exact_top_k_by_inner_product():
    x = _mips_data(n=1500)
    index = MipsIndex.build(x, n_cells=25)
    rng = np.random.default_rng(3)
    for _ in range(10):
        q = rng.standard_normal(x.shape[1]).astype(np.float32)
        got = index.search(q, 40, n_probe=index.n_cells)
        assert sorted(got.tolist()) == sorted(np.argsort(-(x @ q))[:40].tolist())


def test_mips_recall_with_few_cells_probed():
    x = _mips_data()
    index = MipsIndex.build(x)  # ~141 cells
    rng = np.random.default_rng(4)
    hits = 0
    for _ in range(30):
        q = x[rng.integers(len(x))] + 0.1 * rng.standard_normal(x.shape[1]).astype(np.float32)
        want = set(np.argsort(-(x @ q))[:50].tolist())
        hits += len(want & set(index.search(q, 50, n_probe=28).tolist()))
    assert hits / (30 * 50) >= 0.85, hits / (30 * 50)
    assert 28 / index.n_cells < 0.25  # and it probed under a quarter of the cells


def test_mips_returns_what_the_probed_cells_hold_when_they_hold_fewer_than_k():
    x = _mips_data(n=300)
    index = MipsIndex.build(x, n_cells=30)
    got = index.search(np.ones(x.shape[1], np.float32), 250, n_probe=1)
    cell_sizes = [index.index.invlists.list_size(c) for c in range(index.n_cells)]
    assert 0 < len(got) <= max(cell_sizes)  # faiss's -1 padding is dropped
    assert len(set(got.tolist())) == len(got) and got.min() >= 0
    assert len(index.search(np.ones(x.shape[1], np.float32), 0, n_probe=1)) == 0
    with pytest.raises(ValueError):
        MipsIndex.build(np.zeros((0, 4), np.float32))


def test_mips_keeps_no_empty_cell():
    """k-means leaves cells empty where many rows are identical (items without a vector all
    land in one): those cells are dropped, so a one-cell probe always finds rows."""
    rng = np.random.default_rng(0)
    same = np.tile(np.array([[0.6, 0.8]], np.float32), (500, 1))
    x = np.concatenate([same, 0.3 * rng.standard_normal((40, 2)).astype(np.float32)])
    index = MipsIndex.build(x, n_cells=30)
    assert index.n_cells < 30 and len(index) == len(x)
    assert all(index.index.invlists.list_size(c) > 0 for c in range(index.n_cells))
    for q in ([1.0, 0.0], [0.6, 0.8], [-1.0, 0.0], [0.0, -1.0]):
        assert len(index.search(np.array(q, np.float32), 5, n_probe=1)) == 5


@pytest.mark.parametrize("n_cells", [None, 5])  # 5 cells: k-means trains on a seeded sample
def test_mips_build_is_deterministic_for_a_seed(n_cells):
    x = _mips_data(n=3000)
    a, b = MipsIndex.build(x, n_cells=n_cells, seed=7), MipsIndex.build(x, n_cells=n_cells, seed=7)
    assert a.n_cells == b.n_cells
    rng = np.random.default_rng(5)
    for _ in range(10):
        q = rng.standard_normal(x.shape[1]).astype(np.float32)
        assert np.array_equal(np.sort(a.search(q, 30, n_probe=2)), np.sort(b.search(q, 30, n_probe=2)))
