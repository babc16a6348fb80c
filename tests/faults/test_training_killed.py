"""Kill a real worker in the middle of a training run.

What must hold: the active model version and its files are untouched, the lost job is
requeued (or failed once it ran out of attempts), the rerun finishes on a new worker into
the same ModelVersion row, and no half-trained version is ever active.
"""
from __future__ import annotations

import hashlib
import os
import signal
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.utils import timezone

from recommender.catalog.services import tiers_ensure
from recommender.jobs.services import MAX_ATTEMPTS, job_execute, jobs_recover_stale
from recommender.models import Customer, Event, Item, Job, ModelVersion
from recommender.training.registry import model_version_active, model_version_promote
from recommender.training.services import training_job_run, training_run_start
from tests.support.wait import wait_for
from tests.support.worker import running_worker

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Small enough to train in seconds; enough epochs (with patience that never stops early) that
# a kill after the first reported epoch lands in the middle of training.
TINY = {"epochs_pretrain": 1, "epochs_finetune": 2, "embed_dim": 8, "cin_layers": [8], "dnn_layers": [16],
        "negatives": 8, "batch_size": 32, "max_pretrain_examples": 2000, "patience": 1, "min_finetune_examples": 5}
LONG = {**TINY, "epochs_pretrain": 3, "epochs_finetune": 12, "patience": 1000}


def shop_with_history(customers: int = 120) -> None:
    """Garments, shoes, bags and jewelry; two taste groups that buy different jewelry."""
    tiers = tiers_ensure()
    rng = np.random.default_rng(0)
    catalog = [("Trousers", "Garment Lower body", "Blue"), ("Jacket", "Garment Upper body", "Blue"),
               ("Dress", "Garment Full body", "Red"), ("Skirt", "Garment Lower body", "Red"),
               ("Sneakers", "Shoes", "White"), ("Boots", "Shoes", "Black"), ("Bag", "Accessories", "Brown")]
    garments = Item.objects.bulk_create([
        Item(external_id=f"G{i:03d}", title=f"{ptype} {i}", product_type=ptype, product_group=group, colour=colour,
             price=20 + i) for i, (ptype, group, colour) in enumerate(catalog)])
    gold = Item.objects.bulk_create([
        Item(external_id=f"JG{i}", title=f"Gold hoop {i}", product_type="Earring", colour="Gold", is_jewelry=True,
             price=10) for i in range(5)])
    silver = Item.objects.bulk_create([
        Item(external_id=f"JS{i}", title=f"Silver ring {i}", product_type="Ring", colour="Silver", is_jewelry=True,
             price=12) for i in range(5)])
    people = Customer.objects.bulk_create([
        Customer(external_id=f"cust-{c}", tier=tiers["none"]) for c in range(customers)])
    start = timezone.now() - timedelta(days=10)
    events = []
    for c, customer in enumerate(people):
        denim = c % 2 == 0
        for d in range(4):
            item = garments[int(rng.integers(0, 2)) + (0 if denim else 2)] if d < 3 else garments[4 + int(rng.integers(0, 3))]
            events.append(Event(customer=customer, item=item, event_type="purchase",
                                timestamp=start + timedelta(days=d, hours=c % 7)))
        jewel = (gold if denim else silver)[int(rng.integers(0, 5))]
        events.append(Event(customer=customer, item=jewel, event_type="purchase",
                            timestamp=start + timedelta(days=5 + c % 4)))
    Event.objects.bulk_create(events)


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def artifacts(settings, tmp_path):
    settings.JEWELREC_ARTIFACT_DIR = tmp_path / "artifacts"
    yield settings.JEWELREC_ARTIFACT_DIR


@pytest.fixture
def active_version(artifacts):
    """A really trained, promoted version with its files on disk (trained here, not by a worker)."""
    shop_with_history()
    version = training_run_start(config=TINY, fast=True)
    job = job_execute(version.job_id, training_job_run)
    assert job.status == Job.Status.SUCCEEDED, job.error
    version.refresh_from_db()
    model_version_promote(version)
    folder = Path(version.artifact_dir)
    assert (folder / "blend" / "weights.safetensors").exists() and (folder / "transfer" / "weights.safetensors").exists()
    return version, tree_digest(folder)


def start_and_kill_mid_training(attempts: int | None = None) -> ModelVersion:
    """Queue a run, let a real worker train until it reports an epoch, then SIGKILL its process group."""
    with running_worker(queues="training") as worker:
        version = training_run_start(config=LONG, fast=True)
        if attempts is not None:
            Job.objects.filter(pk=version.job_id).update(params={**version.job.params, "attempts": attempts})

        def training_epochs() -> bool:
            job = Job.objects.get(pk=version.job_id)
            losses = ModelVersion.objects.get(pk=version.pk).epoch_losses
            return job.status == Job.Status.RUNNING and job.heartbeat_at is not None and job.progress > 0.05 and bool(losses)

        wait_for(training_epochs, 60, "the worker to report a training epoch", interval=0.05)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    version.refresh_from_db()
    return version


def assert_active_untouched(active: ModelVersion, digest: dict[str, str]) -> None:
    assert model_version_active().pk == active.pk
    assert ModelVersion.objects.filter(is_active=True).count() == 1
    assert tree_digest(Path(active.artifact_dir)) == digest


def test_training_survives_a_killed_worker(active_version, artifacts):
    active, digest = active_version
    version = start_and_kill_mid_training()
    job = Job.objects.get(pk=version.job_id)
    # Killed mid-run: the dead worker could not finish or fail anything.
    assert job.status == Job.Status.RUNNING and 0.05 < job.progress < 0.96
    assert version.status == ModelVersion.Status.TRAINING and not version.is_active
    epochs_before_kill = len(version.epoch_losses)
    assert 1 <= epochs_before_kill < LONG["epochs_pretrain"] + LONG["epochs_finetune"]
    assert not (artifacts / "models" / version.name).exists()  # no half-written model under the real name
    assert_active_untouched(active, digest)

    recovered = jobs_recover_stale(stale_after=0)
    assert [j.pk for j in recovered] == [job.pk]
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED and job.params["attempts"] == 2
    assert_active_untouched(active, digest)

    with running_worker(queues="training"):
        wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, 120, "the requeued training to finish")
    job.refresh_from_db()
    version.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["version"] == version.name
    assert ModelVersion.objects.filter(job=job).count() == 1  # the rerun reused the row
    assert ModelVersion.objects.count() == 2
    assert version.status == ModelVersion.Status.READY and not version.is_active  # auto-promotion is off
    assert (Path(version.artifact_dir) / "blend" / "weights.safetensors").exists()
    assert not (artifacts / "models" / f"{version.name}.tmp").exists()
    assert any("requeued" in line["message"] for line in job.log)
    assert_active_untouched(active, digest)


def test_training_killed_on_its_last_attempt_is_failed_not_left_training(active_version, artifacts):
    active, digest = active_version
    version = start_and_kill_mid_training(attempts=MAX_ATTEMPTS)
    recovered = jobs_recover_stale(stale_after=0)
    assert [j.pk for j in recovered] == [version.job_id]
    job = Job.objects.get(pk=version.job_id)
    version.refresh_from_db()
    assert job.status == Job.Status.FAILED and "stopped" in job.error
    # The version row says so too: the Models page must not show it "training" forever.
    assert version.status == ModelVersion.Status.FAILED and "stopped" in version.error
    assert version.finished_at is not None and not version.is_active
    assert_active_untouched(active, digest)
    # And the slot is free: a new run can start.
    again = training_run_start(config=TINY, fast=True)
    assert again.pk != version.pk and again.job.status == Job.Status.QUEUED
