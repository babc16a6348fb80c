"""Import the H&M sample: ``python manage.py import_sample [--data-dir D] [--limit-articles N]``."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from recommender.catalog.importing.hm_sample import import_hm_sample


class Command(BaseCommand):
    help = "Import the H&M sample (articles, purchases, photos). Safe to run again: it only adds what is missing."

    def add_arguments(self, parser):
        parser.add_argument("--data-dir", default=None, help="folder with hm-jewelry/ (default JEWELREC_DATA_DIR)")
        parser.add_argument("--limit-articles", type=int, default=None, help="import only the first N articles")
        parser.add_argument("--limit-transactions", type=int, default=None, help="import at most N purchases")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, data_dir=None, limit_articles=None, limit_transactions=None, no_progress=False, **opts):
        from tqdm import tqdm

        for name, value in (("--limit-articles", limit_articles), ("--limit-transactions", limit_transactions)):
            if value is not None and value < 0:
                raise CommandError(f"{name} must be >= 0, got {value}")
        bar = tqdm(total=100, unit="%", disable=no_progress, file=self.stderr._out, bar_format="{l_bar}{bar}| {elapsed}")

        def progress(fraction: float, message: str) -> None:
            bar.n = round(100 * fraction)
            bar.set_description(message[:60], refresh=True)

        try:
            report = import_hm_sample(
                data_dir,
                limit_articles=limit_articles,
                limit_transactions=limit_transactions,
                progress=progress,
            )
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        self.stdout.write(report.summary())
