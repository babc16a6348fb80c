"""Offline evaluation: the blend and the transfer model against every baseline, over seeded
customer splits, with the promotion gate's decision; protocols named, nothing registered."""
from __future__ import annotations

import json as jsonlib

from django.core.management.base import BaseCommand, CommandError

from recommender.training.datasets import DatasetTooSmall, recdata_from_db
from recommender.training.services import TrainingConfigError, training_config


class Command(BaseCommand):
    help = ("Evaluate the blend (mean ± spread over seeded splits on the intent and cross-sell protocols) and the "
            "xDeepFM transfer model with its ablations against the baselines on the database's data; print the gate.")

    def add_arguments(self, parser):
        parser.add_argument("--config", default="{}", help="hyperparameter overrides as JSON")
        parser.add_argument("--protocol", action="append", choices=["cross_sell", "temporal"])
        parser.add_argument("--no-ablations", action="store_true")
        parser.add_argument("--json", help="also write the full report to this file")
        parser.add_argument("--seeds", type=int, default=10, help="seeded customer splits (default 10)")
        parser.add_argument("--folds", type=int, default=5, help="cross-validation folds for the blend's weights")

    def handle(self, *args, config: str, protocol, no_ablations: bool, json: str | None, seeds: int, folds: int,
               **options):
        if not 1 <= seeds <= 100 or not 2 <= folds <= 20:
            raise CommandError("--seeds must be from 1 to 100 and --folds from 2 to 20.")
        from recommender.ml.pipeline import run_pipeline

        try:
            cfg = training_config(_json_loads(config))
            data, snapshot = recdata_from_db()
        except (TrainingConfigError, DatasetTooSmall, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Data: {snapshot}")
        result = run_pipeline(data, cfg, lambda p, m: self.stdout.write(f"[{p:4.0%}] {m}"),
                              protocols=protocol or ("cross_sell", "temporal"), ablations=not no_ablations,
                              n_seeds=seeds, folds=folds)
        self.stdout.write(result.summary_text())
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
