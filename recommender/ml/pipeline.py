"""End to end: splits, baselines, transfer model and ablations, evaluation report.

``run_pipeline(data, config, on_progress)`` evaluates every model under each protocol
and returns the transfer model trained on the cross-sell protocol's training customers
as the model to serve. The served model is the evaluated one (not a refit on all data)
so the reported numbers describe exactly what is served; its training set lacks only
the 20% test customers and the 15% validation customers used for early stopping. Pass
``refit_for_serving=True`` to retrain on all interactions with the epoch count chosen
by early stopping (the refit itself is then unevaluated; the report says so).

    python -m recommender.ml.pipeline --data-dir /work/shared/datasets/hm-jewelry
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence


from .data import RecData, content_vectors_from_attributes, load_hm_interactions, summarize
from .evaluation.protocols import evaluate_models
from .evaluation.report import EvaluationReport
from .evaluation.splits import ProtocolSplit, cross_sell_split, temporal_split, validation_split
from .models.base import Recommender
from .models.baselines import (
    ALSRecommender,
    ContentRecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    RecencyPopularityRecommender,
)
from .models.xdeepfm import XDeepFMRecommender
from .config import TrainConfig
from .training.transfer import fit_transfer

OnProgress = Callable[[float, str], None]
TRANSFER = "xdeepfm_transfer"
BASELINE_NAMES = ("popularity", "recency_popularity", "item_knn", "als", "content")


@dataclass
class PipelineResult:
    model: XDeepFMRecommender
    report: EvaluationReport
    epoch_losses: dict[str, list[dict[str, Any]]]  # "<protocol>/<model>" -> per-epoch records
    timings: dict[str, float]  # seconds per stage
    config: TrainConfig
    data_summary: dict[str, Any]
    served_model_note: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)  # report.to_dict()


def _baselines(seed: int, threads: int) -> dict[str, Recommender]:
    return {
        "popularity": PopularityRecommender(),
        "recency_popularity": RecencyPopularityRecommender(half_life_days=2.0),
        "item_knn": ItemKNNRecommender(alpha=0.5),
        "als": ALSRecommender(factors=64, iterations=15, num_threads=threads, seed=seed),
        "content": ContentRecommender(),
    }


def run_pipeline(
    data: RecData,
    config: TrainConfig | None = None,
    on_progress: OnProgress | None = None,
    *,
    protocols: Sequence[str] = ("cross_sell", "temporal"),
    ablations: bool = True,
    n_resamples: int = 1000,
    test_fraction: float = 0.2,
    refit_for_serving: bool = False,
    threads: int = 2,
) -> PipelineResult:
    """Pretrain + fine-tune + evaluate with all baselines (and ablations) on each protocol."""
    config = config or TrainConfig()
    progress = on_progress or (lambda p, m: None)
    timings: dict[str, float] = {}
    losses: dict[str, list[dict[str, Any]]] = {}
    report = EvaluationReport()
    t_all = time.perf_counter()
    if data.items.vectors is None or not data.items.vector_mask.any():
        t = time.perf_counter()
        progress(0.0, "building content vectors from attributes and text")
        data.items.set_vectors(*content_vectors_from_attributes(data.items, seed=config.seed))
        timings["content_vectors"] = time.perf_counter() - t

    plan: list[tuple[str, str, TrainConfig, bool]] = [(TRANSFER, "transfer", config, True)]
    if ablations:
        plan += [
            ("xdeepfm_scratch_jewelry_only", "scratch", config.with_overrides(epochs_pretrain=0), True),
            ("xdeepfm_transfer_no_item_vector", "transfer", config, False),
        ]
    n_steps = len(protocols) * (1 + len(plan))
    step = 0
    served: XDeepFMRecommender | None = None
    served_note = ""
    for protocol in protocols:
        t = time.perf_counter()
        if protocol == "cross_sell":
            split = cross_sell_split(data, test_fraction=test_fraction, seed=config.seed)
            history_domain = "source"
        elif protocol == "temporal":
            split = temporal_split(data, test_days=1)
            history_domain = "all"
        else:
            raise ValueError(f"unknown protocol {protocol!r}; use 'cross_sell' or 'temporal'")
        val = validation_split(data, split, seed=config.seed + 1)
        timings[f"{protocol}/split"] = time.perf_counter() - t

        models: dict[str, Recommender] = {}
        t = time.perf_counter()
        progress(step / n_steps, f"{protocol}: fitting baselines")
        for name, model in _baselines(config.seed, threads).items():
            t_b = time.perf_counter()
            models[name] = model.fit(data, split.train)
            timings[f"{protocol}/fit/{name}"] = time.perf_counter() - t_b
        step += 1
        # temporal has few test customers; the ablations run on cross-sell only to keep the run short
        for name, kind, cfg, use_vec in plan if protocol == "cross_sell" else plan[:1]:
            t_m = time.perf_counter()
            progress(step / n_steps, f"{protocol}: training {name}")

            def on_epoch(phase: str, epoch: int, loss: float, metrics: dict, _n=name, _p=protocol, _s=step) -> None:
                extra = " ".join(f"{k}={v:.4f}" for k, v in metrics.items())
                progress(_s / n_steps, f"{_p}: {_n} {phase} epoch {epoch} loss {loss:.4f} {extra}".strip())

            model = XDeepFMRecommender(cfg, use_item_vector=use_vec, name=name)
            fit_transfer(model, data, val.train, on_epoch=on_epoch, validation=val, history_domain=history_domain)
            models[name] = model
            losses[f"{protocol}/{name}"] = model.history
            timings[f"{protocol}/fit/{name}"] = time.perf_counter() - t_m
            step += 1
            if protocol == "cross_sell" and name == TRANSFER:
                served = model
        t = time.perf_counter()
        progress(step / n_steps, f"{protocol}: evaluating {len(models)} models on the full target catalog")
        res = evaluate_models(models, data, split, ks=(10, 20), k_main=config.k)
        report.add(res, TRANSFER, BASELINE_NAMES, n_resamples=n_resamples, seed=config.seed)
        timings[f"{protocol}/evaluate"] = time.perf_counter() - t

    if served is None:  # cross-sell not requested: serve the last transfer model trained
        served = models[TRANSFER]
    served_note = (
        "served model = the evaluated cross-sell transfer model (trained without the test and validation customers)"
    )
    if refit_for_serving:
        t = time.perf_counter()
        best = [r for r in served.history if r.get("epoch") == "best"]
        epochs = best[0]["restored_epoch"] if best else config.epochs_finetune
        progress(0.99, f"refitting the served model on all interactions ({epochs} fine-tune epochs)")
        beta = float(served._require().prior_beta)  # the prior weight chosen on validation
        served = XDeepFMRecommender(config.with_overrides(epochs_finetune=int(epochs), prior_beta=beta), name=TRANSFER)
        fit_transfer(served, data, data.interactions)
        losses["serving/refit"] = served.history
        timings["serving/refit"] = time.perf_counter() - t
        served_note = f"served model = refit on all interactions with {epochs} fine-tune epochs (not itself evaluated)"
    timings["total"] = time.perf_counter() - t_all
    progress(1.0, f"done in {timings['total']:.0f}s")
    return PipelineResult(served, report, losses, timings, config, summarize(data), served_note, report.to_dict())


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train and evaluate the jewelry transfer recommender on the H&M sample.")
    ap.add_argument("--data-dir", required=True, help="folder with articles.parquet and transactions.parquet")
    ap.add_argument("--config", help="JSON file or inline JSON of TrainConfig overrides")
    ap.add_argument("--threads", type=int, default=None, help="torch/implicit threads (default: torch's current setting)")
    ap.add_argument("--protocols", default="cross_sell,temporal")
    ap.add_argument("--no-ablations", action="store_true")
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--json-out", help="write the report dict here")
    ap.add_argument("--save-model", help="save the served model to this folder")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    overrides: dict[str, Any] = {}
    if args.config:
        p = Path(args.config)
        overrides = json.loads(p.read_text() if p.is_file() else args.config)
    config = TrainConfig.from_dict(overrides)
    t0 = time.perf_counter()
    log = (lambda p, m: None) if args.quiet else (lambda p, m: print(f"[{time.perf_counter() - t0:7.1f}s {p:4.0%}] {m}", file=sys.stderr, flush=True))
    data = load_hm_interactions(args.data_dir, seed=config.seed)
    log(0.0, f"loaded {summarize(data)}")
    result = run_pipeline(data, config, log, protocols=args.protocols.split(","), ablations=not args.no_ablations,
                          n_resamples=args.resamples, threads=threads)
    result.timings["load_and_content_vectors"] = 0.0
    total = time.perf_counter() - t0
    print(result.report.to_text())
    print(f"served: {result.served_model_note}")
    print("timings (s): " + ", ".join(f"{k}={v:.1f}" for k, v in result.timings.items()))
    print(f"wall time incl. loading: {total:.1f}s on {threads} torch thread(s)")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"report": result.metrics, "timings": result.timings,
                                                   "epoch_losses": result.epoch_losses, "config": config.to_dict(),
                                                   "data": result.data_summary, "wall_s": total}, indent=1, default=str))
    if args.save_model:
        result.model.save(args.save_model)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
