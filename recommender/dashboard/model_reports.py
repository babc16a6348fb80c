"""Read ``ModelVersion.metrics`` (an ``EvaluationReport.to_dict()``) into tables for the Models pages.

Plain data in, plain data out: no database, so the shapes are tested with hand-made dicts.
Every number keeps its protocol, model and metric name next to it, so no page can show
an NDCG without saying which split and candidate set it came from.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

TRANSFER = "xdeepfm_transfer"
SERVED = ("blend_transfer", "blend")
BASELINES = ("popularity", "recency_popularity", "channel_popularity", "co_purchase", "item_knn", "als", "content")
HEADLINE_PROTOCOL = "cross_sell"
# Keys of the metrics dict that are not protocols.
NON_PROTOCOL_KEYS = {"comparison", "protocol_notes", "served_model_note", "fast", "timings", "ablations", "seeded",
                     "gate", "blend_weights"}
# What each number means, in the merchandiser's words (shown beside the tables).
METRIC_HELP = {
    "ndcg@10": "How high the items a customer really bought sit in the top 10 (1 = always first, 0 = never in "
               "the top 10). The main quality number.",
    "recall@10": "Share of the items customers really bought that appear in their top 10.",
    "hit_rate@10": "Share of customers with at least one item they really bought in their top 10.",
    "coverage@10": "Share of the jewelry catalog that appears in at least one customer's top 10: low means "
                   "everyone sees the same few items.",
    "cold_recall@20": "Recall@20 on items nobody bought in the training data: can new items be found at all.",
}
PROTOCOL_HELP = {
    "intent": "One jewel each customer bought is hidden; everything else they bought is the input (like a "
              "homepage that knows the session).",
    "cross_sell": "Customers' garment/shoe/accessory baskets are the input; the jewelry they bought is hidden "
                  "(like a cart page).",
    "temporal": "Trained on the earlier days, tested on the last day's jewelry purchases.",
}
METRIC_ORDER = ("ndcg@10", "recall@10", "hit_rate@10", "ndcg@20", "recall@20", "hit_rate@20",
                "coverage@10", "coverage@20", "cold_recall@10", "cold_recall@20", "n_test_users")
METRIC_LABELS = {"ndcg": "NDCG", "recall": "Recall", "hit_rate": "HitRate", "coverage": "Coverage",
                 "cold_recall": "Cold recall", "n_test_users": "Test customers"}
MODEL_KIND_ORDER = {"served": 0, "transfer": 1, "ablation": 2, "baseline": 3, "other": 4}


def metric_label(metric: str) -> str:
    name, _, k = metric.partition("@")
    label = METRIC_LABELS.get(name, name.replace("_", " "))
    return f"{label}@{k}" if k else label


def model_kind(model: str) -> str:
    if model in SERVED:
        return "served"
    if model == TRANSFER:
        return "transfer"
    if model.startswith("xdeepfm"):
        return "ablation"
    if model in BASELINES:
        return "baseline"
    return "other"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(float(value)) else None


def protocol_models(metrics: dict, protocol: str) -> dict[str, dict[str, Any]]:
    """``{model: {metric: value}}`` of one protocol; also reads the older ``{"models": {...}}`` shape."""
    block = (metrics or {}).get(protocol)
    if not isinstance(block, dict):
        return {}
    if isinstance(block.get("models"), dict):
        block = block["models"]
    return {m: v for m, v in block.items() if isinstance(v, dict)}


def protocols(metrics: dict) -> list[str]:
    found = [k for k, v in (metrics or {}).items() if k not in NON_PROTOCOL_KEYS and isinstance(v, dict)]
    # cross_sell first: it is the headline and the promotion protocol.
    return sorted(found, key=lambda p: (p != HEADLINE_PROTOCOL, p))


def best_baseline(metrics: dict, protocol: str, metric: str = "ndcg@10") -> str | None:
    comparison = (metrics or {}).get("comparison", {}).get(protocol) or {}
    if comparison.get("best_baseline"):
        return comparison["best_baseline"]
    models = protocol_models(metrics, protocol)
    present = [(b, _number(models[b].get(metric))) for b in BASELINES if b in models]
    present = [(b, v) for b, v in present if v is not None]
    return max(present, key=lambda bv: bv[1])[0] if present else None


@dataclass
class Headline:
    protocol: str
    transfer_ndcg: float | None = None
    transfer_recall: float | None = None
    baseline: str | None = None
    baseline_ndcg: float | None = None
    baseline_recall: float | None = None

    @property
    def beats_baseline(self) -> bool | None:
        if self.transfer_ndcg is None or self.baseline_ndcg is None:
            return None
        return self.transfer_ndcg > self.baseline_ndcg


def headline(metrics: dict, protocol: str = HEADLINE_PROTOCOL) -> Headline:
    """The served model (the blend; the transfer model for versions older than the blend)
    against the best baseline on one protocol's seed-0 split."""
    models = protocol_models(metrics, protocol)
    out = Headline(protocol=protocol)
    served = next((m for m in (*SERVED, TRANSFER) if m in models), None)
    if served:
        out.transfer_ndcg = _number(models[served].get("ndcg@10"))
        out.transfer_recall = _number(models[served].get("recall@10"))
    out.baseline = best_baseline(metrics, protocol)
    if out.baseline and out.baseline in models:
        out.baseline_ndcg = _number(models[out.baseline].get("ndcg@10"))
        out.baseline_recall = _number(models[out.baseline].get("recall@10"))
    return out


