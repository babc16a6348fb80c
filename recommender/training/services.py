"""Training runs: start, execute, record. Every run is a ModelVersion row.

A run never touches the active version unless it finishes, auto-promotion is on and its
evaluation passed the gate (it beat the best simple baseline by more than the spread
between seeded splits; see ``ml.evaluation.seeded``); a failed or killed run leaves its row
``failed`` (or ``training``, which a rerun of the task picks up again).
"""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from recommender.artifacts import BLEND_DIR, TRANSFER_DIR, model_version_root
from recommender.jobs.services import JobReporter, ProgressStep, job_create, job_enqueue
from recommender.models import Job, ModelVersion, PromotionEvent, RecommenderSettings

from .datasets import recdata_from_db
from .registry import model_version_promote

logger = logging.getLogger(__name__)



class TrainingConfigError(ValueError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field


class TrainingAlreadyRunning(RuntimeError):
    def __init__(self, job: Job) -> None:
        super().__init__(f"A training run is already in progress (job #{job.pk}); wait for it or cancel it first.")
        self.job = job


def training_config(overrides: dict[str, Any] | None = None):
    """Defaults from the settings page, then the run's overrides, validated by the ML core."""
    from recommender.ml.config import ConfigError, TrainConfig

    values = {**(RecommenderSettings.load().default_hyperparameters or {}), **(overrides or {})}
    try:
        return TrainConfig.from_dict(values)
    except ConfigError as exc:
        raise TrainingConfigError(str(exc), field=exc.field) from exc
    except TypeError as exc:
        raise TrainingConfigError(f"Invalid hyperparameters: {exc}") from exc


def _version_name() -> str:
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    name, n = f"blend-{stamp}", 1
    while ModelVersion.objects.filter(name=name).exists():
        n += 1
        name = f"blend-{stamp}-{n}"
    return name


def training_run_start(*, config: dict[str, Any] | None = None, user=None, scheduled: bool = False,
                       fast: bool = False, send: bool = True) -> ModelVersion:
    """Queue a training run on the training queue. One run at a time.

    ``fast`` skips the ablations, evaluates over 3 seeded splits instead of 10 and shrinks
    the bootstrap (previews and tests); the numbers it records say so. ``send=False`` creates
    the rows without queueing the task (``train --sync`` runs it in the calling process).
    """
    cfg = training_config(config)
    with transaction.atomic():
        running = Job.objects.select_for_update().filter(kind=Job.Kind.TRAIN, status__in=Job.ACTIVE_STATUSES).first()
        if running is not None:
            raise TrainingAlreadyRunning(running)
        job = job_create(kind=Job.Kind.TRAIN, user=user,
                         params={"config": cfg.to_dict(), "scheduled": scheduled, "fast": fast})
        version = ModelVersion.objects.create(name=_version_name(), job=job, config=cfg.to_dict(),
                                              status=ModelVersion.Status.TRAINING)
        if send:
            job_enqueue(job)
    return version


def _artifact_dir(version: ModelVersion) -> Path:
    return model_version_root() / version.name


def training_job_failed(job: Job) -> None:
    """A training run that ends without its trainer saying so (worker lost, cancelled while
    queued) must not leave its model version "training" forever. Registered with the jobs
    module at app start (``RecommenderConfig.ready``)."""
    ModelVersion.objects.filter(job=job, status=ModelVersion.Status.TRAINING).update(
        status=ModelVersion.Status.FAILED, error=(job.error or job.message)[:5000], finished_at=job.finished_at)


def training_job_run(job: Job, reporter: JobReporter) -> dict[str, Any]:
    """Body of the training task: data from the DB -> pipeline -> artifacts -> registry row."""
    from recommender.ml.pipeline import run_pipeline
    from recommender.ml.config import TrainConfig

    version = ModelVersion.objects.get(job=job)
    if version.status == ModelVersion.Status.READY:
        return {"version": version.name, "message": f"{version.name} was already trained"}
    started = time.monotonic()
    version.status, version.error, version.epoch_losses = ModelVersion.Status.TRAINING, "", []
    version.save(update_fields=["status", "error", "epoch_losses"])
    try:
        reporter(0.01, "Loading interactions from the database", log=True)
        data, snapshot = recdata_from_db()
        version.data_snapshot = snapshot
        version.save(update_fields=["data_snapshot"])
        reporter.log(f"{snapshot['events']} events, {snapshot['jewelry_events']} on jewelry, "
                     f"{snapshot['items_with_vectors']} items with multimodal vectors")
        epochs: list[dict] = []

        def on_batch(fraction: float, message: str, steps: list) -> None:
            # Where the work is, after every batch (the reporter writes at most twice a second).
            reporter(0.05 + 0.9 * fraction, message, steps=[ProgressStep(*s) for s in steps])

        def on_epoch(record: dict) -> None:
            metrics = " ".join(f"{k}={v:.4f}" for k, v in record["metrics"].items())
            message = (f"{record['protocol']}: {record['model']} {record['phase']} epoch {record['epoch']} "
                       f"loss {record['loss']:.4f} {metrics}").strip()
            epochs.append({"at": round(time.monotonic() - started, 1), "message": message})
            version.epoch_losses = epochs
            ModelVersion.objects.filter(pk=version.pk).update(epoch_losses=epochs)
            # the batch steps stay as they are: the next epoch continues the same model
            reporter(0.05 + 0.9 * record["fraction"], message, log=True, steps=None)

        def on_progress(fraction: float, message: str) -> None:
            # between models (baselines, evaluation) no epoch or batch is running
            reporter(0.05 + 0.9 * fraction, message, log=fraction == 0, steps=[])

        fast = bool(job.params.get("fast"))
        result = run_pipeline(data, TrainConfig.from_dict(version.config), on_progress, on_batch=on_batch, on_epoch=on_epoch,
                              ablations=not fast, n_resamples=200 if fast else 1000,
                              threads=max(1, settings.JEWELREC_TORCH_THREADS or 2),
                              n_seeds=3 if fast else 10, folds=3 if fast else 5)
        reporter(0.96, "Saving artifacts", log=True)
        reporter.log(result.seeded["gate"]["reason"])
        folder = _artifact_dir(version)
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        result.blend.save(tmp / BLEND_DIR)
        result.model.save(tmp / TRANSFER_DIR)
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
        version.metrics = {**result.metrics, "served_model_note": result.served_model_note,
                           "fast": fast, "timings": result.timings}
        version.epoch_losses = [{"series": key, **row} for key, rows in result.epoch_losses.items() for row in rows]
        version.artifact_dir = str(folder)
        version.status = ModelVersion.Status.READY
        version.finished_at = timezone.now()
        version.duration_seconds = time.monotonic() - started
        version.save()
    except BaseException as exc:  # noqa: BLE001 - the row must say it failed, whatever stopped it
        ModelVersion.objects.filter(pk=version.pk).update(
            status=ModelVersion.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:5000],
            finished_at=timezone.now(), duration_seconds=time.monotonic() - started)
        raise
    promoted = _maybe_auto_promote(version)
    message = f"{version.name} trained in {version.duration_seconds:.0f}s; {gate_verdict(version.metrics)['reason']}"
    if promoted:
        message += " Auto-promoted."
    return {"version": version.name, "message": message, "promoted": promoted}


def gate_verdict(metrics: dict | None) -> dict:
    """The promotion gate's decision recorded with a version, or why there is none."""
    gate = (metrics or {}).get("gate")
    if not isinstance(gate, dict) or "passes" not in gate:
        return {"passes": False, "reason": "This version has no evaluation against the baselines (trained before "
                                           "the promotion gate existed, or its evaluation failed), so it is not "
                                           "promoted automatically.", "details": []}
    return gate


def _maybe_auto_promote(version: ModelVersion) -> bool:
    """Promote only with the setting on and the gate passed; the reason is in the audit note."""
    if not RecommenderSettings.load().auto_promote:
        return False
    gate = gate_verdict(version.metrics)
    if not gate["passes"]:
        return False
    model_version_promote(version, action=PromotionEvent.Action.AUTO_PROMOTE, note=gate["reason"][:255])
    return True


def scheduled_training_start() -> ModelVersion | None:
    """The weekly run: all data up to now with the default hyperparameters; skip if one is running."""
    try:
        return training_run_start(scheduled=True)
    except TrainingAlreadyRunning:
        logger.info("scheduled training skipped: a run is already in progress")
        return None
