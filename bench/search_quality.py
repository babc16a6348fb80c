"""Search quality (precision@10 per query family) and search latency at a fixed request rate.

On the real H&M jewelry catalogue (2,171 items, imported into a SQLite database of its own
on first use, with the search encoder's text vectors), every query of
``bench/search_queries.json`` (built from the catalogue by ``bench/search_queries.py``)
runs through the storefront search service as an anonymous shopper, k=10. An item is
relevant when the catalogue's own type, colour group, name and description meet the
query's judgement spec. Queries with fewer than 10 relevant items a shopper can see are
left out (their count is printed). Beside it, a plain BM25 over names and descriptions
(the raw query's words, no understanding, ties by popularity) on the same queries and
items.

Latency: ``POST /api/v1/search`` open loop: requests are sent at ``--rate`` per second from
8 threads on a fixed schedule, each timed from its scheduled send, so queueing counts.
``--server gunicorn`` (default) serves this checkout with gunicorn (``--workers`` gthread
workers x 4 threads, warmed by ``gunicorn.conf.py``; SQLite, local-memory cache,
``DJANGO_DEBUG=0``) and sends over keep-alive HTTP connections; ``--server inprocess``
calls the Django/DRF stack in this process through Django's test client (set up as a web
worker is: one BLAS thread per request), where the load generator shares the GIL.

    python bench/search_quality.py                         # quality, then 30 s at 50 req/s
    python bench/search_quality.py --latency-seconds 0     # quality only
    python bench/search_quality.py --latency-mix names     # latency of free-text queries (product names)
    python bench/search_quality.py --failures 20           # also print the 20 worst queries
    git archive main | tar -x -C /tmp/base && python bench/search_quality.py --code-root /tmp/base --latency-seconds 0
                                                           # another revision's search on the same set
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _setup(db_path: Path, var_dir: Path) -> None:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jewelrec_site.settings.base")
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ["JEWELREC_VAR_DIR"] = str(var_dir)
    os.environ["JEWELREC_API_RATE"] = "100000000/min"  # measure serving, not the throttle's refusals
    os.environ["JEWELREC_BACKGROUND_REFRESH"] = "1"  # as in production: catalog checks off the request path
    os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    # As a web worker starts: one BLAS/torch thread per request (jewelrec_site/wsgi.py), then Django.
    import jewelrec_site.wsgi  # noqa: F401
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from recommender.catalog.importing.hm_sample import import_hm_sample
    from recommender.models import Item

    if not Item.objects.filter(is_jewelry=True).exists():
        print("importing the H&M sample (first run only) ...", flush=True)
        import_hm_sample()
    try:
        from recommender.embeddings.services import search_vectors_ensure
    except ImportError:  # an older revision (--code-root): run this revision once first
        return
    pks = list(Item.objects.filter(is_jewelry=True).order_by("id").values_list("id", flat=True))
    encoded = search_vectors_ensure(pks)
    if encoded:
        print(f"encoded {encoded} item texts for search", flush=True)


def _relevant(spec: dict, types, colours, texts) -> list[bool]:
    words = [re.compile(w) for w in spec["words"]]
    not_words = [re.compile(w) for w in spec["not_words"]]
    out = []
    for ptype, colour, text in zip(types, colours, texts):
        ok = ptype in spec["types"]
        ok = ok and (spec["colour_groups"] is None or colour in spec["colour_groups"])
        ok = ok and (spec["not_colour_groups"] is None or colour not in spec["not_colour_groups"])
        ok = ok and all(w.search(text) for w in words) and not any(w.search(text) for w in not_words)
        out.append(ok)
    return out


def _fmt(value: float) -> str:
    return "n/a" if value != value else f"{value:.3f}"


def quality(queries: list[dict], failures: int) -> dict:
    import numpy as np

    from recommender.models import Item
    from recommender.serving.catalog import serving_catalog
    from recommender.serving.customers import customer_context
    from recommender.serving.scenarios import Request, eligibility
    from recommender.serving.search import search_text

    catalog = serving_catalog()
    visible = eligibility(catalog, customer_context(None), exclude_purchased=False)
    fields = {e: (t, c) for e, t, c in Item.objects.filter(is_jewelry=True).values_list("external_id", "product_type", "colour")}
    types = [fields[e][0] for e in catalog.external_ids]
    colours = [fields[e][1] for e in catalog.external_ids]
    texts = [f"{t} {d or ''}".lower() for t, d in zip(catalog.titles, catalog.descriptions)]
    try:
        from recommender.ml.search.lexical import BM25Index

        bm25 = BM25Index(texts)
    except ImportError:  # an older revision without it: no baseline column
        bm25 = None
    popularity = catalog.popularity_score
    rows_by_id = catalog.row_of

    per: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    skipped = 0
    worst = []
    t0 = time.perf_counter()
    for q in queries:
        rel = np.array(_relevant(q["judge"], types, colours, texts)) & visible
        if rel.sum() < 10:
            skipped += 1
            continue
        result = search_text(q["query"], Request(k=10))
        got = [rows_by_id[i.id] for i in result.items]
        p_hybrid = float(sum(rel[r] for r in got)) / 10
        p_bm25 = float("nan")
        if bm25 is not None:
            scores = np.where(visible, bm25.scores(q["query"]), -np.inf)
            order = np.lexsort((-popularity, -scores))[:10]
            p_bm25 = float(rel[order].sum()) / 10
        per[(q["family"], q["lang"])].append((p_hybrid, p_bm25))
        worst.append((p_hybrid, q["query"], q["family"], result.extras.get("parsed")))
    elapsed = time.perf_counter() - t0
    n = sum(len(v) for v in per.values())
    print(f"\n{n} queries judged ({skipped} left out: fewer than 10 relevant visible items), "
          f"{len(catalog)} items, {int(visible.sum())} visible to an anonymous shopper; {elapsed:.1f} s\n")
    print("| family | language | queries | hybrid P@10 | BM25-only P@10 |")
    print("|---|---|---|---|---|")
    families = sorted({f for f, _ in per}, key=["colour_type", "style", "material", "negation", "mixed", "paraphrase", "held_out"].index)
    summary = {}
    for family in families:
        for lang in ("en", "zh", "mixed"):
            values = per.get((family, lang))
            if not values:
                continue
            h, b = statistics.mean(v[0] for v in values), statistics.mean(v[1] for v in values)
            summary[f"{family}/{lang}"] = (len(values), h, b)
            print(f"| {family} | {lang} | {len(values)} | {h:.3f} | {_fmt(b)} |")
    for lang in ("en", "zh", "mixed"):
        values = [v for (f, lg), vs in per.items() if lg == lang for v in vs]
        if values:
            print(f"| all | {lang} | {len(values)} | {statistics.mean(v[0] for v in values):.3f} | "
                  f"{_fmt(statistics.mean(v[1] for v in values))} |")
    values = [v for vs in per.values() for v in vs]
    print(f"| all | all | {len(values)} | {statistics.mean(v[0] for v in values):.3f} | "
          f"{_fmt(statistics.mean(v[1] for v in values))} |")
    if failures:
        print(f"\nthe {failures} worst queries (hybrid):")
        for p, query, family, parsed in sorted(worst, key=lambda w: w[0])[:failures]:
            brief = {k: v for k, v in (parsed or {}).items() if v and k not in ("truncated",)}
            print(f"  {p:.1f}  [{family}] {query!r}  {brief}")
    return summary


def _gunicorn(args, secret: str):
    """Start gunicorn on this checkout and the bench database; returns (process, call)."""
    import http.client

    from api_latency import request, server_start, wait_ready

    env = {**os.environ, "DJANGO_DEBUG": "0", "DJANGO_ALLOWED_HOSTS": "127.0.0.1"}
    log = Path(args.var_dir) / "gunicorn-search.log"
    proc = server_start(env, args.port, args.workers, "gthread", 4, log, root=Path.cwd())
    wait_ready(args.port, secret, timeout=300)
    local = threading.local()

    def call(text: str) -> tuple[int, bool]:
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
        try:
            status, body = request(local.conn, "/api/v1/search", secret, {"query": text, "k": 10})
        except (OSError, http.client.HTTPException):
            local.conn.close()
            del local.conn
            return -1, False
        return status, bool(status == 200 and json.loads(body)["parsed"].get("remaining_text"))

    return proc, call


def latency(queries: list[dict], args) -> None:
    from django.test import Client

    from recommender.serving.api_keys import api_key_create

    rate, seconds = args.rate, args.latency_seconds
    key = api_key_create(name="search-bench", scopes=["read"]).secret
    proc = None
    if args.server == "gunicorn":
        proc, call = _gunicorn(args, key)
    else:
        local = threading.local()

        def call(text: str) -> tuple[int, bool]:
            """Status, and whether the query left free text (which costs a sentence-encoder call)."""
            if not hasattr(local, "c"):
                local.c = Client(HTTP_AUTHORIZATION=f"Token {key}")
            response = local.c.post("/api/v1/search", {"query": text, "k": 10}, content_type="application/json")
            return response.status_code, bool(response.status_code == 200 and response.json()["parsed"].get("remaining_text"))
    texts = [q["query"] for q in queries]
    if args.latency_mix == "names":
        # Product names as typed by a shopper who saw one: mostly words no vocabulary knows,
        # each new one a sentence-encoder call (the worst case for the query vector cache).
        from recommender.models import Item

        names = sorted(set(Item.objects.filter(is_jewelry=True).values_list("title", flat=True)))
        texts = [names[(i * 7919) % len(names)] for i in range(len(names))]
    try:
        _open_loop(texts, call, rate, seconds, args.server)
    finally:
        if proc is not None:
            from api_latency import server_stop

            server_stop(proc)


def _open_loop(texts: list[str], call, rate: float, seconds: float, server: str) -> None:

    for text in texts[:100]:  # warm-up: connections, first-use paths
        call(text)
    total = int(rate * seconds)
    start = time.perf_counter() + 0.2
    lat: list[float] = []
    free_lat: list[float] = []
    statuses: dict[int, int] = defaultdict(int)
    lock = threading.Lock()
    counter = iter(range(total))

    def worker():
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            due = start + i / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            status, free = call(texts[(i * 7) % len(texts)])
            done = time.perf_counter()
            with lock:
                lat.append((done - due) * 1000)
                if free:
                    free_lat.append((done - due) * 1000)
                statuses[status] += 1

    load_before = os.getloadavg()
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    lat.sort()
    free_lat.sort()

    def pct(p, values=lat):
        return values[min(len(values) - 1, int(p / 100 * len(values)))]

    print(f"\nlatency, POST /api/v1/search ({server}), open loop {rate:g} req/s offered for {seconds:g} s: "
          f"{len(lat)} requests in {wall:.1f} s ({len(lat) / wall:.1f}/s), statuses {dict(statuses)}")
    print(f"p50 {pct(50):.1f} ms, p90 {pct(90):.1f} ms, p99 {pct(99):.1f} ms, max {lat[-1]:.1f} ms; "
          f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    if free_lat:
        print(f"the {len(free_lat)} requests whose query left free text for the encoder: p50 {pct(50, free_lat):.1f} ms, "
              f"p99 {pct(99, free_lat):.1f} ms, max {free_lat[-1]:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-path", default="/tmp/jewelrec-search-bench/bench.sqlite3")
    parser.add_argument("--var-dir", default="/tmp/jewelrec-search-bench/var")
    parser.add_argument("--queries", default=str(ROOT / "bench" / "search_queries.json"))
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument("--server", choices=["gunicorn", "inprocess"], default="gunicorn")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--latency-mix", choices=["queries", "names"], default="queries",
                        help="the labelled queries, or the catalogue's product names (free text: encoder calls)")
    parser.add_argument("--failures", type=int, default=0, help="print this many of the worst queries")
    parser.add_argument("--code-root", default=None, help="run the search of another checkout (e.g. `git archive` of main)")
    args = parser.parse_args()
    if args.code_root:
        code_root = Path(args.code_root).resolve()
        sys.path.insert(0, str(code_root))
        os.chdir(code_root)  # Celery's loader puts the working directory first on sys.path
    _setup(Path(args.db_path), Path(args.var_dir))
    queries = json.loads(Path(args.queries).read_text(encoding="utf-8"))["queries"]
    import platform

    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs, {platform.python_version()}; "
          f"{len(queries)} queries in {args.queries}", flush=True)
    quality(queries, args.failures)
    if args.latency_seconds > 0:
        latency(queries, args)


if __name__ == "__main__":
    main()
