"""Every model against the simple baselines over several seeded customer splits, and the
promotion gate that reads the result.

Protocols (see ``splits``): ``intent`` (one jewel left out, everything else the customer
bought as input) and ``cross_sell`` (non-jewelry basket -> the jewelry bought). For each
seed the test customers (20%) are unseen: baselines fit on the rest, the blend fits its
statistics and tunes its weights on the rest only (k-fold inside). Each number is the mean
and standard deviation over seeds; the online and store customers (by the input's channel
mix) are reported separately.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..blend.model import BlendRecommender, default_weights
from ..blend.tuning import fit_blend
from ..data import DatasetTooSmall, RecData
from ..models.base import Recommender
from ..models.baselines import ItemKNNRecommender, PopularityRecommender, RecencyPopularityRecommender
from .protocols import evaluate_model
from .splits import ProtocolSplit, cross_sell_split, intent_split

GATED_PROTOCOLS = ("intent", "cross_sell")
BASELINES = ("popularity", "recency_popularity", "channel_popularity", "co_purchase")
MODEL = "blend"
METRICS = ("ndcg@10", "recall@10", "coverage@10", "cold_recall@20")
SPLITTERS: dict[str, Callable[..., ProtocolSplit]] = {"intent": intent_split, "cross_sell": cross_sell_split}
OnProgress = Callable[[float, str], None]


def channel_popularity() -> BlendRecommender:
    """The strongest simple baseline: time-decayed popularity in the shopper's channel mix."""
    only = {shape: {name: (1.0 if name == "channel_popularity" else 0.0) for name in w}
            for shape, w in default_weights().items()}
    return BlendRecommender(only, name="channel_popularity")


def baselines() -> dict[str, Recommender]:
    return {
        "popularity": PopularityRecommender(),
        "recency_popularity": RecencyPopularityRecommender(half_life_days=2.0),
        "channel_popularity": channel_popularity(),
        # jewelry co-purchase (item-kNN) with a popularity back-off
        "co_purchase": ItemKNNRecommender(alpha=0.5),
    }


@dataclass
class SeedResult:
    metrics: dict[str, dict[str, float | None]]  # model -> metric -> value
    per_user: dict[str, np.ndarray]  # model -> NDCG@10 per test customer
    online: np.ndarray  # bool per test customer: mostly online orders


def _run_seed(data: RecData, protocol: str, seed: int, folds: int) -> SeedResult:
    split = SPLITTERS[protocol](data, seed=seed)
    models: dict[str, Recommender] = {name: m.fit(data, split.train) for name, m in baselines().items()}
    models["channel_popularity"] = models["channel_popularity"].for_shape(protocol)  # type: ignore[attr-defined]
    models[MODEL] = fit_blend(data, split.train, folds=folds, seed=seed, shapes=(protocol,)).for_shape(protocol)
    metrics, per_user = {}, {}
    for name, model in models.items():
        metrics[name], per_user[name] = evaluate_model(model, data, split, ks=(10, 20), k_main=10)
    share = split.test_online_share if split.test_online_share is not None else np.full(split.n_test, np.nan)
    return SeedResult(metrics, per_user, np.nan_to_num(share, nan=0.0) >= 0.5)


def _stats(values: Sequence[float | None]) -> dict[str, object]:
    vals = np.array([v for v in values if v is not None], np.float64)
    if not len(vals):
        return {"mean": None, "std": None, "values": []}
    return {"mean": float(vals.mean()), "std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
            "values": [round(float(v), 6) for v in vals]}


def evaluate_seeded(data: RecData, *, seeds: Sequence[int] = tuple(range(10)), folds: int = 5,
                    protocols: Sequence[str] = GATED_PROTOCOLS, on_progress: OnProgress | None = None) -> dict:
    """The protocol table (mean ± std over ``seeds``) and the gate's decision, as JSON-able data."""
    progress = on_progress or (lambda f, m: None)
    out: dict = {"seeds": list(seeds), "folds": folds, "model": MODEL, "baselines": list(BASELINES), "protocols": {}}
    steps, step = len(protocols) * len(seeds), 0
    for protocol in protocols:
        runs = []
        try:
            for seed in seeds:
                progress(step / steps, f"{protocol}: seed {seed} ({step + 1} of {steps} splits)")
                runs.append(_run_seed(data, protocol, seed, folds))
                step += 1
        except DatasetTooSmall as exc:
            # no comparison on this protocol: the gate will say so and hold the version
            out.setdefault("errors", {})[protocol] = str(exc)
            step += len(seeds) - len(runs)
            continue
        names = list(runs[0].metrics)
        table = {name: {m: _stats([r.metrics[name].get(m) for r in runs]) for m in METRICS} for name in names}
        by_channel = {
            group: {name: _stats([float(r.per_user[name][r.online == want].mean()) if (r.online == want).any() else None
                                  for r in runs]) for name in names}
            for group, want in (("online", True), ("store", False))
        }
        best = max(BASELINES, key=lambda b: table[b]["ndcg@10"]["mean"] or 0.0)
        diffs = [r.metrics[MODEL]["ndcg@10"] - r.metrics[best]["ndcg@10"] for r in runs]
        diff = _stats(diffs)
        base_mean = table[best]["ndcg@10"]["mean"] or 0.0
        out["protocols"][protocol] = {
            "notes": SPLITTERS[protocol].__doc__.strip().splitlines()[0],
            "test_customers": [int(len(r.online)) for r in runs],
            "models": table,
            "by_channel": by_channel,
            "best_baseline": best,
            "difference": diff,
            "relative": (float(diff["mean"]) / base_mean) if base_mean else None,
            # beats the best baseline by more than the spread of the difference between seeds
            "passes": bool(diff["mean"] is not None and diff["mean"] > diff["std"]),
        }
    out["gate"] = gate_decision(out)
    progress(1.0, "seeded evaluation done")
    return out


