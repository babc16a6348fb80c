"""Training the jewelry image adapter as a job, and publishing it to visual search: the
Django side (job rows, artefact folder, pointer). The adapter itself, and how it is trained and
evaluated, is ``ml/encoders/image_adapter.py`` and ``ml/encoders/adaptation.py``."""
from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings
from django.db import transaction

from recommender.artifacts import image_adapter_root
from recommender.jobs.services import JobReporter, ProgressStep, job_create, job_enqueue
from recommender.ml.common.artifacts import pointer_read, pointer_write
from recommender.models import Job


def image_adapter_current_info() -> dict | None:
    return pointer_read(image_adapter_root())


def image_adapter_start(*, user=None) -> Job:
    with transaction.atomic():
        running = Job.objects.select_for_update().filter(kind=Job.Kind.ADAPT_IMAGES, status__in=Job.ACTIVE_STATUSES).first()
        if running is not None:
            return running
        job = job_create(kind=Job.Kind.ADAPT_IMAGES, user=user, params={})
        job_enqueue(job)
    return job


def image_adapter_train(say) -> dict:
    """Train on the labelled photos, evaluate on held-out ones, publish atomically."""
    from recommender.ml.encoders.adaptation import run_evaluation

    data_dir = Path(settings.JEWELREC_DATA_DIR)
    if not (data_dir / "jewelry-photos" / "labels.csv").exists():
        raise FileNotFoundError(f"Labelled jewelry photos not found under {data_dir / 'jewelry-photos'}.")
    root = image_adapter_root()
    tmp = root / "incoming"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    def log(message: str) -> None:
        say(say_progress[0], message, log=True)

    say_progress = [0.0]

    def progress(fraction: float, message: str, steps: list) -> None:
        say_progress[0] = fraction
        say(fraction, message, steps=[ProgressStep(*s) for s in steps])

    result = run_evaluation(data_dir, tmp, Path(settings.VAR_DIR) / "feature-cache", log=log, progress=progress)
    result.pop("out_dir", None)  # a temporary server path, renamed below
    folder = root / result["adapter_version"].replace("@", "-")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    pointer_write(root, {"folder": folder.name, "version": result["adapter_version"], "evaluation": result})
    result["message"] = (
        f"Adapter {result['adapter_version']}: visual-search top-1 type accuracy "
        f"{result['visual_search_top1_before']:.1%} raw -> {result['visual_search_top1_after_type_aware']:.1%} adapted"
    )
    return result


def adapter_job_run(job: Job, reporter: JobReporter) -> dict:
    return image_adapter_train(reporter)
