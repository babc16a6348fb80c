"""Create the default membership tiers (none, silver, gold, platinum) that are missing."""
from __future__ import annotations

from django.core.management.base import BaseCommand

from recommender.catalog.services import tiers_ensure


class Command(BaseCommand):
    help = "Create the default membership tiers that are missing; existing tiers are kept."

    def handle(self, *args, **options):
        tiers = tiers_ensure()
        self.stdout.write(", ".join(f"{t.code} (rank {t.rank})" for t in sorted(tiers.values(), key=lambda t: t.rank)))
