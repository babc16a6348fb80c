"""Which ANN library serves the similarity index: recall@10 against exact search beside speed.

    python bench/ann_choice.py                      # 100k x 64 (the serving projection), then 512-d
    python bench/ann_choice.py --items 1000000 --dims 64 --queries 300

Vectors are drawn to look like fused item vectors: unit vectors around a few hundred
"product" directions (colour/type/style families) with per-item noise, so neighbours are
meaningful (uniform random unit vectors have no neighbours worth finding). Queries are
catalogue items with a little noise, as serving's anchors (the shopper's own items) are.
Only faiss is a requirement of the app; the comparison also needs ``pip install hnswlib==0.8.0
usearch==2.26.6`` (usearch pulls numkong). Every library runs single-threaded at query time (a web worker runs one BLAS/torch thread);
the build uses all cores. Recall@10: share of the exact top 10 (inner product) found.
The "hand-written IVF" row of docs/benchmarks.md came from the numpy index this replaced
(``git show 8d7bcd2:recommender/ml/search/ivf.py``), removed since; it is no longer measured here.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # numpy's exact scan single-threaded, like a web worker

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def synthetic_vectors(n: int, d: int, *, clusters: int = 400, noise: float = 0.6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    # Zipf-ish family sizes: a few big families (plain silver rings), a long tail.
    weights = 1.0 / np.arange(1, clusters + 1) ** 0.8
    labels = rng.choice(clusters, size=n, p=weights / weights.sum())
    out = np.empty((n, d), np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        x = centres[labels[start:stop]] + noise * rng.standard_normal((stop - start, d)).astype(np.float32) / np.sqrt(d) * 2
        out[start:stop] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def exact_top(x: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    s = q @ x.T
    idx = np.argpartition(-s, k - 1, axis=1)[:, :k]
    return idx


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f.tolist()) & set(t.tolist())) / len(t) for f, t in zip(found, truth)]))


def timed_queries(fn, queries: np.ndarray) -> tuple[np.ndarray, float, float]:
    """One query at a time (serving's shape); returns results, p50 and p99 in microseconds."""
    out, times = [], []
    for q in queries:
        t = time.perf_counter()
        out.append(fn(q))
        times.append((time.perf_counter() - t) * 1e6)
    return np.array(out), float(np.percentile(times, 50)), float(np.percentile(times, 99))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--dims", type=int, nargs="+", default=[64, 512])
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--libs", nargs="+", default=["exact", "faiss-hnsw", "faiss-ivf", "hnswlib", "usearch"],
                   help="which to measure (growth runs: exact faiss-hnsw)")
    p.add_argument("--hnsw-m", type=int, nargs="+", default=[16, 32])
    args = p.parse_args()
    import faiss
    import hnswlib
    from usearch.index import Index as UIndex

    cores = os.cpu_count() or 1
    print(f"items={args.items} queries={args.queries} k={args.k} cores={cores} load={os.getloadavg()[0]:.2f}")
    k = args.k
    for d in args.dims:
        x = synthetic_vectors(args.items, d)
        rng = np.random.default_rng(1)
        q = x[rng.choice(len(x), args.queries, replace=False)] + 0.05 * rng.standard_normal((args.queries, d)).astype(np.float32) / np.sqrt(d)
        q = (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)  # float64 would upcast x per query
        truth = exact_top(x, q, k)
        rows = []

        def report(name, build_s, fn, size_mb):
            found, p50, p99 = timed_queries(fn, q)
            rows.append((name, build_s, recall(found, truth), p50, p99, size_mb))

        if "exact" in args.libs:
            report("exact (numpy matmul + argpartition)", 0.0,
                   lambda v: np.argpartition(-(x @ v), k - 1)[:k], x.nbytes / 1e6)

        for m, ef in [(m, ef) for m, ef in ((16, 64), (32, 64), (32, 128)) if m in args.hnsw_m
                      and "faiss-hnsw" in args.libs]:
            faiss.omp_set_num_threads(cores)
            t = time.perf_counter()
            fi = faiss.IndexHNSWFlat(d, m, faiss.METRIC_INNER_PRODUCT)
            fi.hnsw.efConstruction = 100
            fi.add(x)
            build = time.perf_counter() - t
            fi.hnsw.efSearch = ef
            faiss.omp_set_num_threads(1)
            with tempfile.NamedTemporaryFile() as f:
                faiss.write_index(fi, f.name)
                size = os.path.getsize(f.name) / 1e6
            report(f"faiss HNSWFlat M={m} ef={ef}", build, lambda v: fi.search(v[None], k)[1][0], size)

        if "faiss-ivf" in args.libs:
            faiss.omp_set_num_threads(cores)
            nlist = int(2 * np.sqrt(len(x)))
            t = time.perf_counter()
            quant = faiss.IndexFlatIP(d)
            fivf = faiss.IndexIVFFlat(quant, d, nlist, faiss.METRIC_INNER_PRODUCT)
            fivf.train(x[np.random.default_rng(0).choice(len(x), min(len(x), 50 * nlist), replace=False)])
            fivf.add(x)
            build = time.perf_counter() - t
            faiss.omp_set_num_threads(1)
            for probes in (8, 16):
                fivf.nprobe = probes
                report(f"faiss IVFFlat nlist={nlist} nprobe={probes}", build,
                       lambda v: fivf.search(v[None], k)[1][0], x.nbytes / 1e6)

        for m, ef in [(m, ef) for m, ef in ((16, 64), (32, 64)) if m in args.hnsw_m and "hnswlib" in args.libs]:
            t = time.perf_counter()
            hi = hnswlib.Index(space="ip", dim=d)
            hi.init_index(max_elements=len(x), ef_construction=100, M=m)
            hi.add_items(x, np.arange(len(x)), num_threads=cores)
            build = time.perf_counter() - t
            hi.set_ef(ef)
            hi.set_num_threads(1)
            with tempfile.NamedTemporaryFile() as f:
                hi.save_index(f.name)
                size = os.path.getsize(f.name) / 1e6
            report(f"hnswlib M={m} ef={ef}", build, lambda v: hi.knn_query(v, k)[0][0], size)

        for m, ef in [(m, ef) for m, ef in ((16, 64), (32, 64)) if m in args.hnsw_m and "usearch" in args.libs]:
            t = time.perf_counter()
            ui = UIndex(ndim=d, metric="ip", dtype="f32", connectivity=m, expansion_add=100, expansion_search=ef)
            ui.add(np.arange(len(x)), x, threads=cores)
            build = time.perf_counter() - t
            with tempfile.NamedTemporaryFile() as f:
                ui.save(f.name)
                size = os.path.getsize(f.name) / 1e6
            report(f"usearch f32 M={m} ef={ef}", build, lambda v: ui.search(v, k, threads=1).keys, size)

        print(f"\n{args.items:,} x {d}")
        print("| index | build s | recall@10 | query p50 us | query p99 us | size MB |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, b, r, p50, p99, size in rows:
            print(f"| {name} | {b:.1f} | {r:.3f} | {p50:.0f} | {p99:.0f} | {size:.0f} |")
    print(f"\nmax RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB, load={os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
