"""In-process cost of a serving process at a catalogue size: memory per build step, then home and
similar timed without a profiler and profiled with one.

Runs against a bench database made by ``bench/serving_load.py`` (``--db``/``--items``/``--var-dir``
as there), so the numbers sit beside the HTTP ones: this one says where the time and memory go.

    python bench/serving_profile.py --db jewelrec_h17_1m --items 1000000 --var-dir /tmp/jr-grow
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import api_latency as al  # noqa: E402


def memory() -> str:
    """This process's resident memory: all, heap (anonymous) and mapped files, in MB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            fields[key] = int(value.split()[0]) // 1024
    return (f"RSS {fields['VmRSS']:,} MB (heap {fields['RssAnon']:,}, mapped files {fields['RssFile']:,}; "
            f"peak {fields['VmHWM']:,})")


def step(name: str, fn):
    started = time.perf_counter()
    value = fn()
    print(f"| {name} | {time.perf_counter() - started:.1f} | {memory()} |", flush=True)
    return value


def timed(name: str, fn, args: list, profile_top: int) -> None:
    for a in args[:50]:  # warm: each worker has served these shoppers and anchors before
        fn(a)
    times = []
    for a in args:
        started = time.perf_counter()
        fn(a)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    pct = lambda p: times[min(len(times) - 1, int(p / 100 * len(times)))]  # noqa: E731
    print(f"{name}: {len(times)} calls, p50 {pct(50):.2f} ms, p90 {pct(90):.2f} ms, p99 {pct(99):.2f} ms "
          f"(no profiler)", flush=True)
    if profile_top:
        profiler = cProfile.Profile()
        profiler.enable()
        for a in args:
            fn(a)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(profile_top)
        print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:6000], flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", required=True)
    p.add_argument("--items", type=int, required=True)
    p.add_argument("--customers", type=int, default=2_000)
    p.add_argument("--var-dir", default="/tmp/jewelrec-bench-serving")
    p.add_argument("--redis-db", type=int, default=7)
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--profile-top", type=int, default=12, help="functions listed per profile (0: no profile)")
    args = p.parse_args()
    os.environ.update(al.bench_env(args.db, Path(args.var_dir) / str(args.items)))
    os.environ["CACHE_URL"] = f"redis://127.0.0.1:6379/{args.redis_db}"
    import django

    django.setup()
    print(f"# {' '.join(sys.argv)}\n# machine: {os.cpu_count()} CPUs, load average {os.getloadavg()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    import jewelrec_site.wsgi  # noqa: F401 - a web worker's thread limits (one BLAS thread)
    from recommender.serving import scenarios, search
    from recommender.serving.catalog import serving_catalog
    from recommender.serving.errors import NotFoundError

    print("| step | s | memory after |\n|---|---:|---|")
    catalog = step("catalog snapshot (index and vectors mapped)", serving_catalog)
    step("search: text vectors", lambda: search._text_matrix(catalog))
    step("search: BM25 and term masks", lambda: search._search_index(catalog, search.search_vocabulary()))
    step("search: vocabulary vectors", lambda: search._concept_vectors(search.search_vocabulary()))
    # The requests of bench/serving_load.py: 400 shoppers and 400 anchors, cycled.
    rng = random.Random("home")
    shoppers = [f"cust-{rng.randrange(args.customers)}" for _ in range(400)]
    rng = random.Random("similar")
    [rng.randrange(args.customers) for _ in range(400)]  # (serving_load draws shoppers first)
    anchors = [f"B{rng.randrange(args.items):07d}" for _ in range(400)]
    n = args.requests

    def similar(item_id: str) -> None:
        try:
            scenarios.recommend_similar(item_id, scenarios.Request(k=10))
        except NotFoundError:  # a member-only anchor, unknown to an anonymous shopper
            pass

    timed("home", lambda c: scenarios.recommend_home(scenarios.Request(customer_id=c, k=10)),
          [shoppers[i % 400] for i in range(n)], args.profile_top)
    timed("similar", similar, [anchors[i % 400] for i in range(n)], args.profile_top)
    print(f"# after the requests: {memory()}")


if __name__ == "__main__":
    main()