def gate_decision(seeded: dict) -> dict:
    """Whether a version built by this procedure may become active by itself, in plain words.

    Per shopper shape (a protocol), the version serves its blend only where the blend beat
    the best baseline by more than the spread between splits; elsewhere it serves channel
    popularity, the best baseline. It may be promoted automatically when it beats the best
    baseline on at least one shape (and so is never below it on any)."""
    protocols = seeded.get("protocols") or {}
    missing = [p for p in GATED_PROTOCOLS if p not in protocols]
    if missing:
        errors = seeded.get("errors") or {}
        why = "; ".join(f"{p.replace('_', '-')}: {errors[p]}" for p in missing if p in errors)
        return {"passes": False, "shapes": {}, "details": [why] if why else [],
                "reason": f"The evaluation could not compare this version with the baselines on "
                          f"{', '.join(p.replace('_', '-') for p in missing)}, so it is not promoted automatically."}
    lines, shapes = [], {}
    for p in GATED_PROTOCOLS:
        r = protocols[p]
        model = r["models"][MODEL]["ndcg@10"]
        base = r["models"][r["best_baseline"]]["ndcg@10"]
        d = r["difference"]
        shapes[p] = MODEL if r["passes"] else "channel_popularity"
        verdict = "beats" if r["passes"] else "does not beat"
        lines.append(
            f"{p.replace('_', '-')}: the blend's NDCG@10 {model['mean']:.4f} ± {model['std']:.4f} {verdict} the best "
            f"baseline ({r['best_baseline'].replace('_', ' ')}, {base['mean']:.4f} ± {base['std']:.4f}) by more than "
            f"the spread: difference {d['mean']:+.4f} ± {d['std']:.4f} over {len(seeded['seeds'])} splits"
            + ("" if r["passes"] else "; this version serves channel popularity there"))
    wins = [p.replace("_", "-") for p, s in shapes.items() if s == MODEL]
    if wins:
        reason = (f"It beats the best simple baseline on {' and '.join(wins)} by more than the spread between "
                  f"splits" + ("." if len(wins) == len(shapes) else ", and serves the baseline itself elsewhere, "
                                                                       "so it is never worse than the baseline."))
    else:
        reason = ("It does not beat the best simple baseline by more than the spread between splits on any "
                  "protocol, so it is not promoted automatically.")
    return {"passes": bool(wins), "shapes": shapes, "reason": reason, "details": lines}


def format_seeded(seeded: dict) -> str:
    """The protocol table as text (the ``evaluate`` command and the job log)."""
    lines = [f"Seeded evaluation: {len(seeded['seeds'])} customer splits (20% test customers each), "
             f"blend weights tuned by {seeded['folds']}-fold cross-validation on the training customers only."]
    for p, r in seeded["protocols"].items():
        lines.append(f"\n== {p} == {r['notes']} (test customers per split: {min(r['test_customers'])}-"
                     f"{max(r['test_customers'])}; candidates = the full jewelry catalog)")
        header = f"{'model':22s}" + "".join(f"{m:>20s}" for m in METRICS) + f"{'online ndcg@10':>18s}{'store ndcg@10':>18s}"
        lines += [header, "-" * len(header)]
        for name, vals in r["models"].items():
            cells = "".join("n/a".rjust(20) if v["mean"] is None else f"{v['mean']:.4f} ± {v['std']:.4f}".rjust(20)
                            for v in (vals[m] for m in METRICS))
            ch = "".join("n/a".rjust(18) if r["by_channel"][g][name]["mean"] is None
                         else f"{r['by_channel'][g][name]['mean']:.4f}".rjust(18) for g in ("online", "store"))
            lines.append(f"{name:22s}{cells}{ch}")
        d = r["difference"]
        rel = f", {r['relative']:+.1%}" if r["relative"] is not None else ""
        lines.append(f"{MODEL} - {r['best_baseline']} (best baseline): {d['mean']:+.4f} ± {d['std']:.4f}{rel}; "
                     f"{'passes' if r['passes'] else 'does not pass'}")
    for p, error in (seeded.get("errors") or {}).items():
        lines.append(f"\n== {p} == not evaluated: {error}")
    g = seeded["gate"]
    lines.append(f"\nGate: {'PASS' if g['passes'] else 'HOLD'}. {g['reason']}")
    lines += [f"  {x}" for x in g.get("details", [])]
    return "\n".join(lines)
