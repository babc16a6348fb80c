"""Offline evaluation: the transfer model against every baseline, protocols named, nothing registered."""
from __future__ import annotations

import json as jsonlib

from django.core.management.base import BaseCommand, CommandError

from recommender.training.datasets import DatasetTooSmall, recdata_from_db
from recommender.training.services import TrainingConfigError, training_config


class Command(BaseCommand):
    help = "Evaluate xDeepFM transfer vs baselines and ablations on the database's data (cross-sell and temporal)."

    def add_arguments(self, parser):
        parser.add_argument("--config", default="{}", help="hyperparameter overrides as JSON")
        parser.add_argument("--protocol", action="append", choices=["cross_sell", "temporal"])
        parser.add_argument("--no-ablations", action="store_true")
        parser.add_argument("--json", help="also write the full report to this file")

    def handle(self, *args, config: str, protocol, no_ablations: bool, json: str | None, **options):
        from recommender.ml.pipeline import run_pipeline

        try:
            cfg = training_config(_json_loads(config))
            data, snapshot = recdata_from_db()
        except (TrainingConfigError, DatasetTooSmall, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Data: {snapshot}")
        result = run_pipeline(data, cfg, lambda p, m: self.stdout.write(f"[{p:4.0%}] {m}"),
                              protocols=protocol or ("cross_sell", "temporal"), ablations=not no_ablations)
        self.stdout.write(result.report.to_text())
        if json:
            with open(json, "w") as fh:
                fh.write(_json_dumps(result.metrics))


def _json_loads(text: str) -> dict:
    try:
        return jsonlib.loads(text)
    except jsonlib.JSONDecodeError as exc:
        raise ValueError(f"--config is not valid JSON: {exc}") from exc


def _json_dumps(data) -> str:
    return jsonlib.dumps(data, indent=1, default=str)