@dataclass
class MetricTable:
    protocol: str
    note: str
    columns: list[str]
    rows: list[dict[str, Any]]  # {"model", "kind", "cells": [{"metric", "value", "best"}]}
    comparison: str = ""
    comparison_data: dict[str, Any] = field(default_factory=dict)

    @property
    def column_labels(self) -> list[tuple[str, str]]:
        return [(c, metric_label(c)) for c in self.columns]


def _columns(models: dict[str, dict[str, Any]]) -> list[str]:
    seen = {m for values in models.values() for m in values}
    ordered = [m for m in METRIC_ORDER if m in seen]
    return ordered + sorted(seen - set(ordered))


def comparison_text(c: dict[str, Any], protocol: str) -> str:
    """The bootstrap comparison as one sentence, as in ``EvaluationReport.to_text``."""
    try:
        text = (f"{protocol}: {c['model']} vs best baseline {c['best_baseline']} on {c['metric']}: "
                f"{c['mean_a']:.4f} vs {c['mean_b']:.4f}, difference {c['difference']:+.4f} "
                f"[95% CI {c['difference_ci_low']:+.4f}, {c['difference_ci_high']:+.4f}]")
    except (KeyError, TypeError, ValueError):
        return ""
    rel, lo, hi = (_number(c.get(k)) for k in ("relative_improvement", "relative_ci_low", "relative_ci_high"))
    if rel is not None and lo is not None and hi is not None:
        text += f", relative {rel:+.1%} [{lo:+.1%}, {hi:+.1%}]"
    if c.get("n_resamples") and c.get("n_users"):
        text += f" ({c['n_resamples']} paired bootstrap resamples over {c['n_users']} test customers)"
    return text


def metric_tables(metrics: dict) -> list[MetricTable]:
    tables = []
    notes = (metrics or {}).get("protocol_notes") or {}
    for protocol in protocols(metrics):
        models = protocol_models(metrics, protocol)
        if not models:
            continue
        columns = _columns(models)
        best = {}
        for col in columns:
            if col == "n_test_users":
                continue
            values = [_number(v.get(col)) for v in models.values()]
            values = [v for v in values if v is not None]
            # A column where every model ties has no winner worth highlighting.
            if values and max(values) > min(values):
                best[col] = max(values)
        ordered = sorted(models, key=lambda m: (MODEL_KIND_ORDER[model_kind(m)], m))
        rows = []
        for model in ordered:
            cells = []
            for col in columns:
                value = models[model].get(col)
                number = _number(value)
                cells.append({"metric": col, "value": number, "raw": value,
                              "best": number is not None and col in best and number == best[col] and len(models) > 1})
            rows.append({"model": model, "kind": model_kind(model), "cells": cells})
        comparison = ((metrics or {}).get("comparison") or {}).get(protocol) or {}
        tables.append(MetricTable(protocol, notes.get(protocol, ""), columns, rows,
                                  comparison_text(comparison, protocol), comparison))
    return tables


