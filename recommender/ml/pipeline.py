"""End to end: the served blend, its seeded evaluation and gate, the transfer model with
its ablations, the evaluation report.

``run_pipeline(data, config, on_progress)``

1. evaluates the blend procedure against the simple baselines over ``n_seeds`` customer
   splits on the intent and cross-sell protocols (``evaluation.seeded``) and decides the
   promotion gate per shopper shape;
2. trains the transfer xDeepFM on the cross-sell protocol's training customers (as before)
   and reports it, its ablations, the blend and the blend with the transfer feature on the
   seed-0 split with paired bootstrap intervals;
3. builds the served blend: statistics on every interaction, weights by k-fold over every
   customer, the transfer feature's weight chosen on the validation customers the transfer
   model never saw. A shape whose blend did not beat the best baseline serves channel
   popularity (the best baseline) instead: a model that does not earn its place never serves.

The transfer model is the evaluated one (not a refit on all data); pass
``refit_for_serving=True`` to retrain it on all interactions with the epoch count chosen
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


from .data import DatasetTooSmall, RecData, content_vectors_from_attributes, load_hm_interactions, summarize
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
from .blend.model import SHAPES, BlendRecommender
from .blend.tuning import fit_blend, tune_transfer_weight
from .config import TrainConfig
from .evaluation.seeded import channel_popularity, evaluate_seeded, format_seeded
from .models.xdeepfm import XDeepFMRecommender
from .training.trainer import TrainProgress
from .training.transfer import fit_transfer

OnProgress = Callable[[float, str], None]
# on_batch(fraction, message, steps) after every training batch; steps lists (unit, done, total)
# from the outermost level in, e.g. [("model", 1, 6), ("epoch", 3, 10), ("batch", 120, 400)].
OnBatchProgress = Callable[[float, str, list], None]
# on_epoch(record) after every training epoch, a typed record: {"protocol", "model", "phase",
# "epoch", "loss", "fraction" (of the whole run), "metrics" (validation)}; given, it replaces
# the epoch's progress message (the run row's epoch log needs no message parsed).
OnEpochRecord = Callable[[dict], None]
# Planned share of one transfer model's training spent pretraining (the rest fine-tunes).
PRETRAIN_SHARE = 0.8
TRANSFER = "xdeepfm_transfer"
BASELINE_NAMES = ("popularity", "recency_popularity", "item_knn", "als", "content")


@dataclass
class PipelineResult:
    blend: BlendRecommender  # what serves
    model: XDeepFMRecommender  # the transfer model (a feature of the blend)
    report: EvaluationReport
    epoch_losses: dict[str, list[dict[str, Any]]]  # "<protocol>/<model>" -> per-epoch records
    timings: dict[str, float]  # seconds per stage
    config: TrainConfig
    data_summary: dict[str, Any]
    served_model_note: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)  # report.to_dict()
    seeded: dict[str, Any] = field(default_factory=dict)  # evaluation.seeded table with the gate

    def summary_text(self) -> str:
        return format_seeded(self.seeded) + "\n\n" + self.report.to_text()


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
    n_seeds: int = 10,
    folds: int = 5,
    on_batch: OnBatchProgress | None = None,
    on_epoch: OnEpochRecord | None = None,
) -> PipelineResult:
    """Seeded evaluation + gate, transfer model + ablations, the served blend (see module doc)."""
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

    # 1. the blend against the baselines over seeded splits (the gate reads this)
    t = time.perf_counter()
    seeded = evaluate_seeded(data, seeds=tuple(range(n_seeds)), folds=folds,
                             on_progress=lambda f, m: progress(0.4 * f, f"seeded evaluation: {m}"))
    timings["seeded_evaluation"] = time.perf_counter() - t
    progress(0.4, "seeded evaluation: " + seeded["gate"]["reason"])

    plan: list[tuple[str, str, TrainConfig, bool]] = [(TRANSFER, "transfer", config, True)]
    if ablations:
        plan += [
            ("xdeepfm_scratch_jewelry_only", "scratch", config.with_overrides(epochs_pretrain=0), True),
            ("xdeepfm_transfer_no_item_vector", "transfer", config, False),
        ]
    n_steps = len(protocols) * (1 + len(plan))
    step = 0
    report_progress = progress

    def in_stage(f: float) -> float:  # the models are steps 2 of 3 of the whole run
        return 0.4 + 0.45 * f

    progress = lambda f, m: report_progress(in_stage(f), m)  # noqa: E731
    transfer_val: ProtocolSplit | None = None
    served: XDeepFMRecommender | None = None
    served_note = ""
    for protocol in protocols:
        t = time.perf_counter()
        if protocol == "cross_sell":
            split = cross_sell_split(data, test_fraction=test_fraction, seed=config.seed)
            history_domain = "source"
        elif protocol == "temporal":
            try:
                split = temporal_split(data, test_days=1)
                val = validation_split(data, split, seed=config.seed + 1)
            except DatasetTooSmall as exc:
                # a few stray events on the newest day leave too few last-day buyers: the run goes
                # on without this secondary protocol, and its report says why
                report.protocol_notes[protocol] = f"not evaluated: {exc}"
                step += 1 + len(plan[:1])
                continue
            history_domain = "all"
        else:
            raise ValueError(f"unknown protocol {protocol!r}; use 'cross_sell' or 'temporal'")
        if protocol != "temporal":
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

            # Share of this model's training in each phase: pretraining reads the large source
            # domain, fine-tuning the small jewelry one (a fixed split; the job's time-left
            # estimate follows the measured rate, so a rough split only matters at the switch).
            pretrain_share = PRETRAIN_SHARE if cfg.epochs_pretrain else 0.0

            def model_fraction(phase: str, within: float, _share=pretrain_share) -> float:
                return _share * within if phase == "pretrain" else _share + (1 - _share) * within

            def epoch_done(phase: str, epoch: int, loss: float, metrics: dict, _n=name, _p=protocol, _s=step,
                           _cfg=cfg) -> None:
                extra = " ".join(f"{k}={v:.4f}" for k, v in metrics.items())
                planned = _cfg.epochs_pretrain if phase == "pretrain" else _cfg.epochs_finetune
                done = (_s + model_fraction(phase, min(1.0, epoch / max(1, planned)))) / n_steps
                if on_epoch is not None:  # a typed record for the caller's epoch log
                    on_epoch({"protocol": _p, "model": _n, "phase": phase, "epoch": epoch, "loss": loss,
                              "fraction": in_stage(done), "metrics": dict(metrics)})
                else:
                    progress(done, f"{_p}: {_n} {phase} epoch {epoch} loss {loss:.4f} {extra}".strip())

            def batch_done(tp: TrainProgress, _n=name, _p=protocol, _s=step) -> None:
                fraction = (_s + model_fraction(tp.phase, tp.fraction)) / n_steps
                steps = [("step", _s + 1, n_steps), ("epoch", tp.epoch, tp.epochs), ("batch", tp.batch, tp.batches)]
                on_batch(in_stage(fraction), f"{_p}: training {_n}, {tp.phase}", steps)

            per_batch = batch_done if on_batch is not None else None
            model = XDeepFMRecommender(cfg, use_item_vector=use_vec, name=name)
            fit_transfer(model, data, val.train, on_epoch=epoch_done, validation=val, history_domain=history_domain,
                         on_batch=per_batch)
            models[name] = model
            losses[f"{protocol}/{name}"] = model.history
            timings[f"{protocol}/fit/{name}"] = time.perf_counter() - t_m
            step += 1
            if protocol == "cross_sell" and name == TRANSFER:
                served, transfer_val = model, val
        # the blend on the same split, alone and with the transfer model as a feature
        shape = "cross_sell" if protocol == "cross_sell" else "intent"
        models["channel_popularity"] = channel_popularity().fit(data, split.train).for_shape(shape)
        blend = fit_blend(data, split.train, folds=folds, seed=config.seed, shapes=(shape,))
        models["blend"] = blend.for_shape(shape)
        trained = models.get(TRANSFER)
        if isinstance(trained, XDeepFMRecommender) and history_domain == "source":
            with_transfer = BlendRecommender(dict(blend.weights), half_life_days=blend.half_life_days)
            with_transfer.tables, with_transfer.scales, with_transfer.tuning = blend.tables, dict(blend.scales), {}
            tune_transfer_weight(with_transfer, data, {shape: val}, trained.score_many)
            models["blend_transfer"] = with_transfer.for_shape(shape)
        t = time.perf_counter()
        progress(step / n_steps, f"{protocol}: evaluating {len(models)} models on the full target catalog")
        res = evaluate_models(models, data, split, ks=(10, 20), k_main=config.k)
        report.add(res, "blend_transfer" if "blend_transfer" in models else "blend",
                   (*BASELINE_NAMES, "channel_popularity"), n_resamples=n_resamples, seed=config.seed)
        if TRANSFER in models:
            report.add_comparison(res, TRANSFER, "xdeepfm_scratch_jewelry_only", n_resamples=n_resamples, seed=config.seed)
        timings[f"{protocol}/evaluate"] = time.perf_counter() - t

    if served is None:  # cross-sell not requested: serve the last transfer model trained
        served = models[TRANSFER]
    served_note = (
        "served: the blend (statistics on every interaction, weights by k-fold over every customer; channel "
        "popularity for a shape the gate did not pass); its transfer feature = the evaluated cross-sell xDeepFM "
        "(trained without the test and validation customers)"
    )
    if refit_for_serving:
        t = time.perf_counter()
        best = [r for r in served.history if r.get("epoch") == "best"]
        epochs = best[0]["restored_epoch"] if best else config.epochs_finetune
        progress(0.99, f"refitting the served model on all interactions ({epochs} fine-tune epochs)")
        beta = float(served.network().prior_beta)  # the prior weight chosen on validation
        served = XDeepFMRecommender(config.with_overrides(epochs_finetune=int(epochs), prior_beta=beta), name=TRANSFER)
        fit_transfer(served, data, data.interactions)
        losses["serving/refit"] = served.history
        timings["serving/refit"] = time.perf_counter() - t
        served_note = (f"served: the blend; its transfer feature = the xDeepFM refit on all interactions with {epochs} "
                       "fine-tune epochs (not itself evaluated)")
    # 3. the served blend: statistics on everything, weights by k-fold over every customer
    t = time.perf_counter()
    report_progress(0.86, "building the served blend on all interactions")
    blend = fit_blend(data, data.interactions, folds=folds, seed=config.seed)
    if transfer_val is not None:
        tune_transfer_weight(blend, data, {"cross_sell": transfer_val}, served.score_many)
    for shape in SHAPES:
        if seeded["gate"].get("shapes", {}).get(shape) != "blend":
            # it did not earn its place for this shape: serve the best simple baseline there
            blend.weights[shape] = {name: (1.0 if name == "channel_popularity" else 0.0) for name in blend.weights[shape]}
            blend.tuning.setdefault(shape, {})["served"] = "channel_popularity (the blend did not beat it)"
        else:
            blend.tuning.setdefault(shape, {})["served"] = "blend"
    blend.name = "blend"
    timings["serving/blend"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t_all
    report_progress(1.0, f"done in {timings['total']:.0f}s")
    metrics = {**report.to_dict(), "seeded": seeded, "gate": seeded["gate"], "blend_weights": blend.weights}
    return PipelineResult(blend, served, report, losses, timings, config, summarize(data), served_note, metrics, seeded)


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
