"""Serving under a stated load: one command per question, on the api_latency.py bench database.

    python bench/serving_load.py memory   --workers 1 2 4        # RSS / PSS / USS per worker, preload on and off
    python bench/serving_load.py rates    --rates 50 100 200 400  # open loop, every endpoint beside ping
    python bench/serving_load.py capacity                         # highest rate with p99 <= 50 ms, home / ping
    python bench/serving_load.py kill     --rate 100              # SIGKILL a worker under load: what failed
    python bench/serving_load.py deps                             # where a home request's time goes, in-process
    python bench/serving_load.py growth   --sizes 10000 100000    # build time, memory, home/similar p99 per size
    python bench/serving_load.py corrupt  --rate 50 --duration 30 # a damaged index file: fresh start, running server

Every subcommand uses the database of ``bench/api_latency.py`` (``--db``, ``--items``: created
and filled there on first use; ``growth`` prepares one per size), gunicorn with the production
settings, ``-k gthread --threads 4``, from this checkout (``gunicorn.conf.py``: the master
builds the serving state once and forks, ``JEWELREC_PRELOAD=0`` builds it per worker). The
load generator is open loop: each connection sends on a fixed schedule and latency counts from
the scheduled send time, so a server that falls behind is not hidden (no coordinated omission).
It runs on the same machine as the server; the tables print the load average before and after.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api_latency as al  # noqa: E402 - the bench database, server start/stop, CPU accounting

ROOT = al.ROOT
DRAIN_SECONDS = 10.0  # an overloaded run stops this long after its schedule ends
ENDPOINTS = ("ping", "home", "cross-sell", "feed", "search", "similar")
QUERIES = ["silver hoop earrings", "gold necklace", "ring without stones", "银色项链", "pearl bracelet",
           "black earrings under 20", "minimal gold ring", "chunky chain"]


# --- traffic ---------------------------------------------------------------------------------------


def endpoint_requests(name: str, customers: int, items: int) -> list[tuple[str, str, dict | None]]:
    """(method, path, body) for one endpoint, spread over customers, items and queries."""
    rng = random.Random(name)
    cust = [f"cust-{rng.randrange(customers)}" for _ in range(400)]
    item = [f"B{rng.randrange(items):07d}" for _ in range(400)]
    if name == "ping":
        return [("GET", "/api/v1/ping", None)]
    if name == "home":
        return [("GET", f"/api/v1/recommendations/home?customer_id={c}&k=10", None) for c in cust]
    if name == "cross-sell":
        return [("POST", "/api/v1/recommendations/cross-sell", {"customer_id": c, "items": [i], "k": 10})
                for c, i in zip(cust, item)]
    if name == "feed":
        return [("GET", f"/api/v1/feed?customer_id={c}&page_size=20", None) for c in cust]
    if name == "search":
        return [("POST", "/api/v1/search", {"query": QUERIES[n % len(QUERIES)], "k": 10, "customer_id": c})
                for n, c in enumerate(cust)]
    if name == "similar":
        return [("GET", f"/api/v1/items/{i}/similar?k=10", None) for i in item]
    raise ValueError(name)


def _send(conn, method, path, body, secret):
    headers = {"Authorization": f"Token {secret}", "Host": "127.0.0.1"}
    payload = None
    if body is not None:
        payload = json.dumps(body)
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=payload, headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status


def _load_process(args):
    """One load process: ``threads`` keep-alive connections, each on a fixed schedule."""
    port, secret, reqs, threads, duration, seed, interval, t0 = args
    out: list[tuple[float, float, int]] = []  # (scheduled send since t0, latency ms, status)
    lock = threading.Lock()
    stop = t0 + duration

    def run(tid):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        n = seed * 1000 + tid
        due = t0 + random.Random(n).random() * interval
        local = []
        while due < stop:
            if time.perf_counter() > stop + DRAIN_SECONDS:
                # the server is this far behind the schedule: what is left counts as not served
                while due < stop:
                    local.append((due - t0, float("inf"), -2))
                    due += interval
                break
            method, path, body = reqs[n % len(reqs)]
            n += 7919
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            try:
                status = _send(conn, method, path, body, secret)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = -1
            local.append((due - t0, (time.perf_counter() - due) * 1000, status))
            due += interval
        with lock:
            out.extend(local)

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return out


def open_loop(port, secret, reqs, rate, duration, *, connections=32, procs=2, web_pids=()):
    """Offer ``rate`` requests/s over ``connections`` keep-alive connections for ``duration`` s."""
    per = max(1, connections // procs)
    interval = per * procs / rate
    cpu0 = al.process_cpu(list(web_pids))
    t0 = time.perf_counter() + 1.0  # time for the load processes to start: sends are scheduled from t0
    # forkserver, not fork: a fork of this process (pool and load threads of earlier runs) once
    # left a load process waiting forever on a lock copied in its held state
    with mp.get_context("forkserver").Pool(procs) as pool:
        parts = pool.map(_load_process, [(port, secret, reqs, per, duration, i, interval, t0) for i in range(procs)])
    samples = sorted(x for part in parts for x in part)
    web_cpu = al.process_cpu(list(web_pids)) - cpu0
    settle(port, secret)
    return stats(samples, duration, web_cpu)


def settle(port, secret, timeout=60.0):
    """Wait until the server has worked off what an overloaded run left queued (a ping answers
    within 20 ms three times in a row), so it does not spill into the next measurement."""
    deadline, quick = time.monotonic() + timeout, 0
    while quick < 3 and time.monotonic() < deadline:
        t = time.perf_counter()
        try:
            _send(http.client.HTTPConnection("127.0.0.1", port, timeout=30), "GET", "/api/v1/ping", None, secret)
        except OSError:
            pass
        quick = quick + 1 if time.perf_counter() - t < 0.02 else 0
        time.sleep(0.2)


def pct(values, p):
    return values[min(len(values) - 1, int(p / 100 * len(values)))] if values else float("nan")


def stats(samples, duration, web_cpu=0.0):
    lat = sorted(s[1] for s in samples)
    # an error is a 5xx, no answer, or not sent at all (-2: the run was too far behind); a 404 (similar: a member-only item asked without a member) is an answer
    errors = sum(1 for s in samples if s[2] < 0 or s[2] >= 500)
    return {"n": len(samples), "rps": len(samples) / duration, "p50": pct(lat, 50), "p99": pct(lat, 99),
            "p999": pct(lat, 99.9), "max": lat[-1] if lat else float("nan"),
            "error_rate": errors / max(1, len(samples)), "errors": errors, "samples": samples,
            "not_found": sum(1 for s in samples if s[2] == 404),
            "web_cpu_ms": 1000 * web_cpu / max(1, len(samples))}


# --- server ----------------------------------------------------------------------------------------


class Server:
    def __init__(self, env, port, workers, log: Path, preload=True, threads=4):
        env = dict(env, JEWELREC_PRELOAD="1" if preload else "0")
        cmd = [sys.executable, "-m", "gunicorn", "jewelrec_site.wsgi:application", "-b", f"127.0.0.1:{port}",
               "-w", str(workers), "-k", "gthread", "--threads", str(threads), "--timeout", "120",
               "--keep-alive", "30", "--log-level", "info"]
        self.log = log
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
        self.port = port

    def ready(self, secret, workers, timeout=600.0) -> float:
        """Seconds from start until every worker is up and the API answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited:\n{self.log.read_text()[-3000:]}")
            if len(self.workers()) >= workers:
                try:
                    if _send(http.client.HTTPConnection("127.0.0.1", self.port, timeout=5), "GET", "/api/v1/ping",
                             None, secret) == 200:
                        return time.perf_counter() - self.started
                except OSError:
                    pass
            time.sleep(0.2)
        raise SystemExit("gunicorn did not become ready")

    def workers(self) -> list[int]:
        return al.worker_pids(self.proc.pid)

    def stop(self):
        al.server_stop(self.proc)


