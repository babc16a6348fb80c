"""Recommendation quality on customers held out of the shared H&M week: the blend against the
simple baselines over seeded splits (the numbers the promotion gate reads), and what each
candidate source adds.

For each of ``--seeds`` splits, 20% of the eligible customers are test customers, unseen by
every model; the blend fits its statistics on the rest and tunes its weights there by
``--folds``-fold cross-validation. Protocols: intent (one jewel left out, everything else
the customer bought as input) and cross-sell (non-jewelry basket -> the jewelry bought).
Candidates = the full jewelry catalog (2,171 items), K = 10. ``--ablation`` also drops each
source in turn from the tuned blend (same splits, same tuning), to show its contribution.

    python bench/recommendation_quality.py                       # 10 seeds, 5 folds
    python bench/recommendation_quality.py --seeds 3 --ablation  # + one blend per dropped source
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recommender.ml.blend.signals import SOURCES  # noqa: E402
from recommender.ml.blend.tuning import SPLITTERS, fit_blend  # noqa: E402
from recommender.ml.data import load_hm_interactions  # noqa: E402
from recommender.ml.evaluation.protocols import evaluate_model  # noqa: E402
from recommender.ml.evaluation.seeded import evaluate_seeded, format_seeded  # noqa: E402


def ablation(data, seeds, folds) -> dict:
    """NDCG@10 of the tuned blend with each source's weight forced to 0, per protocol."""
    out = {}
    for protocol in ("intent", "cross_sell"):
        rows: dict[str, list[float]] = {"(all sources)": []}
        for seed in seeds:
            split = SPLITTERS[protocol](data, seed=seed)
            blend = fit_blend(data, split.train, folds=folds, seed=seed, shapes=(protocol,))
            view = blend.for_shape(protocol)
            rows["(all sources)"].append(evaluate_model(view, data, split)[0]["ndcg@10"])
            tuned = dict(blend.weights[protocol])
            for source in SOURCES:
                if not tuned.get(source):
                    rows.setdefault(f"- {source}", []).append(rows["(all sources)"][-1])
                    continue
                blend.weights[protocol] = {**tuned, source: 0.0}
                rows.setdefault(f"- {source}", []).append(evaluate_model(blend.for_shape(protocol), data, split)[0]["ndcg@10"])
            blend.weights[protocol] = tuned
        out[protocol] = {k: (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0) for k, v in rows.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=os.environ.get("JEWELREC_DATA_DIR", str(ROOT.parent / "shared" / "datasets")))
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--ablation", action="store_true")
    ap.add_argument("--json-out")
    args = ap.parse_args()
    t0 = time.perf_counter()
    data = load_hm_interactions(args.data_dir, with_content_vectors=True)
    print(f"loaded in {time.perf_counter() - t0:.1f}s: {len(data.interactions)} purchases, "
          f"{int(data.items.is_target.sum())} jewelry items; load average {os.getloadavg()[0]:.2f}", flush=True)
    seeds = tuple(range(args.seeds))
    seeded = evaluate_seeded(data, seeds=seeds, folds=args.folds,
                             on_progress=lambda f, m: print(f"[{time.perf_counter() - t0:6.0f}s] {m}", flush=True))
    print(format_seeded(seeded))
    result = {"seeded": seeded}
    if args.ablation:
        result["ablation"] = ablation(data, seeds, args.folds)
        for protocol, rows in result["ablation"].items():
            print(f"\nablation, {protocol} (NDCG@10 mean ± std over {len(seeds)} seeds):")
            for name, (mean, std) in rows.items():
                print(f"  {name:28s} {mean:.4f} ± {std:.4f}")
    print(f"\nwall {time.perf_counter() - t0:.0f}s; load average {os.getloadavg()[0]:.2f}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
