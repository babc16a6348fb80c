import numpy as np
import pytest

from recommender.ml.search import VectorIndex


def _vecs(n, d=8, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def test_search_matches_brute_force_and_orders_best_first():
    v = _vecs(50)
    idx = VectorIndex(8)
    idx.upsert([f"i{i}" for i in range(50)], v)
    q = _vecs(1, seed=1)[0]
    got = idx.search(q, k=5)
    unit = v / np.linalg.norm(v, axis=1, keepdims=True)
    expected = np.argsort(-(unit @ (q / np.linalg.norm(q))))[:5]
    assert [g[0] for g in got] == [f"i{i}" for i in expected]
    assert all(a[1] >= b[1] for a, b in zip(got, got[1:]))


def test_mask_exclude_upsert_replace_and_remove():
    v = _vecs(4)
    idx = VectorIndex(8)
    idx.upsert(["a", "b", "c", "d"], v)
    assert idx.search(v[1], k=1)[0][0] == "b"
    assert idx.search(v[1], k=1, mask=np.array([True, False, True, True]))[0][0] != "b"
    assert "b" not in [i for i, _ in idx.search(v[1], k=4, exclude=["b"])]
    idx.upsert(["b", "e"], np.stack([v[0], v[3]]))  # replace b, add e
    assert len(idx) == 5 and idx.search(v[0], k=2)[1][1] == pytest.approx(1.0, abs=1e-6)
    assert idx.remove(["a", "zzz"]) == 1
    assert idx.ids == ["b", "c", "d", "e"] and "a" not in idx
    assert idx.search(v[0], k=1)[0][0] == "b"


def test_bad_input_changes_nothing():
    idx = VectorIndex(8)
    idx.upsert(["a"], _vecs(1))
    before = idx.matrix.copy()
    bad = _vecs(2)
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        idx.upsert(["a", "b"], bad)
    with pytest.raises(ValueError, match="shape"):
        idx.upsert(["b"], _vecs(1, d=4))
    with pytest.raises(ValueError, match="duplicate"):
        idx.upsert(["x", "x"], _vecs(2))
    assert idx.ids == ["a"] and np.array_equal(idx.matrix, before)


def test_save_load_round_trip(tmp_path):
    idx = VectorIndex(8, version="fusion@abc")
    idx.upsert(["0108775015", "0235596002"], _vecs(2))
    idx.save(tmp_path / "ix")
    again = VectorIndex.load(tmp_path / "ix")
    assert again.ids == idx.ids and again.version == "fusion@abc"
    np.testing.assert_array_equal(again.matrix, idx.matrix)
    assert VectorIndex(8).search(_vecs(1)[0]) == []
