"""Benchmark of the transfer recommender on the H&M sample.

Measures training throughput (examples/s, pretrain and fine-tune), the time to score the
whole jewelry catalog for one customer (p50/p90 over 200 test customers) next to a raw
matmul of the same size as the floor, and optionally the full pipeline wall time.

    python bench/bench_training.py --data-dir /work/shared/datasets/hm-jewelry --threads 2 [--pipeline]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recommender.ml.data import UserContext, load_hm_interactions  # noqa: E402
from recommender.ml.evaluation.splits import cross_sell_split  # noqa: E402
from recommender.ml.models.xdeepfm import XDeepFMRecommender  # noqa: E402
from recommender.ml.training.transfer import fit_transfer  # noqa: E402
from recommender.ml.pipeline import run_pipeline  # noqa: E402
from recommender.ml.config import TrainConfig  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--customers", type=int, default=200)
    ap.add_argument("--pipeline", action="store_true", help="also time the full pipeline (several minutes)")
    ap.add_argument("--json-out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out: dict[str, object] = {"threads": args.threads, "machine": platform.platform(), "torch": torch.__version__}

    t = time.perf_counter()
    data = load_hm_interactions(args.data_dir)
    out["load_with_content_vectors_s"] = time.perf_counter() - t
    split = cross_sell_split(data)

    cfg = TrainConfig(epochs_pretrain=1, epochs_finetune=3)
    model = XDeepFMRecommender(cfg)
    t = time.perf_counter()
    fit_transfer(model, data, split.train)
    out["fit_s"] = time.perf_counter() - t
    for phase in ("pretrain", "finetune"):
        recs = [r for r in model.history if r["phase"] == phase and isinstance(r["epoch"], int)]
        out[f"{phase}_examples_per_s"] = float(np.median([r["examples_per_s"] for r in recs]))

    cands = data.items.target_items
    rng = np.random.default_rng(0)
    users = [UserContext(history=h) for h in split.test_histories]
    users = [users[i] for i in rng.integers(0, len(users), size=args.customers)]
    model.score(users[0], cands)  # warm-up
    times = []
    for u in users:
        t = time.perf_counter()
        model.score(u, cands)
        times.append(time.perf_counter() - t)
    out["score_catalog_ms_p50"] = 1000 * float(np.percentile(times, 50))
    out["score_catalog_ms_p90"] = 1000 * float(np.percentile(times, 90))
    out["n_candidates"] = int(len(cands))
    # floor: one customer vector (512-d) against the catalog's item vectors
    vecs = torch.from_numpy(data.items.vectors[cands])
    q = torch.randn(1, vecs.shape[1])
    mm = []
    for _ in range(args.customers):
        t = time.perf_counter()
        (q @ vecs.T).numpy()
        mm.append(time.perf_counter() - t)
    out["raw_matmul_ms_p50"] = 1000 * float(np.percentile(mm, 50))

    if args.pipeline:
        t = time.perf_counter()
        res = run_pipeline(data, TrainConfig(), threads=args.threads)
        out["pipeline_s"] = time.perf_counter() - t
        out["pipeline_timings"] = res.timings
    print(json.dumps(out, indent=1))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
