"""A real (small) training run from database rows to a served model version."""
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from recommender.catalog.services import tiers_ensure
from recommender.jobs.services import job_execute
from recommender.models import Customer, Event, Item, Job, ModelVersion
from recommender.serving import scenarios
from recommender.serving.catalog import serving_catalog_invalidate
from recommender.serving.model_store import model_store_reset
from recommender.training.datasets import DatasetTooSmall, recdata_from_db
from recommender.training.registry import model_version_promote
from recommender.training.services import (
    TrainingAlreadyRunning,
    TrainingConfigError,
    training_job_run,
    training_run_start,
)

SMALL = {"epochs_pretrain": 1, "epochs_finetune": 2, "embed_dim": 8, "cin_layers": [8], "dnn_layers": [16],
         "negatives": 8, "batch_size": 32, "max_pretrain_examples": 2000, "patience": 1, "min_finetune_examples": 5}


@pytest.fixture
def behaviour(db):
    """Two taste groups: denim buyers buy gold, dress buyers buy silver."""
    tiers = tiers_ensure()
    rng = np.random.default_rng(0)
    garments = [Item.objects.create(external_id=f"G{i:03d}", title=f"Garment {i}", product_type=t,
                                    product_group="Garment", colour=c, price=20)
                for i, (t, c) in enumerate([("Trousers", "Blue"), ("Jacket", "Blue"), ("Dress", "Red"),
                                            ("Skirt", "Red"), ("Sweater", "Grey"), ("Shoes", "Black")])]
    gold = [Item.objects.create(external_id=f"JG{i}", title=f"Gold hoop {i}", product_type="Earring", colour="Gold",
                                is_jewelry=True, price=10) for i in range(4)]
    silver = [Item.objects.create(external_id=f"JS{i}", title=f"Silver ring {i}", product_type="Ring",
                                  colour="Silver", is_jewelry=True, price=12) for i in range(4)]
    start = timezone.now() - timedelta(days=7)
    for c in range(80):
        denim = c % 2 == 0
        customer = Customer.objects.create(external_id=f"cust-{c}", tier=tiers["none"])
        for d in range(3):
            g = garments[int(rng.integers(0, 2)) if denim else 2 + int(rng.integers(0, 2))]
            Event.objects.create(customer=customer, item=g, event_type="purchase",
                                 timestamp=start + timedelta(days=d, hours=c % 7))
        j = (gold if denim else silver)[int(rng.integers(0, 4))]
        Event.objects.create(customer=customer, item=j, event_type="purchase", timestamp=start + timedelta(days=3 + c % 4))
    serving_catalog_invalidate()
    model_store_reset()
    yield
    serving_catalog_invalidate()
    model_store_reset()


@pytest.mark.slow
@pytest.mark.django_db
def test_training_run_trains_registers_and_serves(behaviour, settings, tmp_path):
    settings.JEWELREC_ARTIFACT_DIR = tmp_path
    version = training_run_start(config=SMALL, fast=True)
    assert version.status == "training" and version.job.status == "queued"
    with pytest.raises(TrainingAlreadyRunning):
        training_run_start(config=SMALL)
    job = job_execute(version.job_id, training_job_run)
    version.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert version.status == ModelVersion.Status.READY
    assert version.is_active is False  # never promoted behind the merchandiser's back
    cross = version.metrics["cross_sell"]
    assert "xdeepfm_transfer" in str(cross) and "popularity" in str(cross)
    assert version.epoch_losses and version.data_snapshot["jewelry_events"] == 80
    folder = tmp_path / "models" / version.name
    assert (folder / "blend" / "weights.safetensors").exists() and (folder / "transfer" / "weights.safetensors").exists()
    assert not list(folder.rglob("*.pkl"))
    # the seeded evaluation and the gate's decision, in plain words, belong to the version
    seeded = version.metrics["seeded"]
    assert seeded["seeds"] == [0, 1, 2] and set(seeded["protocols"]) == {"intent", "cross_sell"}
    for protocol in seeded["protocols"].values():
        assert {"popularity", "channel_popularity", "blend"} <= set(protocol["models"])
        assert len(protocol["models"]["blend"]["ndcg@10"]["values"]) == 3
    gate = version.metrics["gate"]
    assert isinstance(gate["passes"], bool) and gate["reason"].startswith("It ")
    assert set(gate["shapes"].values()) <= {"blend", "channel_popularity"}

    model_version_promote(version)
    model_store_reset()
    result = scenarios.recommend_home(scenarios.Request(customer_id="cust-0", k=4))
    assert result.model_version == version.name and result.personalised
    # A jewelry item created after training is scored from its attributes alone.
    Item.objects.create(external_id="JG-new", title="Gold hoop new", product_type="Earring", colour="Gold",
                        is_jewelry=True, price=10)
    serving_catalog_invalidate()
    result = scenarios.recommend_home(scenarios.Request(customer_id="cust-0", k=9))
    assert "JG-new" in [i.id for i in result.items]
    assert all(np.isfinite(i.score) for i in result.items)



