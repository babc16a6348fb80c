"""The experiment page and the live metrics page with 1M impressions stored.

Generates ``--impressions`` impressions over ``--days`` days for a two-arm experiment on home
(plus the attributed purchases, at ``--conversion`` per impression), rolls them up once as the
periodic task does (timed), then times the two pages as a logged-in merchandiser gets them
(Django's test client, the whole middleware stack), with and without a minute of new traffic
waiting to be rolled up. Its own database: ``--database-url`` (default an SQLite file in
``--var-dir``), never the development one.

    python bench/experiment_page.py                                    # SQLite, 1M impressions
    python bench/experiment_page.py --database-url postgresql://postgres@127.0.0.1:5432/jewelrec_bench_exp
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impressions", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--conversion", type=float, default=0.02)
    parser.add_argument("--new", type=int, default=6_000, help="impressions not yet rolled up (a minute at 100/s)")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--var-dir", default="/tmp/jewelrec-bench-experiment")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    os.environ["JEWELREC_VAR_DIR"] = args.var_dir
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{args.var_dir}/bench.sqlite3"
    os.environ.pop("CACHE_URL", None)
    os.environ["CELERY_BROKER_URL"] = "memory://"
    os.environ["JEWELREC_BACKGROUND_REFRESH"] = "0"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jewelrec_site.settings.base")
    Path(args.var_dir).mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    experiment, user = _prepare(args)
    from django.test import Client
    from django.urls import reverse

    from recommender.impressions.rollup import impression_metrics_refresh

    t = time.perf_counter()
    counted = impression_metrics_refresh()
    print(f"first rollup of everything stored: {time.perf_counter() - t:.1f} s ({counted})", flush=True)
    client = Client()
    client.force_login(user)
    pages = {"experiment page": reverse("dashboard:experiment_detail", args=[experiment.pk]),
             "live metrics page": reverse("dashboard:experiments")}
    for label, url in pages.items():
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            response = client.get(url)
            times.append(1000 * (time.perf_counter() - t))
            assert response.status_code == 200, response.status_code
        print(f"{label:18} ({url}): p50 {statistics.median(times):.1f} ms, max {max(times):.1f} ms "
              f"over {args.repeat} loads", flush=True)
    _generate(experiment, args.new, 1, 0.0, start=args.impressions, recent=True)
    t = time.perf_counter()
    response = client.get(pages["experiment page"])
    print(f"experiment page with {args.new} impressions waiting to be rolled up: "
          f"{1000 * (time.perf_counter() - t):.1f} ms (status {response.status_code})", flush=True)
    html = response.content.decode()
    print("the page shows:", " | ".join(line.strip() for line in html.splitlines() if "data-sample-size" in line)[:300])


def _prepare(args):
    from django.contrib.auth import get_user_model

    from recommender.models import Experiment, ExperimentArm, Impression

    user, _ = get_user_model().objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    experiment = Experiment.objects.filter(name="bench").first()
    if experiment is not None and Impression.objects.count() >= args.impressions:
        print(f"reusing {Impression.objects.count()} impressions", flush=True)
        return experiment, user
    from django.utils import timezone

    Experiment.objects.all().delete()
    Impression.objects.all().delete()
    experiment = Experiment.objects.create(name="bench", scenario="home", status="stopped", salt="bench",
                                           starts_at=timezone.now(), min_effect=0.1)
    ExperimentArm.objects.create(experiment=experiment, name="heuristic blend", is_heuristic=True, position=0)
    ExperimentArm.objects.create(experiment=experiment, name="blend-x", version_name="blend-x", position=1)
    t = time.perf_counter()
    _generate(experiment, args.impressions, args.days, args.conversion)
    print(f"generated {args.impressions} impressions in {time.perf_counter() - t:.0f} s", flush=True)
    return experiment, user


def _generate(experiment, n: int, days: int, conversion: float, start: int = 0, recent: bool = False) -> None:
    import random
    from datetime import timedelta
    from decimal import Decimal

    from django.db import transaction
    from django.utils import timezone

    from recommender.models import Attribution, Customer, Event, Impression, Item

    rng = random.Random(start)
    item, _ = Item.objects.get_or_create(external_id="bench-item", defaults={"title": "Bench ring", "is_jewelry": True})
    customer, _ = Customer.objects.get_or_create(external_id="bench-customer")
    now = timezone.now()
    batch = 5000
    for offset in range(0, n, batch):
        with transaction.atomic():
            rows = []
            for i in range(start + offset, start + min(n, offset + batch)):
                arm = ("heuristic blend", "blend-x")[i % 2]
                shown = now if recent else now - timedelta(days=rng.randrange(days), seconds=rng.randrange(86400))
                rows.append(Impression(request_id=f"{i:032x}", scenario="home", model_version=arm,
                                       experiment_id=experiment.pk, arm=arm, customer_key=f"c{i % 50000}",
                                       items=["bench-item", "a", "b", "c", "d", "e", "f", "g", "h", "i"],
                                       shown_at=shown))
            Impression.objects.bulk_create(rows, batch_size=1000)
            buyers = [r for r in rows if rng.random() < conversion * (1.1 if r.arm == "blend-x" else 1.0)]
            if buyers:
                created = Impression.objects.filter(request_id__in=[r.request_id for r in buyers]).values_list("id", "shown_at")
                events = [Event(customer=customer, item=item, event_type="purchase", timestamp=shown, price=Decimal("9.99"))
                          for _, shown in created]
                Event.objects.bulk_create(events, batch_size=1000)
                Attribution.objects.bulk_create(
                    [Attribution(event=e, impression_id=pk, event_type="purchase", position=1, revenue=Decimal("9.99"),
                                 method="explicit", first_of_type=True) for e, (pk, _) in zip(events, created)],
                    batch_size=1000)


if __name__ == "__main__":
    main()
