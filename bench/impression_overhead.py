"""What impression logging costs the storefront: home's latency with it and without it, same machine.

Uses ``api_latency.py``'s data, server and load generator: this checkout (impressions logged,
buffered and written by each worker's housekeeping thread) and a checkout without the feature
(``--baseline-root``, e.g. ``git archive <rev> | tar -x -C /tmp/base``) serve the same database
on two ports, alternating round by round, open loop at ``--rate`` requests/s. Its own database
and Redis numbers, so it does not disturb another benchmark running beside it.

    python bench/impression_overhead.py --baseline-root /tmp/base --rate 100 --items 100000
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api_latency as al  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-root", required=True, help="a checkout without impression logging")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--rate", type=float, default=100.0, help="requests/s offered (open loop)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per endpoint and server")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--load-procs", type=int, default=1)
    parser.add_argument("--port", type=int, default=8801)
    parser.add_argument("--db", default="jewelrec_bench_h18")
    parser.add_argument("--redis-db", type=int, default=11, help="this and the next Redis database are used")
    parser.add_argument("--var-dir", default="/tmp/jewelrec-bench-impressions")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    var_dir = Path(args.var_dir)
    var_dir.mkdir(parents=True, exist_ok=True)
    env = al.bench_env(args.db, var_dir)
    env["CACHE_URL"] = f"redis://127.0.0.1:6379/{args.redis_db}"
    env["CELERY_BROKER_URL"] = f"redis://127.0.0.1:6379/{args.redis_db + 1}"
    subprocess.run(["redis-cli", "-n", str(args.redis_db), "FLUSHDB"], check=False, capture_output=True)
    secret = al.database_prepare(env, args.db, args.items, args.customers, args.seed)
    out = subprocess.run([sys.executable, al.__file__, "--register-model", "", "blend"], cwd=al.ROOT, env=env,
                         check=True, capture_output=True, text=True)
    print(out.stdout.strip(), flush=True)
    before = _impressions(env)
    args.baseline_root, args.model_artifact = str(Path(args.baseline_root).resolve()), ""
    r = al.run_config(env, secret, args, "gthread")
    written = _impressions(env) - before
    print(f"\ngthread -w {args.workers} --threads {args.threads}, open loop {args.rate:g} requests/s, "
          f"{args.duration:g} s per endpoint and server in {args.rounds} alternating rounds")
    print(f"{'server':22} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}  statuses")
    for name, label in (("home", "home, with impressions"), ("base home", "home, without"),
                        ("ping", "ping (this checkout)"), ("base ping", "ping (baseline)")):
        x = r[name]
        print(f"{label:22} {x['n']:9d} {x['rps']:8.1f} {x['p50']:8.2f} {x['p90']:8.2f} {x['p99']:8.2f}  {x['statuses']}")
    print(f"home p50 with - without impression logging: {r['home']['p50'] - r['base home']['p50']:+.2f} ms; "
          f"p99 {r['home']['p99'] - r['base home']['p99']:+.2f} ms; impressions written: {written} "
          f"(home answers of this checkout: {r['home']['n']} + warm-up)")


def _impressions(env) -> int:
    import psycopg

    with psycopg.connect(env["DATABASE_URL"]) as conn:
        try:
            return conn.execute("SELECT count(*) FROM recommender_impression").fetchone()[0]
        except psycopg.Error:
            return 0


if __name__ == "__main__":
    main()
