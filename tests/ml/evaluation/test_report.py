import json

import numpy as np

from recommender.ml.evaluation.protocols import ProtocolResult
from recommender.ml.evaluation.report import EvaluationReport


def test_report_is_json_serialisable_and_names_protocols():
    res = ProtocolResult("cross_sell", "notes here", k=10)
    res.metrics = {"xdeepfm_transfer": {"ndcg@10": 0.3, "cold_recall@10": None}, "popularity": {"ndcg@10": 0.2, "cold_recall@10": None},
                   "item_knn": {"ndcg@10": 0.1, "cold_recall@10": None}}
    res.per_user_ndcg = {"xdeepfm_transfer": np.array([0.5, 0.1, 0.3]), "popularity": np.array([0.2, 0.2, 0.2]),
                         "item_knn": np.array([0.1, 0.1, 0.1])}
    rep = EvaluationReport()
    rep.add(res, "xdeepfm_transfer", ["popularity", "item_knn"], n_resamples=100)
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["cross_sell"]["popularity"]["ndcg@10"] == 0.2
    assert d["comparison"]["cross_sell"]["best_baseline"] == "popularity"
    assert abs(d["comparison"]["cross_sell"]["relative_improvement"] - 0.5) < 1e-9
    assert d["protocol_notes"]["cross_sell"] == "notes here"
    text = rep.to_text()
    assert "== cross_sell ==" in text and "n/a" in text
