"""Import a retailer export: ``python manage.py import_catalog PATH [--events] [--dry-run] [--photos ZIP]``."""
from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from recommender.catalog.importers import import_catalog_file, import_catalog_with_photos, import_events_file


class Command(BaseCommand):
    help = (
        "Import items (default) or behaviour events (--events) from a CSV or parquet file. "
        "All or nothing: if any row is invalid nothing is written and every bad row is listed."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="CSV or parquet file")
        parser.add_argument("--events", action="store_true", help="the file holds events, not items")
        parser.add_argument("--dry-run", action="store_true", help="validate and report, write nothing")
        parser.add_argument("--photos", metavar="ZIP", help="ZIP of photos named <id>.jpg or <id>/<name>.png")
        parser.add_argument(
            "--mapping",
            metavar="JSON",
            help='our column -> your column, e.g. \'{"id": "SKU", "title": "Name"}\' (or a path to a JSON file)',
        )

    def handle(self, *args, path, events=False, dry_run=False, photos=None, mapping=None, **opts):
        if not Path(path).is_file():
            raise CommandError(f"file not found: {path}")
        if photos and events:
            raise CommandError("--photos goes with a catalog file, not with --events")
        if photos and not Path(photos).is_file():
            raise CommandError(f"photo archive not found: {photos}")
        mapping_dict = None
        if mapping:
            try:
                text = Path(mapping).read_text() if Path(mapping).is_file() else mapping
                mapping_dict = json.loads(text)
            except (OSError, ValueError) as exc:
                raise CommandError(f"--mapping is not valid JSON: {exc}") from exc
            if not isinstance(mapping_dict, dict) or not all(isinstance(v, str) for v in mapping_dict.values()):
                raise CommandError('--mapping must be a JSON object of strings, e.g. {"id": "SKU"}')
        if events:
            report = import_events_file(path, mapping=mapping_dict, dry_run=dry_run)
        elif photos:
            report = import_catalog_with_photos(path, photos, dry_run=dry_run, mapping=mapping_dict)
        else:
            report = import_catalog_file(path, mapping=mapping_dict, dry_run=dry_run)
        self.stdout.write(report.summary())
        if not report.ok:
            raise CommandError(f"import refused: {len(report.errors)} invalid row(s); nothing was written")
