"""Soak test: minutes of mixed storefront traffic against the production server.

Home, feed pages (following cursors), text search and event batches (unique event ids
plus deliberate re-sends of already acknowledged ones) run side by side against gunicorn
on PostgreSQL + Redis, on the database that ``bench/api_latency.py`` builds. At the end it
reports the 5xx count (must be 0), checks in the database that every acknowledged event is
stored exactly once, and prints the gunicorn workers' RSS sampled over time (should be flat).

    python bench/soak.py --minutes 10
    python bench/soak.py --minutes 3 --items 100000   # reuses the api_latency database

Only 127.0.0.1 is used.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_latency import (  # noqa: E402
    PG, bench_env, database_prepare, request, rss_mb, server_start, server_stop, wait_ready, worker_pids,
)


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_kind: dict[str, dict[int, int]] = {}
        self.acked: set[str] = set()  # event ids the server answered created/duplicate for
        self.created: set[str] = set()
        self.dup_sent = 0
        self.dup_ok = 0
        self.server_errors: list[str] = []

    def count(self, kind: str, status: int, detail: str = "") -> None:
        with self.lock:
            codes = self.by_kind.setdefault(kind, {})
            codes[status] = codes.get(status, 0) + 1
            if status >= 500 or status < 0:
                self.server_errors.append(f"{kind} {status} {detail[:200]}")


def worker(port: int, secret: str, stop: float, stats: Stats, seed: int, customers: int, items: int,
           prefix: str = "soak") -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    mine: list[str] = []  # acknowledged ids of this thread, re-sent as deliberate duplicates
    queries = ["silver ring", "gold necklace under 30", "pearl earrings", "金色项链", "bracelet", "blue earrings"]
    while time.monotonic() < stop:
        roll = rng.random()
        customer = f"cust-{rng.randrange(customers)}" if rng.random() < 0.8 else f"visitor-{rng.randrange(10**6)}"
        try:
            if roll < 0.45:
                status, body = request(conn, f"/api/v1/recommendations/home?customer_id={customer}&k=10", secret)
                stats.count("home", status, body.decode(errors="replace"))
            elif roll < 0.70:
                cursor = None
                for _ in range(rng.randint(1, 3)):
                    path = f"/api/v1/feed?customer_id={customer}&page_size=12" + (f"&cursor={cursor}" if cursor else "")
                    status, body = request(conn, path, secret)
                    stats.count("feed", status, body.decode(errors="replace"))
                    cursor = json.loads(body).get("next_cursor") if status == 200 else None
                    if not cursor:
                        break
            elif roll < 0.80:
                status, body = request(conn, "/api/v1/search", secret, {"query": rng.choice(queries), "k": 10})
                stats.count("search", status, body.decode(errors="replace"))
            else:
                batch = []
                for _ in range(rng.randint(5, 40)):
                    batch.append({"event_id": f"{prefix}-{uuid.uuid4().hex}", "customer_id": customer,
                                  "item_id": f"B{rng.randrange(items):07d}",
                                  "type": rng.choice(["view", "view", "favorite", "add_to_cart", "purchase"]),
                                  "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
                dups = rng.sample(mine, min(len(mine), rng.randint(0, 5)))
                batch += [{**_event_like(d, customer), "event_id": d} for d in dups]
                status, body = request(conn, "/api/v1/events", secret, {"events": batch})
                stats.count("events", status, body.decode(errors="replace"))
                if status in (200, 207):
                    results = json.loads(body)["results"]
                    with stats.lock:
                        for r in results:
                            if r["status"] in ("created", "duplicate"):
                                stats.acked.add(r["event_id"])
                            if r["status"] == "created":
                                stats.created.add(r["event_id"])
                        stats.dup_sent += len(dups)
                        stats.dup_ok += sum(1 for r in results if r["event_id"] in dups and r["status"] == "duplicate")
                    mine += [r["event_id"] for r in results if r["status"] == "created"]
                    mine = mine[-500:]
        except (OSError, http.client.HTTPException) as exc:
            stats.count("connection", -1, repr(exc))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)


def _event_like(event_id: str, customer: str) -> dict:
    # A re-send carries the same id; the body may differ (clients retry with fresh clocks).
    return {"customer_id": customer, "item_id": "B0000000", "type": "view",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--db", default="jewelrec_bench")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--worker-class", choices=["gthread", "sync"], default="gthread")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sample-seconds", type=float, default=15.0)
    parser.add_argument("--warmup-seconds", type=float, default=120.0,
                        help="unrecorded mixed traffic before the measured minutes (0: none)")
    parser.add_argument("--max-rss-growth", type=float, default=0.15,
                        help="largest allowed growth of the biggest worker's RSS, first to last sample")
    parser.add_argument("--var-dir", default="/tmp/jewelrec-bench")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    var_dir = Path(args.var_dir)
    var_dir.mkdir(parents=True, exist_ok=True)
    env = bench_env(args.db, var_dir)
    secret = database_prepare(env, args.db, args.items, args.customers, args.seed)
    import psycopg

    with psycopg.connect(f"{PG}/{args.db}", autocommit=True) as conn:
        conn.execute("DELETE FROM recommender_event WHERE client_event_id LIKE 'soak%%'")
    print(f"machine: {os.cpu_count()} CPUs; load average before: {os.getloadavg()}", flush=True)
    proc = server_start(env, args.port, args.workers, args.worker_class, args.threads, var_dir / "gunicorn-soak.log")
    samples: list[tuple[float, list[int]]] = []
    stats = Stats()
    try:
        wait_ready(args.port, secret)
        if args.warmup_seconds > 0:
            # Every worker builds its catalog snapshot, model item table and search encoders on
            # its first requests (tens of seconds at 100k items): the same traffic, unrecorded,
            # so the measured minutes and the memory samples start from warm workers.
            t = time.monotonic()
            warm_stop = t + args.warmup_seconds
            warm = [threading.Thread(target=worker, args=(args.port, secret, warm_stop, Stats(), 10_000 + i,
                                                          args.customers, args.items, "soakwarm"), daemon=True)
                    for i in range(args.concurrency)]
            for th in warm:
                th.start()
            for th in warm:
                th.join(timeout=args.warmup_seconds + 180)
            print(f"warmed for {time.monotonic() - t:.0f} s; worker RSS MB "
                  f"{[round(rss_mb(p)) for p in worker_pids(proc.pid)]}", flush=True)
        started = time.monotonic()
        stop = started + args.minutes * 60
        threads = [threading.Thread(target=worker, args=(args.port, secret, stop, stats, args.seed * 100 + i,
                                                          args.customers, args.items), daemon=True)
                   for i in range(args.concurrency)]
        for t in threads:
            t.start()
        while time.monotonic() < stop:
            samples.append((time.monotonic() - started, [round(rss_mb(p)) for p in worker_pids(proc.pid)]))
            print(f"  t={samples[-1][0]:6.0f} s  worker RSS MB {samples[-1][1]}  "
                  f"load {tuple(round(v, 1) for v in os.getloadavg())}", flush=True)
            time.sleep(min(args.sample_seconds, max(0.0, stop - time.monotonic())))
        for t in threads:
            t.join(timeout=120)
        samples.append((time.monotonic() - started, [round(rss_mb(p)) for p in worker_pids(proc.pid)]))
    finally:
        server_stop(proc)

    with psycopg.connect(f"{PG}/{args.db}") as conn:
        rows = conn.execute("SELECT client_event_id, count(*) FROM recommender_event "
                            "WHERE client_event_id LIKE 'soak-%%' GROUP BY 1").fetchall()
    stored = {eid: n for eid, n in rows}
    missing = [e for e in stats.acked if e not in stored]
    twice = [e for e, n in stored.items() if n != 1]
    unacked_stored = [e for e in stored if e not in stats.acked]
    total = {k: sum(v.values()) for k, v in stats.by_kind.items()}
    five = sum(n for codes in stats.by_kind.values() for s, n in codes.items() if s >= 500 or s < 0)
    print(f"\nsoak: {args.minutes} min, {args.concurrency} connections, {args.worker_class} -w {args.workers}")
    print(f"requests by kind: {total}; statuses: {stats.by_kind}")
    print(f"5xx or connection errors: {five}" + (f" e.g. {stats.server_errors[:3]}" if five else ""))
    print(f"events acknowledged: {len(stats.acked)} (created {len(stats.created)}); stored soak events: {len(stored)}; "
          f"acknowledged but missing: {len(missing)}; stored more than once: {len(twice)}; "
          f"stored but never acknowledged: {len(unacked_stored)}")
    print(f"deliberate duplicates sent: {stats.dup_sent}; answered 'duplicate': {stats.dup_ok}")
    first, last = samples[0][1], samples[-1][1]
    print(f"worker RSS MB first sample {first}, last {last}; samples: "
          + ", ".join(f"{t:.0f}s:{max(r) if r else 0}" for t, r in samples))
    growth = (max(last) / max(first) - 1.0) if first and last and max(first) else 0.0
    print(f"largest worker RSS growth over the measured minutes: {growth:+.1%} (limit {args.max_rss_growth:+.0%})")
    ok = (five == 0 and not missing and not twice and stats.dup_ok == stats.dup_sent
          and growth <= args.max_rss_growth)
    print("RESULT:", "PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
