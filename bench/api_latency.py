"""Storefront API latency at catalog scale: home recommendations vs. the trivial /ping.

Runs the production settings under gunicorn on PostgreSQL + Redis, with a catalog
synthesised to ``--items`` jewelry items from the real H&M jewelry rows (copies with new
ids, jittered prices/colours/tiers, and vectors), customers with histories and purchases.
Then it loads both endpoints with ``--concurrency`` keep-alive connections, one after the
other on the same server, and prints p50/p90/p99 and requests/s side by side.

    python bench/api_latency.py                        # 100k items, gthread and sync workers
    python bench/api_latency.py --worker-class sync --duration 20 --items 100000

Only 127.0.0.1 is used. The data lives in its own database (``--db``, dropped and rebuilt
when its size does not match) and Redis DB 7, never in the development database.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = "postgresql://postgres@127.0.0.1:5432"
SECRET_FILE_NAME = "bench-api-key.txt"


def bench_env(db: str, var_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "jewelrec_site.settings.production",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_COOKIES": "0",
        "DATABASE_URL": f"{PG}/{db}",
        "CACHE_URL": "redis://127.0.0.1:6379/7",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/8",
        "JEWELREC_VAR_DIR": str(var_dir),
        "JEWELREC_API_RATE": "100000000/min",  # measure serving, not the throttle's refusals
        "DJANGO_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    })
    return env


# --- data -------------------------------------------------------------------------------------


def database_prepare(env: dict[str, str], db: str, items: int, customers: int, seed: int) -> str:
    """Create/migrate the bench DB and fill it (unless it already holds this size); returns an API key."""
    import psycopg

    var_dir = Path(env["JEWELREC_VAR_DIR"])
    key_file = var_dir / SECRET_FILE_NAME
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone()
        if exists and key_file.exists():
            with psycopg.connect(f"{PG}/{db}") as c2:
                try:
                    n = c2.execute("SELECT count(*) FROM recommender_item WHERE is_jewelry").fetchone()[0]
                except psycopg.Error:
                    n = -1
            if n == items:
                print(f"reusing database {db} ({n} jewelry items)", flush=True)
                subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env,
                               check=True)  # the code under test may bring new migrations
                return key_file.read_text().strip()
        if exists:
            conn.execute(f'DROP DATABASE "{db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db}"')
    t = time.perf_counter()
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    print(f"migrated in {time.perf_counter() - t:.1f} s", flush=True)
    t = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--populate", str(items), str(customers), str(seed)],
                         cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    print(out.stdout.strip(), f"\npopulated in {time.perf_counter() - t:.1f} s", flush=True)
    secret = out.stdout.strip().splitlines()[-1].split()[-1]
    key_file.write_text(secret)
    return secret


def populate(items: int, customers: int, seed: int) -> None:
    """Runs inside Django (child process): synthesise the scaled catalog and the behaviour."""
    import django

    django.setup()
    from datetime import timedelta
    from decimal import Decimal

    import numpy as np
    import pandas as pd
    from django.conf import settings
    from django.utils import timezone

    from recommender.catalog.services import tiers_ensure
    from recommender.models import Customer, Event, Item, ItemVector
    from recommender.serving.api_keys import api_key_create

    rng = np.random.default_rng(seed)
    articles = pd.read_parquet(Path(settings.JEWELREC_DATA_DIR) / "hm-jewelry" / "articles.parquet")
    real = articles[articles.product_type_name.isin(["Earring", "Earrings", "Necklace", "Ring", "Bracelet"])]
    real = real.reset_index(drop=True)
    colours = real.colour_group_name.unique().tolist()
    tiers = tiers_ensure()
    tier_list = [None] * 95 + [tiers["silver"]] * 3 + [tiers["gold"]] + [tiers["platinum"]]
    batch: list[Item] = []
    for i in range(items):
        base = real.iloc[i % len(real)]
        colour = base.colour_group_name if rng.random() < 0.8 else colours[int(rng.integers(len(colours)))]
        batch.append(Item(
            external_id=f"B{i:07d}", title=f"{base.prod_name} #{i // len(real)}", description=base.detail_desc or "",
            product_type=base.product_type_name, product_group=base.product_group_name, is_jewelry=True,
            colour=colour, material="", appearance=base.graphical_appearance_name,
            price=Decimal(f"{float(rng.lognormal(3.0, 0.6)):.2f}"), currency="EUR",
            in_stock=bool(rng.random() < 0.97), is_active=bool(rng.random() < 0.98),
            exclusive_tier=tier_list[int(rng.integers(len(tier_list)))],
        ))
        if len(batch) == 5000:
            Item.objects.bulk_create(batch)
            batch = []
    Item.objects.bulk_create(batch)
    pks = np.array(Item.objects.filter(is_jewelry=True).order_by("id").values_list("id", flat=True))
    # Fused item vectors: random unit vectors of the real dimension (serving cost, not quality).
    vecs = []
    for pk in pks:
        v = rng.standard_normal(512).astype("<f4")
        v /= np.linalg.norm(v)
        vecs.append(ItemVector(item_id=int(pk), status="current", vector=v.tobytes(), dim=512,
                               fusion_version="bench-random", has_text=True))
        if len(vecs) == 5000:
            ItemVector.objects.bulk_create(vecs)
            vecs = []
    ItemVector.objects.bulk_create(vecs)
    codes = ["none"] * 7 + ["silver", "gold", "platinum"]
    Customer.objects.bulk_create([Customer(external_id=f"cust-{c}", tier=tiers[codes[c % 10]])
                                  for c in range(customers)])
    cust_pks = np.array(Customer.objects.order_by("id").values_list("id", flat=True))
    now = timezone.now()
    popular = pks[rng.zipf(1.3, size=200_000) % len(pks)]
    events, types = [], ["view", "view", "view", "favorite", "add_to_cart", "purchase"]
    for n in range(len(cust_pks) * 15):
        events.append(Event(customer_id=int(cust_pks[n % len(cust_pks)]), item_id=int(popular[n]),
                            event_type=types[n % len(types)], timestamp=now - timedelta(minutes=int(n % 40000))))
        if len(events) == 10000:
            Event.objects.bulk_create(events)
            events = []
    Event.objects.bulk_create(events)
    print(f"items={Item.objects.count()} vectors={ItemVector.objects.count()} customers={Customer.objects.count()} "
          f"events={Event.objects.count()}")
    print("key", api_key_create(name="bench", scopes=["read", "events"]).secret)


def register_model(artifact_dir: str) -> None:
    """Runs inside Django (child process): make a trained model artifact the active version.

    The model was trained on the real sample (its own item ids); serving appends the bench
    catalog's items to its table from their attributes and vectors, the path any item added
    after training takes."""
    import django

    django.setup()
    from recommender.artifacts import BLEND_DIR
    from recommender.ml.blend.model import BlendRecommender
    from recommender.ml.models.xdeepfm import XDeepFMRecommender
    from recommender.models import ModelVersion
    from recommender.training.registry import model_version_promote

    # fail here, not in every server worker: a version folder (blend/ + transfer/) or an xDeepFM
    if (Path(artifact_dir) / BLEND_DIR).is_dir():
        BlendRecommender.load(Path(artifact_dir) / BLEND_DIR)
    else:
        XDeepFMRecommender.load(artifact_dir)
    version, _ = ModelVersion.objects.update_or_create(
        name="bench-model", defaults={"status": ModelVersion.Status.READY, "artifact_dir": artifact_dir})
    model_version_promote(version)
    print(f"active model: {version.name} from {artifact_dir}")


def model_unregister(heuristic: bool) -> None:
    """No active version: the heuristic blend fitted on the bench database answers (``heuristic``),
    or, with no heuristic published, the popularity-content ranker."""
    import django

    django.setup()
    import shutil

    from recommender.artifacts import heuristic_root
    from recommender.models import ModelVersion

    ModelVersion.objects.filter(is_active=True).update(is_active=False)
    shutil.rmtree(heuristic_root(), ignore_errors=True)
    if heuristic:
        from recommender.training.heuristic import heuristic_blend_refresh

        info = heuristic_blend_refresh()
        print(f"no active model: {info['name']} (fitted on the bench database's {info['events']} events) answers")
    else:
        print("no active model: the popularity-content ranker answers")


# --- server -------------------------------------------------------------------------------------


def server_start(env: dict[str, str], port: int, workers: int, worker_class: str, threads: int, log: Path,
                 root: Path = ROOT):
    """gunicorn serving the checkout at ``root`` (this one, or a baseline's worktree)."""
    cmd = [sys.executable, "-m", "gunicorn", "jewelrec_site.wsgi:application", "-b", f"127.0.0.1:{port}",
           "-w", str(workers), "-k", worker_class, "--timeout", "120", "--keep-alive", "30"]
    if worker_class == "gthread":
        cmd += ["--threads", str(threads)]
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    return proc


def server_stop(proc: subprocess.Popen) -> None:
    """Graceful gunicorn shutdown (SIGTERM), killed if it takes longer than 30 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def wait_ready(port: int, secret: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status, _ = request(http.client.HTTPConnection("127.0.0.1", port, timeout=5), "/api/v1/ping", secret)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("gunicorn did not answer /api/v1/ping in time")


def worker_pids(master: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# --- load ----------------------------------------------------------------------------------------


def request(conn: http.client.HTTPConnection, path: str, secret: str, body: dict | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Token {secret}", "Host": "127.0.0.1"}
    if body is None:
        conn.request("GET", path, headers=headers)
    else:
        headers["Content-Type"] = "application/json"
        conn.request("POST", path, body=json.dumps(body), headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def _load_process(args) -> tuple[list[float], dict[int, int], float]:
    """One load process: ``threads`` keep-alive connections for ``duration`` seconds; also
    returns the CPU seconds it used (the load generator shares the server's 2 cores)."""
    import threading

    cpu_start = time.process_time()
    port, secret, paths, threads, duration, seed, interval = args
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    stop = time.monotonic() + duration

    def run(tid: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        local, codes, n = [], {}, seed * 1000 + tid
        # Open loop (interval > 0): each connection sends on a fixed schedule, and latency counts
        # from the scheduled time, so a late send (the server was behind) is not hidden.
        due = time.perf_counter() + random.Random(n).random() * interval  # connections spread over an interval
        while time.monotonic() < stop:
            path = paths[n % len(paths)]
            n += 7919
            if interval:
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                t = due
                due += interval
            else:
                t = time.perf_counter()
            try:
                status, _ = request(conn, path, secret)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = -1
            local.append((time.perf_counter() - t) * 1000)
            codes[status] = codes.get(status, 0) + 1
        with lock:
            latencies.extend(local)
            for k, v in codes.items():
                statuses[k] = statuses.get(k, 0) + v

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return latencies, statuses, time.process_time() - cpu_start


CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) these processes have used so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def machine_cpu() -> float:
    """CPU seconds the whole machine has been busy (all cores; idle and iowait excluded)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def summarise(latencies: list[float], statuses: dict[int, int], elapsed: float, cpu: dict | None = None) -> dict:
    latencies = sorted(latencies)

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] if latencies else float("nan")

    return {"n": len(latencies), "rps": len(latencies) / elapsed, "p50": pct(50), "p90": pct(90), "p99": pct(99),
            "max": latencies[-1] if latencies else float("nan"), "mean": statistics.fmean(latencies) if latencies else 0,
            "statuses": statuses, "elapsed": elapsed, "latencies": latencies, "cpu": cpu or {}}


def merge(runs: list[dict]) -> dict:
    """Several load runs of one endpoint as one: all latencies, total requests over total time."""
    statuses: dict[int, int] = {}
    for r in runs:
        for k, v in r["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    cpu = {part: sum(r["cpu"].get(part, 0.0) for r in runs) for part in ("web", "client", "other")}
    return summarise([x for r in runs for x in r["latencies"]], statuses, sum(r["elapsed"] for r in runs), cpu)


def load(port: int, secret: str, paths: list[str], concurrency: int, duration: float, procs: int,
         rate: float = 0.0, web_pids: list[int] | None = None) -> dict:
    """Closed loop (each connection sends as soon as it has its answer), or open loop at
    ``rate`` requests/s in total when given. With ``web_pids``, also where the CPU went:
    the web workers, the load generator, and the rest (PostgreSQL, Redis, the kernel)."""
    per = max(1, concurrency // procs)
    interval = per * procs / rate if rate else 0.0  # seconds between one connection's sends
    web_pids = web_pids or []
    web0, machine0 = process_cpu(web_pids), machine_cpu()
    t = time.perf_counter()
    with mp.get_context("fork").Pool(procs) as pool:
        parts = pool.map(_load_process, [(port, secret, paths, per, duration, i, interval) for i in range(procs)])
    elapsed = time.perf_counter() - t
    web, machine = process_cpu(web_pids) - web0, machine_cpu() - machine0
    client = sum(c for _, _, c in parts)
    statuses: dict[int, int] = {}
    for _, codes, _ in parts:
        for k, v in codes.items():
            statuses[k] = statuses.get(k, 0) + v
    cpu = {"web": web, "client": client, "other": max(0.0, machine - web - client)}
    return summarise([x for lat, _, _ in parts for x in lat], statuses, elapsed, cpu)


def run_config(env, secret, args, worker_class: str) -> dict:
    """Results for ping and home on this checkout's server; with ``--baseline-root`` also on a
    second server from that checkout (keys ``base ping``, ``base home``), alternating with
    this one round by round, so both see the same machine."""
    servers = [("", ROOT, args.port)]
    if args.baseline_root:
        servers.append(("base ", Path(args.baseline_root).resolve(), args.port + 1))
    procs = []
    try:
        for prefix, root, port in servers:
            log = Path(env["JEWELREC_VAR_DIR"]) / f"gunicorn-{prefix.strip() or 'ours'}-{worker_class}.log"
            procs.append(server_start(env, port, args.workers, worker_class, args.threads, log, root))
        customers = [f"cust-{c}" for c in range(0, args.customers, max(1, args.customers // 500))]
        home = [f"/api/v1/recommendations/home?customer_id={c}&k=10" for c in customers]
        home += [f"/api/v1/recommendations/home?customer_id=visitor-{i}&k=10" for i in range(50)]  # unknown
        for prefix, _, port in servers:
            wait_ready(port, secret)
            # Warm every worker: catalog snapshot (100k rows) and model are built once per process.
            t = time.perf_counter()
            while True:
                warm = load(port, secret, home, args.concurrency, 3.0, args.load_procs)
                if warm["n"] and warm["p99"] < 1000 or time.perf_counter() - t > 300:
                    break
            print(f"[{prefix}{worker_class}] warmed in {time.perf_counter() - t:.1f} s", flush=True)
        # Alternate the endpoints (and the servers) in short rounds: on a shared VM the machine's
        # speed drifts over a minute, which skewed a ping-then-home ratio by up to 30% between runs.
        parts: dict[str, list[dict]] = {f"{prefix}{name}": [] for prefix, _, _ in servers for name in ("ping", "home")}
        pids = [worker_pids(proc.pid) for proc in procs]
        for _ in range(args.rounds):
            for (prefix, _, port), web_pids in zip(servers, pids):
                for name, paths in (("ping", ["/api/v1/ping"]), ("home", home)):
                    parts[f"{prefix}{name}"].append(load(port, secret, paths, args.concurrency,
                                                         args.duration / args.rounds, args.load_procs, args.rate,
                                                         web_pids))
        results = {name: merge(runs) for name, runs in parts.items()}
        results["rss_mb"] = [round(rss_mb(p)) for p in worker_pids(procs[0].pid)]
        results["loadavg"] = os.getloadavg()
        return results
    finally:
        for proc in procs:
            server_stop(proc)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--populate":
        sys.path.insert(0, str(ROOT))
        populate(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--register-model":
        sys.path.insert(0, str(ROOT))
        register_model(sys.argv[2]) if sys.argv[2] else model_unregister(len(sys.argv) > 3 and sys.argv[3] == "blend")
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--db", default="jewelrec_bench")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--worker-class", choices=["gthread", "sync", "both"], default="both")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--load-procs", type=int, default=4, help="load-generator processes (threads split among them)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per endpoint")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the endpoints within --duration")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="open loop: offer this many requests/s in total over the connections (latency from the "
                             "scheduled send time); default: closed loop, as fast as the server answers")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--var-dir", default="/tmp/jewelrec-bench")
    parser.add_argument("--baseline-root", default="",
                        help="also serve another checkout of the project (e.g. a `git worktree add /tmp/base REV`) on "
                             "--port + 1 from the same database, alternating with this one round by round, and "
                             "print this checkout's throughput and latency as ratios to it")
    parser.add_argument("--model-artifact", default="",
                        help="a trained version's folder (var/artifacts/models/<name>, blend/ + transfer/) or an "
                             "xDeepFM artifact folder to serve; without it the popularity-content ranker answers")
    parser.add_argument("--heuristic-blend", action="store_true",
                        help="with no --model-artifact: fit the heuristic blend on the bench database and serve it "
                             "(the candidate stage at this catalog size)")
    args = parser.parse_args()
    var_dir = Path(args.var_dir)
    var_dir.mkdir(parents=True, exist_ok=True)
    env = bench_env(args.db, var_dir)
    subprocess.run(["redis-cli", "-n", "7", "FLUSHDB"], check=False, capture_output=True)
    secret = database_prepare(env, args.db, args.items, args.customers, args.seed)
    artifact = str(Path(args.model_artifact).resolve()) if args.model_artifact else ""
    out = subprocess.run([sys.executable, __file__, "--register-model", artifact, "blend" if args.heuristic_blend else ""],
                         cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True)
    print(out.stdout.strip(), flush=True)
    print(f"machine: {os.cpu_count()} CPUs; load average before: {os.getloadavg()}", flush=True)
    classes = ["gthread", "sync"] if args.worker_class == "both" else [args.worker_class]
    for wc in classes:
        r = run_config(env, secret, args, wc)
        label = f"{wc} -w {args.workers}" + (f" --threads {args.threads}" if wc == "gthread" else "")
        ping, home = r["ping"], r["home"]
        print(f"\n{label}: worker RSS MB {r['rss_mb']}; load average after {tuple(round(v, 2) for v in r['loadavg'])}")
        names = [n for n in ("ping", "home", "base ping", "base home") if n in r]
        print(f"{'endpoint':10} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}  statuses")
        for name in names:
            x = r[name]
            print(f"{name:10} {x['n']:9d} {x['rps']:8.1f} {x['p50']:8.2f} {x['p90']:8.2f} {x['p99']:8.2f} "
                  f"{x['max']:8.1f}  {x['statuses']}")
        print("CPU ms per request (web workers / load generator / the rest: PostgreSQL, Redis, kernel):")
        for name in names:
            x = r[name]
            per = {part: 1000 * v / max(1, x["n"]) for part, v in x["cpu"].items()}
            print(f"  {name:10} {per['web']:6.2f} / {per['client']:6.2f} / {per['other']:6.2f}")
        if "base ping" in r:
            print(f"this checkout vs the baseline ({args.baseline_root}), same rounds:")
            for name in ("ping", "home"):
                ours, base = r[name], r[f"base {name}"]
                print(f"  {name:5} throughput {ours['rps'] / base['rps']:.2f}x, p50 {ours['p50'] / base['p50']:.2f}x, "
                      f"p99 {ours['p99'] / base['p99']:.2f}x")
            print(f"  baseline home/ping throughput {r['base home']['rps'] / r['base ping']['rps']:.2f}")
        def per_request(x, parts):
            return sum(x["cpu"][p] for p in parts) / max(1, x["n"])

        print(f"  ping/home CPU per request: web workers {per_request(ping, ['web']) / per_request(home, ['web']):.2f}, "
              f"server side (web + the rest) {per_request(ping, ['web', 'other']) / per_request(home, ['web', 'other']):.2f}: "
              f"the throughput ratio without the load generator's share of the cores")
        if args.rate:
            print(f"open loop at {args.rate:g} requests/s offered: throughput equals the offer while the server "
                  f"keeps up; latencies count from each request's scheduled send time")
        ratios = (f"ratios: home/ping throughput {home['rps'] / ping['rps']:.2f}; p50 {home['p50'] / ping['p50']:.2f}x; "
                  f"p99 {home['p99'] / ping['p99']:.2f}x")
        if args.rate:  # throughput is the offer here: the targets are defined closed loop
            print(f"{ratios}; targets are judged closed loop only (run without --rate)", flush=True)
            continue
        print(f"{ratios}; targets: home p99 < 25 ms ({'met' if home['p99'] < 25 else 'NOT met'}), throughput >= 50% "
              f"of ping ({'met' if home['rps'] >= 0.5 * ping['rps'] else 'NOT met'})")
        # Closed loop, every connection has one request in flight, so the mean latency is fixed by
        # the throughput (Little's law): no endpoint's p99 is below its own mean.
        print(f"closed-loop floor (Little's law, mean = {args.concurrency} connections / throughput): ping "
              f"{1000 * args.concurrency / ping['rps']:.1f} ms, home {1000 * args.concurrency / home['rps']:.1f} ms "
              f"(measured means {ping['mean']:.1f} / {home['mean']:.1f} ms)", flush=True)


if __name__ == "__main__":
    main()
