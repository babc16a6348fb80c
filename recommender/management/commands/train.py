"""Train a model version from the shell: queued for the worker, or here with --sync."""
from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from recommender.jobs.services import job_execute
from recommender.models import Job
from recommender.training.services import (
    TrainingAlreadyRunning,
    TrainingConfigError,
    training_job_run,
    training_run_start,
)


class Command(BaseCommand):
    help = "Pretrain on other categories, fine-tune on jewelry, evaluate against baselines, register a version."

    def add_arguments(self, parser):
        parser.add_argument("--config", default="{}", help='hyperparameter overrides as JSON, e.g. \'{"lr": 0.001}\'')
        parser.add_argument("--fast", action="store_true", help="skip ablations, smaller bootstrap")
        parser.add_argument("--sync", action="store_true", help="run here instead of on the training queue")

    def handle(self, *args, config: str, fast: bool, sync: bool, **options):
        try:
            overrides = json.loads(config)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--config is not valid JSON: {exc}") from exc
        try:
            version = training_run_start(config=overrides, fast=fast, send=not sync)
        except (TrainingConfigError, TrainingAlreadyRunning) as exc:
            raise CommandError(str(exc)) from exc
        if not sync:
            self.stdout.write(f"Queued {version.name} (job #{version.job_id}) on the training queue.")
            return

        def say(fraction, message="", **kw):
            if message and kw.get("log"):
                self.stdout.write(f"[{fraction:4.0%}] {message}")

        job = job_execute(version.job_id, lambda j, _r: training_job_run(j, _Reporter(say)))
        if job.status != Job.Status.SUCCEEDED:
            raise CommandError(f"Training failed: {job.error.splitlines()[0] if job.error else job.status}")
        self.stdout.write(self.style.SUCCESS(job.message))


class _Reporter:
    """Progress to the terminal with the JobReporter call signature."""

    def __init__(self, say) -> None:
        self.say = say
        self.progress = 0.0

    def __call__(self, progress, message="", *, log=False, force=False, steps=None):
        self.progress = progress
        if steps and not log:
            return  # a batch: the job page shows these; a terminal would scroll with them
        self.say(progress, message, log=log)

    def log(self, message):
        self.say(self.progress, message, log=True)
