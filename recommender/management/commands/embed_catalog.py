"""Embed the catalog from the shell (the same service the dashboard's job runs)."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from recommender.embeddings.services import SCOPES, embed_items, embedding_targets, embeddings_mark_stale


class Command(BaseCommand):
    help = "Compute 512-d multimodal item vectors (idempotent: only missing or changed inputs are encoded)."

    def add_arguments(self, parser):
        parser.add_argument("--scope", choices=SCOPES, default="jewelry")
        parser.add_argument("--force", action="store_true", help="re-encode everything")
        parser.add_argument("--refit-fusion", action="store_true", help="refit the fusion projections")

    def handle(self, *args, scope: str, force: bool, refit_fusion: bool, **options):
        pks = embedding_targets(scope)
        if not pks:
            raise CommandError("No items to embed: import a catalog first (manage.py import_sample).")
        bar = tqdm(total=100, unit="%", bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}")

        def progress(fraction, message="", **_):
            bar.n = round(100 * fraction)
            bar.set_description_str(message[:60])
            bar.refresh()

        summary = embed_items(pks, reporter=progress, force=force, refit_fusion=refit_fusion)
        embeddings_mark_stale()
        bar.close()
        result = summary.as_dict()
        self.stdout.write(self.style.SUCCESS(result["message"]))
        for item_id, reason in list(summary.failed.items())[:20]:
            self.stdout.write(f"  failed {item_id}: {reason}")
