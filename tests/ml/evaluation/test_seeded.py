"""The seeded evaluation's table and the promotion gate's decision."""
import numpy as np
import pytest

from recommender.ml.evaluation.seeded import evaluate_seeded, format_seeded, gate_decision
from tests.ml.models.toydata import toy_data


def _protocol(model: list[float], base: list[float]) -> dict:
    def stats(v):
        return {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)), "values": v}
    d = [m - b for m, b in zip(model, base)]
    return {"models": {"blend": {"ndcg@10": stats(model)}, "channel_popularity": {"ndcg@10": stats(base)}},
            "best_baseline": "channel_popularity", "difference": stats(d),
            "passes": float(np.mean(d)) > float(np.std(d, ddof=1))}


def test_the_gate_passes_a_shape_only_beyond_the_spread_and_serves_the_baseline_elsewhere():
    seeded = {"seeds": [0, 1, 2], "protocols": {
        "intent": _protocol([0.12, 0.13, 0.125], [0.10, 0.11, 0.105]),  # +0.02 every time
        "cross_sell": _protocol([0.10, 0.12, 0.09], [0.10, 0.10, 0.10]),  # +0.003 ± 0.015: noise
    }}
    gate = gate_decision(seeded)
    assert gate["passes"] is True
    assert gate["shapes"] == {"intent": "blend", "cross_sell": "channel_popularity"}
    assert "beats the best simple baseline on intent" in gate["reason"]
    assert "never worse than the baseline" in gate["reason"]
    assert any("cross-sell" in line and "does not beat" in line and "serves channel popularity" in line
               for line in gate["details"])


def test_the_gate_holds_when_nothing_beats_the_baseline_or_a_protocol_is_missing():
    noise = _protocol([0.10, 0.12, 0.09], [0.10, 0.10, 0.10])
    held = gate_decision({"seeds": [0, 1, 2], "protocols": {"intent": noise, "cross_sell": noise}})
    assert held["passes"] is False and "not promoted automatically" in held["reason"]
    missing = gate_decision({"seeds": [0], "protocols": {"intent": noise}})
    assert missing["passes"] is False and "cross-sell" in missing["reason"]


def test_evaluate_seeded_reports_every_model_over_every_seed():
    data = toy_data(n_users=120)
    seeded = evaluate_seeded(data, seeds=(0, 1), folds=2)
    assert seeded["seeds"] == [0, 1]
    for protocol in ("intent", "cross_sell"):
        table = seeded["protocols"][protocol]
        assert set(table["models"]) == {"popularity", "recency_popularity", "channel_popularity", "co_purchase", "blend"}
        for model in table["models"].values():
            assert len(model["ndcg@10"]["values"]) == 2
        assert table["best_baseline"] in ("popularity", "recency_popularity", "channel_popularity", "co_purchase")
        assert set(table["by_channel"]) == {"online", "store"}
    text = format_seeded(seeded)
    assert "== intent ==" in text and "== cross_sell ==" in text and "Gate:" in text
    # toy data: the menswear/dress signal is perfectly learnable, the blend must find it
    assert seeded["protocols"]["cross_sell"]["models"]["blend"]["ndcg@10"]["mean"] >= \
        seeded["protocols"]["cross_sell"]["models"]["popularity"]["ndcg@10"]["mean"]


def test_a_protocol_that_cannot_be_evaluated_holds_the_version_and_says_why():
    data = toy_data(n_users=120)
    # nobody bought a garment: the cross-sell protocol has no customers to hold out
    inter = data.interactions
    only_jewelry = data.with_interactions(inter.subset(data.items.is_target[inter.item_idx]))
    seeded = evaluate_seeded(only_jewelry, seeds=(0,), folds=2)
    assert "cross_sell" in seeded["errors"] and "cross_sell" not in seeded["protocols"]
    gate = seeded["gate"]
    assert gate["passes"] is False
    assert "could not compare this version with the baselines on cross-sell" in gate["reason"]
    assert "not evaluated" in format_seeded(seeded)