def memory(pid: int) -> dict[str, float]:
    """MB: RSS, PSS (shared pages split between their users), USS (this process's own pages,
    what stopping it would free) and anon (RSS less the pages of mapped files: the heap; a
    mapped file's pages are page cache, shared by every process and reclaimable)."""
    out = {"rss": 0.0, "pss": 0.0, "uss": 0.0, "anon": 0.0}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, rest = line.partition(":")
            kb = int(rest.split()[0]) if rest.strip() and rest.split()[0].isdigit() else 0
            if key == "Rss":
                out["rss"] = kb / 1024
            elif key == "Pss":
                out["pss"] = kb / 1024
            elif key in ("Private_Clean", "Private_Dirty"):
                out["uss"] += kb / 1024
            elif key == "Anonymous":
                out["anon"] = kb / 1024
    except OSError:
        pass
    return out


def prepare(args, items=None, db=None):
    """The bench database (via api_latency.py), with no model version active: what serves is
    the popularity + content ranker through the nearest-neighbour index."""
    items = items or args.items
    db = db or args.db
    var_dir = Path(args.var_dir) / f"{items}"
    var_dir.mkdir(parents=True, exist_ok=True)
    env = al.bench_env(db, var_dir)
    env.update(CACHE_URL=f"redis://127.0.0.1:6379/{args.redis_db}", CELERY_BROKER_URL="redis://127.0.0.1:6379/8")
    subprocess.run(["redis-cli", "-n", str(args.redis_db), "FLUSHDB"], check=False, capture_output=True)
    t = time.perf_counter()
    secret = al.database_prepare(env, db, items, args.customers, 7)
    if args.quiet_customers:
        customers_top_up(db, args.quiet_customers)
    prepared = time.perf_counter() - t
    subprocess.run([sys.executable, str(ROOT / "bench" / "api_latency.py"), "--register-model", ""], cwd=ROOT, env=env,
                   check=True, capture_output=True, text=True)
    return env, secret, prepared


