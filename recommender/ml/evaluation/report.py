"""EvaluationReport: every number named by its protocol, candidate set and K."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .metrics import bootstrap_difference
from .protocols import ProtocolResult


def _clean(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


@dataclass
class EvaluationReport:
    results: dict[str, dict[str, dict[str, float | None]]] = field(default_factory=dict)
    comparison: dict[str, dict[str, Any]] = field(default_factory=dict)
    protocol_notes: dict[str, str] = field(default_factory=dict)
    # protocol -> "a vs b" -> bootstrap of a named pair (the ablations: transfer vs jewelry-only)
    ablations: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def add(self, res: ProtocolResult, model: str, baselines: Sequence[str], n_resamples: int = 1000, seed: int = 0) -> None:
        """Store a protocol's metrics and compare ``model`` with the best of ``baselines`` on NDCG@k."""
        self.results[res.protocol] = res.metrics
        self.protocol_notes[res.protocol] = res.notes
        key = f"ndcg@{res.k}"
        present = [b for b in baselines if b in res.metrics]
        if model not in res.metrics or not present:
            return
        best = max(present, key=lambda b: res.metrics[b][key] or 0.0)
        boot = bootstrap_difference(res.per_user_ndcg[model], res.per_user_ndcg[best], n_resamples=n_resamples, seed=seed)
        self.comparison[res.protocol] = {
            "metric": key,
            "model": model,
            "best_baseline": best,
            "bootstrap": "paired, over test customers",
            **boot,
        }

    def add_comparison(self, res: ProtocolResult, a: str, b: str, n_resamples: int = 1000, seed: int = 0) -> None:
        """A paired comparison of two of the protocol's models on NDCG@k (an ablation)."""
        if a not in res.per_user_ndcg or b not in res.per_user_ndcg:
            return
        boot = bootstrap_difference(res.per_user_ndcg[a], res.per_user_ndcg[b], n_resamples=n_resamples, seed=seed)
        self.ablations.setdefault(res.protocol, {})[f"{a} vs {b}"] = {"metric": f"ndcg@{res.k}", **boot}

    def to_dict(self) -> dict[str, Any]:
        return _clean({**self.results, "comparison": self.comparison, "protocol_notes": self.protocol_notes,
                       "ablations": self.ablations})

    def to_text(self, metrics: Sequence[str] = ("ndcg@10", "recall@10", "hit_rate@10", "recall@20", "coverage@10", "cold_recall@20")) -> str:
        lines: list[str] = []
        for protocol, models in self.results.items():
            lines.append(f"== {protocol} ==")
            lines.append(self.protocol_notes.get(protocol, ""))
            header = f"{'model':34s}" + "".join(f"{m:>15s}" for m in metrics)
            lines.append(header)
            lines.append("-" * len(header))
            for name, vals in models.items():
                cells = []
                for m in metrics:
                    v = vals.get(m)
                    cells.append(f"{'n/a':>15s}" if v is None else f"{v:15.4f}")
                lines.append(f"{name:34s}" + "".join(cells))
            c = self.comparison.get(protocol)
            if c:
                lines.append(
                    f"{c['model']} vs best baseline {c['best_baseline']} on {c['metric']}: "
                    f"{c['mean_a']:.4f} vs {c['mean_b']:.4f}, difference {c['difference']:+.4f} "
                    f"[95% CI {c['difference_ci_low']:+.4f}, {c['difference_ci_high']:+.4f}], "
                    f"relative {c['relative_improvement']:+.1%} [{c['relative_ci_low']:+.1%}, {c['relative_ci_high']:+.1%}] "
                    f"({c['n_resamples']} paired bootstrap resamples over {c['n_users']} test customers)"
                )
            for pair, a in self.ablations.get(protocol, {}).items():
                lines.append(f"{pair} on {a['metric']}: {a['mean_a']:.4f} vs {a['mean_b']:.4f}, difference "
                             f"{a['difference']:+.4f} [95% CI {a['difference_ci_low']:+.4f}, {a['difference_ci_high']:+.4f}]")
            lines.append("")
        return "\n".join(lines)

    def to_markdown(self, metrics: Sequence[str] = ("ndcg@10", "recall@10", "hit_rate@10", "recall@20", "coverage@10", "cold_recall@20")) -> str:
        out: list[str] = []
        for protocol, models in self.results.items():
            out.append(f"**{protocol}** — {self.protocol_notes.get(protocol, '')}\n")
            out.append("| model | " + " | ".join(metrics) + " |")
            out.append("|---|" + "---:|" * len(metrics))
            for name, vals in models.items():
                out.append(f"| {name} | " + " | ".join("n/a" if vals.get(m) is None else f"{vals[m]:.4f}" for m in metrics) + " |")
            c = self.comparison.get(protocol)
            if c:
                out.append(
                    f"\n{c['model']} vs best baseline `{c['best_baseline']}` ({c['metric']}): difference {c['difference']:+.4f} "
                    f"(95% CI {c['difference_ci_low']:+.4f} .. {c['difference_ci_high']:+.4f}), relative "
                    f"{c['relative_improvement']:+.1%} (95% CI {c['relative_ci_low']:+.1%} .. {c['relative_ci_high']:+.1%}), "
                    f"{c['n_resamples']} paired bootstrap resamples over {c['n_users']} test customers."
                )
            out.append("")
        return "\n".join(out)
