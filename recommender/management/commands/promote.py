"""Promote a model version, or roll back to the previous one."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from recommender.models import ModelVersion
from recommender.training.registry import RegistryError, model_version_promote, model_version_rollback


class Command(BaseCommand):
    help = "promote VERSION | promote --rollback | promote --list"

    def add_arguments(self, parser):
        parser.add_argument("version", nargs="?")
        parser.add_argument("--rollback", action="store_true")
        parser.add_argument("--list", action="store_true")

    def handle(self, *args, version: str | None, rollback: bool, list: bool, **options):
        if list:
            for v in ModelVersion.objects.all()[:50]:
                flag = "*" if v.is_active else " "
                self.stdout.write(f"{flag} {v.name}  {v.status}  {v.created_at:%Y-%m-%d %H:%M}")
            return
        try:
            if rollback:
                restored = model_version_rollback()
                self.stdout.write(self.style.SUCCESS(f"Rolled back: {restored.name} is active."))
                return
            if not version:
                raise CommandError("Name a version (see --list), or pass --rollback.")
            row = ModelVersion.objects.filter(name=version).first()
            if row is None:
                raise CommandError(f"No model version named '{version}'.")
            model_version_promote(row)
            self.stdout.write(self.style.SUCCESS(f"{row.name} is now active."))
        except RegistryError as exc:
            raise CommandError(str(exc)) from exc