@pytest.mark.django_db
def test_bad_hyperparameters_are_refused_before_anything_runs(behaviour):
    with pytest.raises(TrainingConfigError) as exc:
        training_run_start(config={"lr": 5})
    assert exc.value.field == "lr"
    with pytest.raises(TrainingConfigError):
        training_run_start(config={"learning_rate": 0.1})
    assert not ModelVersion.objects.exists() and not Job.objects.exists()


@pytest.mark.django_db
def test_too_small_dataset_is_a_clear_error(db):
    tiers_ensure()
    with pytest.raises(DatasetTooSmall, match="jewelry interactions"):
        recdata_from_db()


@pytest.mark.django_db
def test_failed_run_is_recorded_and_leaves_active_version(behaviour, settings, tmp_path):
    settings.JEWELREC_ARTIFACT_DIR = tmp_path
    active = ModelVersion.objects.create(name="old", status="ready")
    model_version_promote(active)
    Event.objects.filter(item__is_jewelry=True).delete()  # nothing to fine-tune on
    version = training_run_start(config=SMALL)
    with pytest.raises(DatasetTooSmall):
        job_execute(version.job_id, training_job_run)
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.FAILED and "DatasetTooSmall" in version.error
    assert Job.objects.get(pk=version.job_id).status == Job.Status.FAILED
    assert ModelVersion.objects.get(is_active=True).name == "old"


@pytest.mark.slow
@pytest.mark.django_db
def test_evaluate_prints_the_seeded_protocol_table_and_the_gate(behaviour):
    import io
    import json

    from django.core.management import call_command

    out = io.StringIO()
    call_command("evaluate", "--config", json.dumps(SMALL), "--seeds", "2", "--folds", "2", "--no-ablations",
                 "--protocol", "cross_sell", stdout=out)
    text = out.getvalue()
    assert "Seeded evaluation: 2 customer splits" in text
    assert "== intent ==" in text and "== cross_sell ==" in text
    for model in ("popularity", "channel_popularity", "co_purchase", "blend"):
        assert f"\n{model} " in text
    assert "(best baseline)" in text and "\nGate: " in text
    assert not ModelVersion.objects.exists()  # evaluation registers nothing


@pytest.mark.slow
@pytest.mark.django_db
def test_training_progress_moves_per_batch_never_back_and_says_where_it_is(behaviour, settings, tmp_path, monkeypatch):
    from recommender.jobs import services as jobs

    settings.JEWELREC_ARTIFACT_DIR = tmp_path
    version = training_run_start(config=SMALL, fast=True)
    written: list[tuple[float, list]] = []
    real_call = jobs.JobReporter.__call__

    def spy(self, progress, message="", **kwargs):
        real_call(self, progress, message, **kwargs)
        written.append((self.job.progress, list(self.job.steps)))

    monkeypatch.setattr(jobs.JobReporter, "__call__", spy)
    job = job_execute(version.job_id, training_job_run)
    assert job.status == Job.Status.SUCCEEDED, job.error
    batches = [(p, steps) for p, steps in written if steps and steps[-1]["unit"] == "batch"]
    # The two protocols train 2 transfer models (fast: no ablations), 3 epochs each (1 + 2).
    assert {s[0]["unit"] for _, s in batches} == {"step"} and {s[1]["unit"] for _, s in batches} == {"epoch"}
    assert len({p for p, _ in batches}) > 10  # it moves inside a model, not once per model
    fractions = [p for p, _ in written]
    assert all(b >= a - 1e-9 for a, b in zip(fractions, fractions[1:])), "progress went back"
    assert max(p for p, _ in batches) <= 0.95 + 1e-9  # saving and registering come after the last batch
    job.refresh_from_db()
    assert job.eta_seconds is None and job.progress == 1.0
