"""How much of the full model's answer the two-stage scorer keeps, and what each stage costs.

For customers of the API benchmark's database (run ``bench/api_latency.py`` once first, with
``--model-artifact``, so its active model is the trained xDeepFM), the full model ranks all
100,000 items; the serving path retrieves a few hundred and ranks only those. Printed per
configuration (exact scan or inner-product index; retrieved count): the share of the full
model's top 10 in the served top 10, the retrieval recall against the exact scan, and the
time per customer of retrieval and ranking, all in one run on the same customers.

    python bench/retrieval_quality.py --customers 200
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="jewelrec_bench")
    parser.add_argument("--var-dir", default="/tmp/jewelrec-bench")
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()

    from api_latency import bench_env

    os.environ.update(bench_env(args.db, Path(args.var_dir)))
    os.environ["JEWELREC_BACKGROUND_REFRESH"] = "0"
    import django

    django.setup()
    import numpy as np

    import recommender.ml.models.xdeepfm_scorer as xs
    from recommender.ml.common.matrix import top_k_unordered
    from recommender.serving import model_ranker as mr
    from recommender.serving.catalog import serving_catalog
    from recommender.serving.customers import customer_context
    from recommender.serving.model_store import active_ranker

    ranker = active_ranker()
    if not isinstance(ranker, mr.ModelRanker):
        raise SystemExit("the benchmark database has no active xDeepFM: run bench/api_latency.py --model-artifact first")
    catalog = serving_catalog()
    prepared = ranker.prepared_for(catalog)
    cands = prepared.cands
    scorer = prepared.model._scorer_for(cands)
    users = []
    for c in range(args.customers):
        ctx = customer_context(f"cust-{c * max(1, 2000 // args.customers)}")
        if ctx.history:
            users.append(scorer.user_fields(ranker.user_context(prepared, ctx, [])))
    print(f"{len(cands)} candidate items, {len(users)} customers with history; k={args.k}", flush=True)

    def full_top(u):
        scores = np.concatenate([scorer.score(u, np.arange(a, min(a + 4096, len(cands))))
                                 for a in range(0, len(cands), 4096)])
        return set(np.argpartition(-scores, args.k - 1)[:args.k].tolist())

    t = time.perf_counter()
    truth = [full_top(u) for u in users]
    print(f"full model over every item: {(time.perf_counter() - t) / len(users) * 1000:.0f} ms per customer", flush=True)
    index = scorer.retrieval_index
    rows = []
    for label, use_index, n_retrieve, n_popular in [
        ("exact scan", False, 300, 100), ("index", True, 300, 100),
        ("exact scan", False, 200, 100), ("index", True, 200, 100), ("index", True, 200, 60),
        ("index", True, 150, 100), ("index", True, 150, 75),
    ]:
        scorer.retrieval_index = index if use_index else None
        kept, recall, t_ret, t_rank = [], [], [], []
        for u, top in zip(users, truth):
            t0 = time.perf_counter()
            pos = scorer.retrieve(u, n_retrieve, n_popular)
            t1 = time.perf_counter()
            values = scorer.score(u, pos)
            t2 = time.perf_counter()
            served = set(pos[np.argpartition(-values, args.k - 1)[:args.k]].tolist())
            kept.append(len(served & top) / args.k)
            t_ret.append((t1 - t0) * 1000)
            t_rank.append((t2 - t1) * 1000)
            if use_index:
                q = u[scorer.retrieval_user_fields].reshape(-1)
                exact = top_k_unordered(scorer.retrieval @ q, n_retrieve - n_popular)
                got = scorer.retrieval_index.search(q, n_retrieve - n_popular,
                                                    scorer.retrieval_probes(n_retrieve - n_popular))
                recall.append(len(set(exact.tolist()) & set(got.tolist())) / len(exact))
        rows.append((f"{label}, {n_retrieve} ({n_popular} popular)", statistics.fmean(kept),
                     statistics.fmean(recall) if recall else 1.0, statistics.median(t_ret), statistics.median(t_rank)))
    scorer.retrieval_index = index
    print(f"{'retrieval':32} {'full top-10 kept':>16} {'recall vs scan':>15} {'retrieve ms':>12} {'rank ms':>8}")
    for label, kept, recall, tr, tk in rows:
        print(f"{label:32} {kept:16.3f} {recall:15.3f} {tr:12.3f} {tk:8.3f}")


if __name__ == "__main__":
    main()
