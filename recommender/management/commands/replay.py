"""Play the sample's last days through the storefront API: fills live metrics and A/B experiments.

    manage.py replay                                  # the last 2 days, every customer, in this process
    manage.py replay --customers 600 --rate 0         # a quick demo, as fast as the API answers
    manage.py replay --ab                             # first start heuristic blend vs the newest ready version on home
    manage.py replay --url http://127.0.0.1:8000 --key jr_...   # against a running server, over HTTP
"""
from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from recommender.experiments.services import ArmInput, ExperimentError, experiment_create
from recommender.impressions.replay import (
    HttpStorefront,
    InProcessStorefront,
    replay_plan,
    replay_run,
    replay_storefront_key,
    replay_withdraw,
)
from recommender.impressions.services import impression_metrics_update
from recommender.models import Experiment, ModelVersion


class Command(BaseCommand):
    help = ("Replay the held-out last days of the H&M sample through the storefront API (home requests, then the "
            "customers' real purchases as events with the recommendation ids) to fill the live metrics and experiments.")

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=2, help="the last N days of the sample (default 2)")
        parser.add_argument("--customers", type=int, default=None,
                            help="at most N customers (jewelry buyers of the window first); default all")
        parser.add_argument("--rate", type=float, default=40.0,
                            help="at most N customer-days a second (default 40: two calls each, under the API "
                                 "key's default 6000/min; 0 for as fast as the API answers)")
        parser.add_argument("--k", type=int, default=12, help="items per home answer (default 12)")
        parser.add_argument("--url", default="", help="a running server's base URL (default: in this process)")
        parser.add_argument("--key", default="", help="an API key with read and events scopes, with --url")
        parser.add_argument("--data-dir", default=None, help="the sample's folder (default JEWELREC_DATA_DIR)")
        parser.add_argument("--ab", action="store_true",
                            help="start an experiment on home first: the heuristic blend against a trained version")
        parser.add_argument("--ab-version", default="", help="the trained version for --ab (default: the newest ready)")

    def handle(self, *args, **o):
        if o["url"] and not o["key"]:
            raise CommandError("--url needs --key (an API key with the read and events scopes).")
        if o["ab"] or o["ab_version"]:
            self._start_ab(o["ab_version"])
        try:
            sessions = replay_plan(days=o["days"], customers=o["customers"], data_dir=o["data_dir"])
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from None
        if not sessions:
            raise CommandError("Nothing to replay: the window's items are not in the catalog (run import_sample).")
        purchases = sum(len(s.purchases) for s in sessions)
        self.stdout.write(f"Replaying {len(sessions)} customer-days ({purchases} purchases, "
                          f"{len({s.customer_id for s in sessions})} customers) from {sessions[0].day} to "
                          f"{sessions[-1].day}.")
        withdrawn = replay_withdraw(sessions)
        self.stdout.write(f"Took {withdrawn} imported purchases out of the history; the replay posts them back.")
        revoke = None
        if o["url"]:
            storefront = HttpStorefront(o["url"], o["key"])
        else:
            key, revoke = replay_storefront_key()
            storefront = InProcessStorefront(key)
        try:
            with tqdm(total=len(sessions), unit="customer-day", disable=None) as bar:
                report = replay_run(sessions, storefront, k=o["k"], rate=o["rate"] or None, progress=bar.update)
        finally:
            if revoke is not None:
                revoke()
        # The server writes impressions a second after answering, and the rollup leaves rows of the
        # last few seconds for its next run: wait that long, so the dashboards show the whole replay.
        time.sleep(max(2.5 if report.pending else 0.0, settings.JEWELREC_ROLLUP_SETTLE_SECONDS + 0.5))
        update = impression_metrics_update()
        self.stdout.write(
            f"{report.requests} API calls in {report.seconds:.0f} s; {report.created} purchases stored "
            f"({report.duplicates} already there); {report.purchases_of_shown_items} were of a shown item, "
            f"{report.attributed} attributed at once, {update['pending']['attributed']} after the impressions "
            f"were written, {report.skipped + update['pending']['skipped']} skipped; "
            f"{update['rolled_up']['impressions']} impressions and {update['rolled_up']['attributions']} "
            "attributions added to the live metrics.")
        for error in report.errors[:10]:
            self.stderr.write(f"  {error}")
        if report.errors:
            raise CommandError(f"{len(report.errors)} calls or events failed (first ones above).")
        self.stdout.write(self.style.SUCCESS("Live metrics updated: see Live & A/B on the dashboard."))

    def _start_ab(self, name: str) -> None:
        running = Experiment.objects.filter(scenario="home", status=Experiment.Status.RUNNING).first()
        if running is not None:
            self.stdout.write(f"Experiment '{running.name}' already runs on home; the replay feeds it.")
            return
        version = (ModelVersion.objects.filter(name=name).first() if name else
                   ModelVersion.objects.filter(status=ModelVersion.Status.READY).order_by("-created_at").first())
        if version is None:
            raise CommandError(f"No trained version '{name}'." if name else
                               "No ready trained version yet: wait for the first training job, or leave out --ab.")
        try:
            experiment = experiment_create(name=f"heuristic blend vs {version.name}", scenario="home",
                                           arms=[ArmInput("heuristic"), ArmInput(version.name)])
        except ExperimentError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Started experiment '{experiment.name}' on home (50/50 by customer).")
