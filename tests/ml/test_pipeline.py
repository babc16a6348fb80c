"""run_pipeline end to end on toy data: the served blend, the seeded table, the gate, the
transfer model and its report, all consistent with each other."""
import numpy as np
import pytest

from recommender.ml.blend.model import SHAPES, BlendRecommender
from recommender.ml.config import TrainConfig
from recommender.ml.models.xdeepfm import XDeepFMRecommender
from recommender.ml.pipeline import run_pipeline
from tests.ml.models.toydata import toy_data

SMALL = dict(embed_dim=4, cin_layers=[4], dnn_layers=[8], epochs_pretrain=1, epochs_finetune=2, batch_size=32,
             finetune_batch_size=16, negatives=4, max_pretrain_examples=500, min_finetune_examples=5, patience=1)


@pytest.mark.slow
def test_pipeline_serves_a_blend_that_the_gate_describes(tmp_path):
    data = toy_data(n_users=120)
    progress = []
    result = run_pipeline(data, TrainConfig(**SMALL), lambda f, m: progress.append((f, m)), protocols=("cross_sell",),
                          ablations=False, n_resamples=50, threads=1, n_seeds=2, folds=2)
    assert isinstance(result.blend, BlendRecommender) and isinstance(result.model, XDeepFMRecommender)
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0  # progress only moves forward
    seeded, gate = result.metrics["seeded"], result.metrics["gate"]
    assert seeded["seeds"] == [0, 1] and gate == seeded["gate"]
    # a shape the blend did not win serves channel popularity alone; one it won serves the blend
    for shape in SHAPES:
        weights = result.blend.weights[shape]
        if gate["shapes"][shape] == "channel_popularity":
            assert {k for k, v in weights.items() if v} == {"channel_popularity"}
        assert result.blend.tuning[shape]["served"] in ("blend", "channel_popularity (the blend did not beat it)")
    # the seed-0 report has the blend, the transfer model and the baselines side by side
    cross = result.metrics["cross_sell"]
    assert {"blend", "xdeepfm_transfer", "popularity", "channel_popularity"} <= set(cross)
    assert result.metrics["comparison"]["cross_sell"]["model"] in ("blend", "blend_transfer")
    # the served blend saves and loads to the same scores
    result.blend.save(tmp_path / "blend")
    again = BlendRecommender.load(tmp_path / "blend")
    cands = data.items.target_items
    from recommender.ml.data import UserContext

    shopper = UserContext(history=np.array([0, 1]))
    np.testing.assert_allclose(again.score(shopper, cands), result.blend.score(shopper, cands), rtol=1e-6)
    assert "Gate:" in result.summary_text()


@pytest.mark.slow
def test_a_temporal_protocol_without_enough_last_day_buyers_is_skipped_with_its_reason():
    from tests.ml.models.toydata import DAY

    data = toy_data(n_users=120)
    inter = data.interactions
    last_day = inter.timestamp == inter.timestamp.max()
    keep = ~last_day
    keep[np.flatnonzero(last_day)[:2]] = True  # two stray events on the newest day
    data = data.with_interactions(inter.subset(keep))
    assert inter.timestamp.max() == 6 * DAY
    result = run_pipeline(data, TrainConfig(**SMALL), protocols=("cross_sell", "temporal"), ablations=False,
                          n_resamples=20, threads=1, n_seeds=1, folds=2)
    assert "cross_sell" in result.metrics and "temporal" not in result.metrics
    assert result.metrics["protocol_notes"]["temporal"].startswith("not evaluated: temporal protocol needs")