def customers_top_up(db: str, quiet: int) -> None:
    """Make the customer table hold ``quiet`` more customers without events ("quiet-N"), so a
    lookup runs against a table of the issue's size (1M); requests still come from the active
    customers, the personalised (costlier) path. Idempotent: only the missing ones are added."""
    import psycopg

    with psycopg.connect(f"{al.PG}/{db}", autocommit=True) as conn:
        have = conn.execute("SELECT count(*) FROM recommender_customer WHERE external_id LIKE 'quiet-%'").fetchone()[0]
        if have < quiet:
            conn.execute("INSERT INTO recommender_customer (external_id, created_at) "
                         "SELECT 'quiet-' || g, now() FROM generate_series(%s, %s) g", (have, quiet - 1))
            conn.execute("ANALYZE recommender_customer")
        total = conn.execute("SELECT count(*) FROM recommender_customer").fetchone()[0]
    print(f"customers in {db}: {total:,}", flush=True)


def warm_all(server, secret, args, seconds=4.0):
    """A few seconds of home + similar so every worker has run the request path once."""
    reqs = endpoint_requests("home", args.customers, args.items) + endpoint_requests("similar", args.customers, args.items)
    open_loop(server.port, secret, reqs, 40, seconds, connections=8)


def header(args):
    print(f"# {' '.join(sys.argv)}\n# machine: {os.cpu_count()} CPUs, load average {os.getloadavg()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)


# --- subcommands -----------------------------------------------------------------------------------


def cmd_memory(args):
    env, secret, _ = prepare(args)
    print("| preload | workers | start s | master RSS / PSS / USS MB | per worker RSS / PSS / USS MB (mean) | total PSS MB |")
    print("|---|---:|---:|---|---|---:|")
    for preload in (False, True):
        for workers in args.workers:
            server = Server(env, args.port, workers, Path(env["JEWELREC_VAR_DIR"]) / f"mem-{preload}-{workers}.log", preload)
            try:
                start = server.ready(secret, workers)
                warm_all(server, secret, args)
                time.sleep(1.0)
                master = memory(server.proc.pid)
                per = [memory(p) for p in server.workers()]
                mean = {k: sum(m[k] for m in per) / len(per) for k in ("rss", "pss", "uss")}
                total = master["pss"] + sum(m["pss"] for m in per)
                print(f"| {'on' if preload else 'off'} | {workers} | {start:.1f} | {master['rss']:.0f} / {master['pss']:.0f} / "
                      f"{master['uss']:.0f} | {mean['rss']:.0f} / {mean['pss']:.0f} / {mean['uss']:.0f} | {total:.0f} |",
                      flush=True)
            finally:
                server.stop()
    print(f"# load average after {os.getloadavg()}")


def _serve(args, env, secret, workers=None):
    workers = workers or args.workers[0]
    server = Server(env, args.port, workers, Path(env["JEWELREC_VAR_DIR"]) / "load.log")
    server.ready(secret, workers)
    warm_all(server, secret, args)
    return server


def cmd_rates(args):
    env, secret, _ = prepare(args)
    server = _serve(args, env, secret)
    try:
        pids = server.workers()
        print("| rate /s | endpoint | requests | p50 ms | p99 ms | p99.9 ms | max ms | errors | web CPU ms/req |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
        for rate in args.rates:
            for name in args.endpoints:
                r = open_loop(server.port, secret, endpoint_requests(name, args.customers, args.items), rate,
                              args.duration, web_pids=pids)
                print(f"| {rate} | {name} | {r['n']} | {r['p50']:.1f} | {r['p99']:.1f} | {r['p999']:.1f} | "
                      f"{r['max']:.0f} | {r['error_rate']:.2%} | {r['web_cpu_ms']:.2f} |", flush=True)
    finally:
        server.stop()
    print(f"# load average after {os.getloadavg()}")


def cmd_capacity(args):
    """Raise the offered rate step by step; an endpoint keeps up at a rate while its p99 is at
    most ``--slo`` ms, no request fails and it answers at least 97% of the offer."""
    env, secret, _ = prepare(args)
    server = _serve(args, env, secret)
    found = {}
    try:
        print("| endpoint | rate /s | answered /s | p50 ms | p99 ms | errors | within SLO |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for name in ("ping", "home"):
            reqs = endpoint_requests(name, args.customers, args.items)
            best = 0
            for rate in args.steps:
                r = open_loop(server.port, secret, reqs, rate, args.duration, connections=args.connections)
                ok = r["p99"] <= args.slo and r["errors"] == 0 and r["rps"] >= 0.97 * rate
                print(f"| {name} | {rate} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['errors']} | "
                      f"{'yes' if ok else 'no'} |", flush=True)
                if not ok:
                    break
                best = rate
            found[name] = best
    finally:
        server.stop()
    ratio = found["home"] / found["ping"] if found["ping"] else float("nan")
    print(f"capacity at p99 <= {args.slo:g} ms: ping {found['ping']} /s, home {found['home']} /s, home/ping {ratio:.2f} "
          f"(goal >= 0.7); load average after {os.getloadavg()}")


def cmd_kill(args):
    """Home at ``--rate`` for ``--duration`` s; one worker SIGKILLed a third of the way in."""
    env, secret, _ = prepare(args)
    server = _serve(args, env, secret)
    try:
        before = server.workers()
        victim = before[0]
        kill_at = args.duration / 3
        result: dict = {}

        def traffic():
            result.update(open_loop(server.port, secret, endpoint_requests("home", args.customers, args.items),
                                    args.rate, args.duration))

        t = threading.Thread(target=traffic)
        t.start()
        time.sleep(kill_at + 0.2)
        os.kill(victim, signal.SIGKILL)
        killed = time.perf_counter()
        replaced = None
        while t.is_alive() or replaced is None:
            now = set(server.workers())
            if replaced is None and len(now) == len(before) and victim not in now:
                replaced = time.perf_counter() - killed
            if time.perf_counter() - killed > 120:
                break
            time.sleep(0.05)
        t.join()
    finally:
        server.stop()
    samples = result["samples"]
    bad = [s for s in samples if s[2] < 0 or s[2] >= 500]
    print(f"{len(samples)} home requests at {args.rate} /s over {args.duration:g} s, {len(before)} workers; worker "
          f"{victim} SIGKILLed at t={kill_at:.1f} s; a new worker was up {replaced if replaced is None else round(replaced, 2)} s later")
    print(f"failed: {len(bad)} ({', '.join(f'{s[2]} at t={s[0]:.2f} s' for s in bad[:20])})")
    after = [s for s in samples if s[0] > kill_at + 1.0]
    print(f"from 1 s after the kill: {len(after)} requests, {sum(1 for s in after if s[2] < 0 or s[2] >= 500)} failed, "
          f"p99 {pct(sorted(s[1] for s in after), 99):.1f} ms")


def cmd_corrupt(args):
    """The index file damaged (one byte flipped; restored afterwards): a fresh server must refuse
    to start; a running one, whose next rebuild meets the file, must keep serving."""
    import shutil

    env, secret, _ = prepare(args)
    folders = [p for p in (Path(env["JEWELREC_VAR_DIR"]) / "artifacts" / "ann").iterdir() if not p.name.startswith(".")]
    if not folders:
        raise SystemExit("no saved index: run another subcommand first")
    folder = max(folders, key=lambda p: p.stat().st_mtime)
    backup = folder.with_name(".backup-" + folder.name)
    shutil.rmtree(backup, ignore_errors=True)
    shutil.copytree(folder, backup)

    def damage():
        data = bytearray((folder / "index.faiss").read_bytes())
        data[len(data) // 3] ^= 0xFF
        (folder / "index.faiss").write_bytes(bytes(data))

    def restore():
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(backup, folder)

    try:
        damage()
        server = Server(env, args.port, 2, Path(env["JEWELREC_VAR_DIR"]) / "corrupt-start.log")
        try:
            code = server.proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            code = None
            server.stop()
        refusal = [ln for ln in server.log.read_text().splitlines() if "refusing to start" in ln]
        print(f"fresh start on a damaged index: exit code {code} after {time.perf_counter() - server.started:.1f} s; "
              f"workers booted: {server.log.read_text().count('Booting worker')}; log: {refusal[0] if refusal else None}")
        restore()
        server = _serve(args, env, secret, workers=2)
        try:
            damage()
            # a catalogue change: every worker's housekeeping rebuilds its snapshot and meets the file
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", args.db, "-qc",
                            "UPDATE recommender_item SET updated_at = now() WHERE id = (SELECT min(id) FROM recommender_item)"],
                           check=True, capture_output=True)
            r = open_loop(server.port, secret, endpoint_requests("home", args.customers, args.items), args.rate,
                          args.duration)
            alive = len(server.workers())
        finally:
            server.stop()
        refusals = server.log.read_text().count("refusing the nearest-neighbour index")
        print(f"running server, index damaged + a catalogue change, home at {args.rate}/s for {args.duration:g} s: "
              f"{r['n']} requests, {r['errors']} errors, p99 {r['p99']:.1f} ms; workers alive {alive}; "
              f"{refusals} refusal log lines (a worker retries its rebuild after 10 s, 20 s, ... up to 5 min)")
    finally:
        restore()
        shutil.rmtree(backup, ignore_errors=True)


DEPS_PROBE = r"""
import json, statistics, sys, time
import django
django.setup()
import numpy as np
from django.core.cache import cache
from django.db import connection
from recommender.serving import scenarios
from recommender.serving.catalog import serving_catalog
from recommender.serving.customers import customer_context
from recommender.serving.model_store import active_ranker
from recommender.serving.rankers import history_similarity
from recommender.serving.warmup import serving_warm
n, customers = int(sys.argv[1]), int(sys.argv[2])
serving_warm()
catalog = serving_catalog()
ranker = active_ranker()
ids = [f"cust-{c}" for c in range(0, customers, max(1, customers // n))][:n]
def timed(fn):
    out = []
    for i in ids:
        t = time.perf_counter(); fn(i); out.append((time.perf_counter() - t) * 1000)
    out.sort()
    return [round(statistics.median(out), 3), round(out[int(0.99 * len(out))], 3)]
def no_cache(i):
    cache.clear()
    return customer_context(i)
rows = {}
rows["database: one indexed query (SELECT 1)"] = timed(lambda i: connection.cursor().execute("SELECT 1"))
rows["redis: one cache get"] = timed(lambda i: cache.get(f"bench-{i}"))
rows["customer context, cache cold (database)"] = timed(no_cache)
ctxs = {i: customer_context(i) for i in ids}
rows["customer context, cache warm (redis)"] = timed(customer_context)
rows["similarity to history (nearest-neighbour index)"] = timed(lambda i: history_similarity(catalog, ctxs[i], []))
score = (lambda i: ranker.score(catalog, ctxs[i], cart_rows=[], scenario="home")) if ranker is not None else None
if score is not None:
    rows[f"model score ({getattr(ranker, 'version', '?')})"] = timed(score)
rows["recommend_home, whole service call"] = timed(lambda i: scenarios.recommend_home(scenarios.Request(customer_id=i, k=10)))
print(json.dumps({"items": len(catalog), "ranker": getattr(ranker, "version", None), "rows": rows}))
"""


def cmd_deps(args):
    env, secret, _ = prepare(args)
    env = dict(env, JEWELREC_BACKGROUND_REFRESH="0", JEWELREC_WEB_COMPUTE_THREADS="1", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", DEPS_PROBE, str(args.samples), str(args.customers)], cwd=ROOT, env=env,
                         check=True, capture_output=True, text=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{found['items']} items, ranker {found['ranker'] or 'popularity-content'}, {args.samples} customers, one process, "
          f"no concurrent requests (the machine itself is shared)")
    print("| step on home's path | p50 ms | p99 ms |\n|---|---:|---:|")
    for name, (p50, p99) in found["rows"].items():
        print(f"| {name} | {p50:.3f} | {p99:.3f} |")


def cmd_growth(args):
    print("| items | DB fill s | start s (master build) | master RSS / anon MB | worker RSS / PSS / USS / anon MB | "
          "home p50 / p99 ms | similar p50 / p99 ms |")
    print("|---:|---:|---:|---|---|---|---|")
    items = args.items  # --db holds this size; other sizes get a database of their own
    for size in args.sizes:
        args.items = size
        env, secret, prepared = prepare(args, items=size, db=args.db if size == items else f"{args.db}_{size}")
        server = Server(env, args.port, args.workers[0], Path(env["JEWELREC_VAR_DIR"]) / "growth.log")
        try:
            start = server.ready(secret, args.workers[0], timeout=args.ready_timeout)
            warm_all(server, secret, args)
            home = open_loop(server.port, secret, endpoint_requests("home", args.customers, size), args.rate, args.duration)
            similar = open_loop(server.port, secret, endpoint_requests("similar", args.customers, size), args.rate,
                                args.duration)
            master = memory(server.proc.pid)
            per = [memory(p) for p in server.workers()]
            w = {k: sum(m[k] for m in per) / len(per) for k in ("rss", "pss", "uss", "anon")}
            print(f"| {size:,} | {prepared:.0f} | {start:.1f} | {master['rss']:.0f} / {master['anon']:.0f} | "
                  f"{w['rss']:.0f} / {w['pss']:.0f} / {w['uss']:.0f} / {w['anon']:.0f} | "
                  f"{home['p50']:.1f} / {home['p99']:.1f} | {similar['p50']:.1f} / {similar['p99']:.1f} |", flush=True)
        finally:
            server.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["memory", "rates", "capacity", "kill", "deps", "growth", "corrupt"])
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--customers", type=int, default=2_000)
    p.add_argument("--db", default="jewelrec_bench")
    p.add_argument("--var-dir", default="/tmp/jewelrec-bench-serving")
    p.add_argument("--redis-db", type=int, default=7)
    p.add_argument("--port", type=int, default=8811)
    p.add_argument("--workers", type=int, nargs="+", default=[2])
    p.add_argument("--duration", type=float, default=6.0, help="seconds per measurement")
    p.add_argument("--rates", type=int, nargs="+", default=[50, 100, 200, 400])
    p.add_argument("--endpoints", nargs="+", default=list(ENDPOINTS), choices=ENDPOINTS)
    p.add_argument("--steps", type=int, nargs="+", default=[50, 100, 150, 200, 300, 400, 500, 600, 800, 1000])
    p.add_argument("--slo", type=float, default=50.0, help="capacity: p99 bound in ms")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--rate", type=int, default=100)
    p.add_argument("--samples", type=int, default=300)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--quiet-customers", type=int, default=0,
                   help="add this many customers without events to the database (growth: 998000 -> 1M customers)")
    p.add_argument("--ready-timeout", type=float, default=600.0,
                   help="growth: seconds a size's server may take to answer (a 1M-item build takes minutes)")
    args = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the server (finally blocks) when stopped
    header(args)
    {"memory": cmd_memory, "rates": cmd_rates, "capacity": cmd_capacity, "kill": cmd_kill, "deps": cmd_deps,
     "growth": cmd_growth, "corrupt": cmd_corrupt}[args.command](args)


if __name__ == "__main__":
    main()
