"""First-run set-up for the demo: vectors, default schedule, the heuristic blend, and the
first model and adapter.

Idempotent: embedding only encodes what is missing, and jobs are queued only when their
result does not exist yet (and no such job is already queued or running).
"""
from __future__ import annotations

from django.core.management.base import BaseCommand

from recommender.embeddings.adapter_jobs import image_adapter_current_info, image_adapter_start
from recommender.embeddings.services import embed_items, embedding_targets
from recommender.models import Item, Job, ModelVersion
from recommender.training.datasets import DatasetTooSmall
from recommender.training.heuristic import heuristic_blend_current, heuristic_blend_refresh
from recommender.training.schedule import ensure_default_schedule
from recommender.training.services import TrainingAlreadyRunning, training_run_start


class Command(BaseCommand):
    help = "Embed the jewelry catalog, set the weekly retraining schedule, queue the first training and adapter jobs."

    def handle(self, *args, **options):
        ensure_default_schedule()
        if not Item.objects.exists():
            self.stdout.write("The catalog is empty: run import_sample first.")
            return
        self.stdout.write("Embedding the jewelry catalog (only what is missing or changed)...")

        def say(fraction, message="", **_):
            if message and _.get("log"):
                self.stdout.write(f"  {message}")

        summary = embed_items(embedding_targets("jewelry"), reporter=say).as_dict()
        self.stdout.write(f"  {summary['message']}")
        if image_adapter_current_info() is None:
            job = image_adapter_start()
            self.stdout.write(f"Queued image adaptation (job #{job.pk}); visual search improves when it finishes.")
        if heuristic_blend_current() is None:
            try:
                info = heuristic_blend_refresh()
                self.stdout.write(f"Built {info['name']} from {info['events']} events: it serves personalised "
                                  "lists until a trained version is promoted.")
            except DatasetTooSmall as exc:
                self.stdout.write(f"No heuristic blend yet ({exc}); popularity serves until there are events.")
        if not ModelVersion.objects.filter(status__in=[ModelVersion.Status.READY, ModelVersion.Status.TRAINING]).exists():
            try:
                version = training_run_start()
                self.stdout.write(f"Queued the first training run {version.name} (job #{version.job_id}); its "
                                  "model page will say whether it beats the baselines (promote it there).")
            except TrainingAlreadyRunning:
                pass
        pending = Job.objects.filter(status__in=Job.ACTIVE_STATUSES).count()
        self.stdout.write(self.style.SUCCESS(f"Ready. {pending} job(s) queued or running; watch them on the Jobs page."))