def metric_deltas(a: dict, b: dict) -> list[dict[str, Any]]:
    """Per protocol, per model present in either version: A, B and B - A for each metric."""
    out = []
    for protocol in sorted(set(protocols(a)) | set(protocols(b)), key=lambda p: (p != HEADLINE_PROTOCOL, p)):
        ma, mb = protocol_models(a, protocol), protocol_models(b, protocol)
        models = sorted(set(ma) | set(mb), key=lambda m: (MODEL_KIND_ORDER[model_kind(m)], m))
        columns = _columns({**ma, **mb})
        rows = []
        for model in models:
            cells = []
            for col in columns:
                va, vb = _number(ma.get(model, {}).get(col)), _number(mb.get(model, {}).get(col))
                delta = vb - va if va is not None and vb is not None else None
                cells.append({"metric": col, "a": va, "b": vb, "delta": delta,
                              "direction": "" if not delta else ("up" if delta > 0 else "down")})
            rows.append({"model": model, "kind": model_kind(model), "cells": cells})
        out.append({"protocol": protocol, "columns": [(c, metric_label(c)) for c in columns], "rows": rows})
    return out


def config_diff(a: dict, b: dict) -> list[dict[str, Any]]:
    keys = sorted(set(a or {}) | set(b or {}))
    return [{"key": k, "a": (a or {}).get(k), "b": (b or {}).get(k), "changed": (a or {}).get(k) != (b or {}).get(k)}
            for k in keys]


def loss_series(epoch_losses: list[dict]) -> dict[str, list[tuple[int, float]]]:
    """``{"<protocol>/<model> <phase>": [(epoch, loss), ...]}`` from finished-run rows.

    The "best" marker rows (early stopping's restored epoch) carry no loss and are skipped;
    the in-progress rows ``{"at", "message"}`` have no series and are skipped too.
    """
    series: dict[str, list[tuple[int, float]]] = {}
    for row in epoch_losses or []:
        if not isinstance(row, dict) or "series" not in row:
            continue
        epoch, loss = row.get("epoch"), _number(row.get("loss"))
        if isinstance(epoch, bool) or not isinstance(epoch, int) or loss is None:
            continue
        key = f"{row['series']} {row.get('phase', '')}".strip()
        series.setdefault(key, []).append((epoch, loss))
    return {k: sorted(v) for k, v in series.items()}


def progress_lines(epoch_losses: list[dict]) -> list[str]:
    """During a run the rows are ``{"at", "message"}``: the live epoch log."""
    return [f"{row.get('at', '')}s  {row['message']}" for row in epoch_losses or []
            if isinstance(row, dict) and "message" in row and "series" not in row]


@dataclass
class Verdict:
    """The promotion gate's decision in plain words, and the seeded table behind it."""

    known: bool  # False for versions trained before the gate existed
    passes: bool
    reason: str
    details: list[str]
    protocols: list[dict[str, Any]]  # {"protocol", "help", "best_baseline", "passes", "rows": [...]}
    seeds: int = 0

    def protocol(self, name: str) -> dict[str, Any] | None:
        return next((p for p in self.protocols if p["protocol"] == name), None)


def verdict(metrics: dict | None) -> Verdict:
    gate = (metrics or {}).get("gate")
    seeded = (metrics or {}).get("seeded") or {}
    if not isinstance(gate, dict) or "passes" not in gate:
        return Verdict(False, False, "This version was not compared with the baselines over seeded splits (it was "
                                     "trained before the promotion gate existed), so nothing says it beats them.",
                       [], [])
    protocols_out = []
    for name, block in (seeded.get("protocols") or {}).items():
        rows = []
        for model, values in (block.get("models") or {}).items():
            ndcg = values.get("ndcg@10") or {}
            rows.append({"model": model, "kind": "served" if model == "blend" else "baseline",
                         "mean": _number(ndcg.get("mean")), "std": _number(ndcg.get("std")),
                         "recall": _number((values.get("recall@10") or {}).get("mean")),
                         "coverage": _number((values.get("coverage@10") or {}).get("mean")),
                         "best_baseline": model == block.get("best_baseline")})
        rows.sort(key=lambda r: (r["kind"] != "served", -(r["mean"] or 0.0)))
        diff = block.get("difference") or {}
        protocols_out.append({"protocol": name, "help": PROTOCOL_HELP.get(name, ""), "passes": bool(block.get("passes")),
                              "best_baseline": block.get("best_baseline"), "rows": rows,
                              "difference": _number(diff.get("mean")), "spread": _number(diff.get("std")),
                              "relative": _number(block.get("relative"))})
    return Verdict(True, bool(gate["passes"]), str(gate.get("reason", "")), list(gate.get("details") or []),
                   protocols_out, len(seeded.get("seeds") or []))
